"""The result tables of benchmarks/alignment_table.py, bc_table.py, policy_table.py and camera_table.py, written
from run folders whose numbers are known."""
import argparse
import json
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import alignment_table  # noqa: E402
import bc_table  # noqa: E402
import camera_table  # noqa: E402
import policy_table  # noqa: E402


def write_json(path: str, content: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(content, f)


def alignment_run(root, method: str, seed: int, unseen: float) -> None:
    scores = {"seen/alignment_error": unseen / 2, "unseen/alignment_error": unseen}
    write_json(str(root / "pick" / method / f"seed{seed}" / "metrics.json"),
               {"test": scores, "references": {"random_init": {"unseen/alignment_error": 0.33},
                                               "raw_pixels": {"unseen/alignment_error": 0.30}}})


def row(text: str, label: str) -> list:
    line = next(line for line in text.splitlines() if f"| {label} |" in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_alignment_table_averages_seeds_and_compares_methods_on_the_seeds_both_have(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["alignment_table.py", "--table-only"])
    alignment_run(tmp_path, "baseline", 0, 0.20)
    alignment_run(tmp_path, "baseline", 1, 0.30)
    alignment_run(tmp_path, "paab", 0, 0.10)
    write_json(str(tmp_path / "pick" / "paat" / "seed0" / "metrics.json"), {"history": []})  # unfinished: no test
    args = argparse.Namespace(runs=str(tmp_path), envs=["pick"], methods=alignment_table.METHODS,
                              table_only=True)
    text = alignment_table.table(args)
    baseline, paab, paat = row(text, "baseline"), row(text, "paab"), row(text, "paat")
    assert baseline[2] == "2" and baseline[4] == "0.250 ± 0.050"
    assert paab[2] == "1" and paab[4] == "0.100" and paab[-1] == "-50% (1)"  # against baseline seed 0 only
    assert paat[2] == "0" and paat[4] == "–"
    assert row(text, "*reference: raw pixels*")[4] == "0.300 ± 0.000"
    # --table-only rewrites the table without recording itself among the launching commands
    assert not (tmp_path / "command.txt").exists()


def test_bc_table_reports_success_per_camera_over_seeds(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bc_table.py", "--table-only"])
    for seed, rate in ((0, 0.5), (1, 1.0)):
        write_json(str(tmp_path / "lift" / "baseline" / f"seed{seed}" / "rollouts.json"),
                   {"rollouts": {"cam0": {"success_rate": rate}, "held0": {"success_rate": 0.0}}})
    args = argparse.Namespace(runs=str(tmp_path), env="lift", rows=bc_table.ROWS, episodes=10, image_size=64,
                              bc_epochs=1, bc_steps=1, bc_batch=1, rollouts=2, table_only=True,
                              train_views=["cam0", "cam1"])
    assert "policies trained on cam0 + cam1 (drawn per demo from the training sector)" in bc_table.table(args)
    cells = row(bc_table.table(args), "baseline")
    assert cells[2:] == ["2", "75% ± 25", "0% ± 0", "–", "–"]
    assert row(bc_table.table(args), "state")[2] == "0"


def test_policy_table_keeps_finished_runs_through_their_record_and_names_another_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["policy_table.py", "--table-only"])
    args = argparse.Namespace(runs=str(tmp_path / "runs"), record=str(tmp_path / "record"), env="lift",
                              episodes=10, image_size=84, image_epochs=2, image_steps=3, state_epochs=4,
                              state_steps=5, val_rollouts=2, val_every_image=1, val_every_state=2, horizon=9,
                              rollouts=4, table_only=True)
    for seed, rate in ((0, 1.0), (1, 0.5)):
        run = tmp_path / "runs" / "lift" / "state" / f"seed{seed}"
        write_json(str(run / "rollouts.json"), {"rollouts": {"cam0": {"success_rate": rate}}, "kept_epoch": 3,
                                                "train": {"epoch": 4, "best": {"success_rate": 1.0}},
                                                "wall_seconds": {"train": 60, "test_rollouts": 60},
                                                **({"threads": 1} if seed == 0 else {})})  # seed 1: an older run
        write_json(str(run / "training.json"), {})
        (run / "config.yaml").write_text("data: data.hdf5\nbc: {epochs: 4, steps_per_epoch: 5}\n"
                                         "validation: {every: 2, rollouts: 2}\n"
                                         "horizon: 9\nrollouts: 4\n")
        policy_table.record(args, "state", seed)
    os.rename(tmp_path / "runs", tmp_path / "gone")  # a fresh clone: runs/ is not there, the record is
    cells = row(policy_table.table(args), "state")
    assert cells[2:7] == ["2", "75% ± 25", "100 / 50", "4", "3 / 3"] and cells[-1] == "2"
    policy_table.run(args, "data.hdf5", "state", 0)  # finished: skipped, nothing launched
    # a Can run joins the same table, whichever --env the table is written for
    write_json(str(tmp_path / "record" / "can" / "state" / "seed0" / "rollouts.json"),
               {"rollouts": {"cam0": {"success_rate": 0.25}}, "kept_epoch": 2,
                "train": {"epoch": 4, "best": {"success_rate": 0.5}}})
    for env in ("lift", "can"):
        args.env = env
        text = policy_table.table(args)
        assert [line.split("|")[1].strip() for line in text.splitlines() if "| state |" in line] == [env, *({"lift", "can"} - {env})]
        assert next(line for line in text.splitlines() if line.startswith("| can | state |")).split("|")[4].strip() == "25% ± 0"
        assert "reproducible only at the same count): 1 run with 1; not recorded for 2 (before" in text
    args.env = "lift"
    args.horizon = 400
    with pytest.raises(ValueError, match="another budget \\(horizon: 9 there, 400 here\\)"):
        policy_table.run(args, "data.hdf5", "state", 0)


def camera_table_args(tmp_path, **changes) -> argparse.Namespace:
    values = dict(runs=str(tmp_path / "runs"), record=str(tmp_path / "record"), encoders=str(tmp_path / "encoders"),
                  env="lift", episodes=10, image_size=84, bins=["train", "beyond30", "elev+15"],
                  image_epochs=2, image_steps=3, state_epochs=None, state_steps=None, val_every_state=None,
                  val_rollouts=2, val_every_image=1, horizon=9, rollouts=4, threads=1, rollout_workers=1, table_only=True,
                  plot=str(tmp_path / "angle.png"), results=str(tmp_path / "RESULTS.md"), fixed_from="",
                  out=str(tmp_path / "camera_table.md"), marker="camera_table")
    values.update(changes)
    return argparse.Namespace(**values)


def test_camera_table_reports_success_per_bin_over_seeds_the_wrist_row_in_every_bin(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["camera_table.py", "--table-only"])
    args = camera_table_args(tmp_path)
    for seed, near, far in ((0, 1.0, 0.0), (1, 0.5, 0.5)):
        write_json(str(tmp_path / "runs" / "lift" / "fixed_resnet18" / f"seed{seed}" / "rollouts.json"),
                   {"rollouts": {"train": {"success_rate": near}, "beyond30": {"success_rate": far}}})
    write_json(str(tmp_path / "runs" / "lift" / "wrist_resnet18" / "seed0" / "rollouts.json"),
               {"rollouts": {"first_person": {"success_rate": 0.75}}})
    write_json(str(tmp_path / "record" / "can" / "fixed_resnet18" / "seed0" / "rollouts.json"),
               {"rollouts": {"train": {"success_rate": 0.5}}})
    for seed, bins in ((0, ["train", "beyond30", "elev+15"]), (1, ["train"])):  # a second seed scored in one bin so far
        write_json(str(tmp_path / "runs" / "lift" / "random_resnet18" / f"seed{seed}" / "rollouts.json"),
                   {"rollouts": {b: {"success_rate": 0.5} for b in bins}})
    text = camera_table.table(args)
    # the columns are the bins any run was scored in, in their order, whatever this call's --bins scores
    # and the goal's angle shown also as the share of each seed's training-sector success kept there
    assert "| env | row | n | train | beyond30 | elev+15 | kept beyond30 |" in text.splitlines()
    assert camera_table.table(camera_table_args(tmp_path, bins=["beyond60"])) == text
    assert row(text, "random_resnet18")[2:] == ["1–2", "50 ± 0", "50 ± 0", "50 ± 0", "100 ± 0"]
    assert row(text, "fixed_resnet18")[:2] == ["lift", "fixed_resnet18"]  # the lift row comes first
    assert [line for line in text.splitlines() if line.startswith("| can |")] == [
        "| can | fixed_resnet18 | 1 | 50 ± 0 | – | – | – |"]
    assert row(text, "fixed_resnet18")[2:] == ["2", "75 ± 25", "25 ± 25", "–", "50 ± 50"]  # 0 of 100, 50 of 50
    assert row(text, "wrist_resnet18")[2:] == ["1", "75 ± 0", "75 ± 0", "75 ± 0", "100 ± 0"]
    assert os.path.getsize(tmp_path / "angle.png") > 1000 and "angle.png" in text
    drawn = []  # one panel per way of training, the wrist row the reference in both
    monkeypatch.setattr(camera_table, "plot_success_by_angle", lambda *a, **kw: drawn.append(kw["panels"]))
    camera_table.table(args)
    assert drawn == [{camera_table.KINDS["fixed"]: ["lift fixed_resnet18 (n=2)", "lift wrist_resnet18 (n=1)",
                                                    "can fixed_resnet18 (n=1)"],
                      camera_table.KINDS["random"]: ["lift random_resnet18 (n=1–2)", "lift wrist_resnet18 (n=1)"]}]
    # a table that would drop committed runs not on this machine is not written, nor is its plot drawn over theirs
    (tmp_path / "camera_table.md").write_text("| lift | fixed_paat_conv_both | 3 | 87 ± 14 |\n")
    (tmp_path / "angle.png").write_bytes(b"committed")
    assert "angle.png" in camera_table.table(args)
    assert (tmp_path / "angle.png").read_bytes() == b"committed"


def test_camera_table_runs_train_on_the_randomised_views_and_test_in_every_bin(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr(alignment_table.subprocess, "run", lambda cmd, **kw: launched.append(cmd))
    monkeypatch.setattr(policy_table, "record", lambda *a: None)
    args = camera_table_args(tmp_path, table_only=False)
    os.makedirs(args.runs)
    data = {"fixed": "fixed.hdf5", "random4": "random.hdf5", "random2": "random2.hdf5"}
    camera_table.run(args, data, "random_paat_ft_paatcam", 1)
    train_encoder, train_detector, policy = launched
    assert "alignment_table.py" in train_encoder[1] and "paat" in train_encoder
    assert "alignment_table.py" in train_detector[1] and "paat_detector" in train_detector
    encoder = os.path.join(args.encoders, "lift", "paat", "seed1", "checkpoints", "best.pt")
    detector = os.path.join(args.encoders, "lift", "paat_detector", "seed1", "checkpoints", "best.pt")
    for expected in ("data=random.hdf5", "train_views=[cam0,cam1,cam2,cam3]", "eval_views=[train,beyond30,elev+15]",
                     f"init={encoder}", f"keypoint_detector={detector}", "camera_input=paat", "seed=1"):
        assert expected in policy, expected
    camera_table.run(args, data, "wrist_resnet18", 0)
    assert "data=fixed.hdf5" in launched[-1] and "eval_views=[first_person]" in launched[-1]
    assert not [o for o in launched[-1] if o.startswith("train_views")]
    camera_table.run(args, data, "wrist_baseline_conv", 0)  # the both-camera DeiT's training, the wrist camera alone
    for expected in ("data=fixed.hdf5", "cameras=[first_person]", "encoder.stem=conv", "eval_views=[first_person]"):
        assert expected in launched[-1], expected
    args.rollout_workers = 3  # its bins rolled out side by side
    camera_table.run(args, data, "random_paat_conv_both", 0)  # third-person + wrist, the third-person randomised
    for expected in ("data=random.hdf5", "cameras=[cam0,first_person]", "train_views=[cam0,cam1,cam2,cam3]",
                     "encoder.stem=conv", "eval_views=[train,beyond30,elev+15]", "rollout_workers=3"):
        assert expected in launched[-1], expected
    # the cameras-per-demo measurement: the same training on demos seen from k = 2 cameras each
    args.rollout_workers = 1
    camera_table.run(args, data, "random_baseline_conv_both_k2", 0)
    assert "data=random2.hdf5" in launched[-1] and "train_views=[cam0,cam1]" in launched[-1]
    rendered = []
    monkeypatch.setattr(alignment_table.subprocess, "run", lambda cmd, **kw: rendered.append(cmd))
    args.data = str(tmp_path)
    # one re-rendered file for each k the rows ask for (the both-camera rows with the wrist camera)
    found = camera_table.demos(args, ["fixed_resnet18", "random_paat_conv_both", "random_baseline_conv_both_k2",
                                      "random_baseline_conv_both_own_draws"])
    assert sorted(found) == ["fixed", "random2", "random4", "random4_own"]
    assert found["random2"] == str(tmp_path / "lift_policy84_sector2.hdf5")
    assert found["random4"] == str(tmp_path / "lift_policy84_sector4.hdf5")
    assert found["random4_own"] == str(tmp_path / "lift_policy84_sector4_own.hdf5")
    generated, *rerendered = rendered
    assert "envs.generate" in generated and f"out={found['fixed']}" in generated
    assert "rig.draws=scene" in generated  # the demos the table's recorded rows were measured on
    assert [[o for o in cmd if o.startswith(("num_views=", "rig.draws="))] for cmd in rerendered] == [
        ["num_views=2"], ["num_views=4"], ["num_views=4", "rig.draws=own"]]
    assert all("first_person=true" in cmd and f"input={found['fixed']}" in cmd for cmd in rerendered)
    # the row trains on its own file, as the 4-camera rows are trained
    camera_table.run(args, found, "random_baseline_conv_both_own_draws", 0)
    assert f"data={found['random4_own']}" in rendered[-1] and "train_views=[cam0,cam1,cam2,cam3]" in rendered[-1]


def finished_policy_table_run(tmp_path, row: str, seed: int, rollouts: dict, config: str, data: str = "fixed.hdf5"):
    """A policy table's finished run (its summary and a policy file, trained on ``data``) for camera_table to
    score, and the table's args pointing at it."""
    source = tmp_path / "policy_table" / "lift" / row / f"seed{seed}"
    write_json(str(source / "rollouts.json"), rollouts)
    write_json(str(source / "training.json"), {"epoch": 50})
    (source / "policy.pt").write_bytes(b"weights")
    (source / "config.yaml").write_text(f"data: {data}\n{config}")
    args = camera_table_args(tmp_path, table_only=False, fixed_from=str(tmp_path / "policy_table"))
    os.makedirs(args.runs)
    return source, args


def fake_evaluations(monkeypatch, rate: float) -> list:
    """alignment.evaluate_policy as it writes its out file, each bin it is asked for at ``rate``."""
    launched = []

    def evaluate(cmd, **kw):
        launched.append(cmd)
        out = next(o.split("=", 1)[1] for o in cmd if o.startswith("out="))
        views = next(o for o in cmd if o.startswith("eval_views=")).split("=", 1)[1].strip("[]").split(",")
        write_json(out, {"rollouts": {b: {"success_rate": rate} for b in views}})

    monkeypatch.setattr(alignment_table.subprocess, "run", evaluate)
    return launched


def test_camera_table_gives_the_pose_aware_margin_over_the_same_row_on_the_seeds_both_have(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["camera_table.py", "--table-only"])
    args = camera_table_args(tmp_path, bins=["train", "beyond30", "beyond60"])

    def scored(row, seed, near, far):
        write_json(str(tmp_path / "runs" / "lift" / row / f"seed{seed}" / "rollouts.json"),
                   {"rollouts": {"train": {"success_rate": 0.9}, "beyond30": {"success_rate": near},
                                 "beyond60": {"success_rate": far}}})

    # PAAT 20 points over the baseline at 30 degrees, the spreads apart; at 60 degrees 20 over, the spreads overlapping
    for seed, (near, far, base_near, base_far) in enumerate(((0.7, 0.6, 0.5, 0.2), (0.8, 0.2, 0.6, 0.4),
                                                              (0.75, 0.7, 0.55, 0.3))):
        scored("random_paat_conv_both", seed, near, far)
        scored("random_baseline_conv_both", seed, base_near, base_far)
        # PAAT with the camera from the arm, against the row with neither: 20 and 50 points over and apart, over
        # the goal's 3 seeds; the camera from the arm alone 20 and 30 points under
        scored("random_paat_conv_both_arm", seed, near, far + 0.3)
        scored("random_baseline_conv_both_arm", seed, base_near - 0.2, 0.0)
        # PAAB with the camera input 20 points over, but scored at 30 degrees only: the goal's 60 is not known
        write_json(str(tmp_path / "runs" / "lift" / "random_paab_conv_both_arm" / f"seed{seed}" / "rollouts.json"),
                   {"rollouts": {"train": {"success_rate": 0.9}, "beyond30": {"success_rate": near}}})
    scored("random_paab_conv_both", 5, 0.9, 0.9)  # no seed in common with its baseline: no margin
    for seed in range(3):  # on Can, PAAT 10 points over at every seed: apart, but short of the goal's 15
        for run, rate in (("random_paat_conv_both", 0.6), ("random_baseline_conv_both", 0.5)):
            write_json(str(tmp_path / "runs" / "can" / run / f"seed{seed}" / "rollouts.json"),
                       {"rollouts": {b: {"success_rate": rate} for b in ("train", "beyond30", "beyond60")}})
    # the fixed PAAT 40 points over on the one seed both have (its seed 1 unpaired): one seed has no spread
    scored("fixed_paat_conv_both", 0, 0.8, 0.8)
    scored("fixed_paat_conv_both", 1, 0.0, 0.0)
    scored("fixed_baseline_conv_both", 0, 0.4, 0.4)

    def margin_rows(text, env="lift"):  # pose-aware row -> the rest of its margin table row
        return {cells[1].strip(): [c.strip() for c in cells[2:]] for cells in
                (line.strip("|").split("|") for line in text.splitlines())
                if len(cells) > 3 and "baseline" in cells[2] and cells[0].strip() == env}

    lines = camera_table.table(args).splitlines()
    assert "| env | pose-aware row | without | seeds | beyond30 | beyond60 | goal |" in lines
    margins = margin_rows("\n".join(lines))
    assert margins["random_paat_conv_both"] == ["random_baseline_conv_both", "3", "20 ± 0 apart", "20 ± 28", "no"]
    assert margins["random_paat_conv_both_arm"] == ["random_baseline_conv_both", "3", "20 ± 0 apart",
                                                    "50 ± 28 apart", "yes"]
    assert margins["random_baseline_conv_both_arm"] == ["random_baseline_conv_both", "3", "-20 ± 0", "-30 ± 8", "no"]
    assert margins["fixed_paat_conv_both"] == ["fixed_baseline_conv_both", "1", "40 ± 0", "40 ± 0", "no"]
    assert margins["random_paab_conv_both_arm"] == ["random_baseline_conv_both", "3", "20 ± 0 apart", "–", "no"]
    assert "random_paab_conv_both" not in margins
    assert margin_rows("\n".join(lines), "can")["random_paat_conv_both"][1:] == ["3", "10 ± 0 apart", "10 ± 0 apart",
                                                                                 "no"]
    shutil.rmtree(tmp_path / "runs" / "lift" / "random_paat_conv_both_arm" / "seed2")  # two seeds: short of 3
    assert margin_rows(camera_table.table(args))["random_paat_conv_both_arm"][1:] == ["2", "20 ± 0 apart",
                                                                                       "40 ± 30 apart", "no"]
    for row_name, without in (("random_paab_conv_both_arm", "random_baseline_conv_both"),
                              ("random_paat_detector_conv_both_arm_camera_frame", "random_baseline_conv_both"),
                              ("random_baseline_conv_both_arm_camera_frame", "random_baseline_conv_both"),
                              ("random_paat_ft_paatcam", "random_baseline_ft"),
                              ("random_resnet18_arm", "random_resnet18"),
                              ("fixed_paat_conv_both", "fixed_baseline_conv_both"),
                              ("random_resnet18_extrinsics", None),  # the true camera: not found from the pose
                              ("fixed_resnet18_both", None), ("random_baseline_conv_both", None)):
        assert camera_table.without_pose_awareness(row_name) == without, row_name
    # the main table still counts each row's seeds (the margin table's third cell is a row, not a count)
    assert row("\n".join(lines), "random_paat_conv_both")[2] == "3"


def test_camera_tables_fixed_row_scores_the_policy_tables_finished_run_instead_of_training_it(tmp_path, monkeypatch):
    source, args = finished_policy_table_run(
        tmp_path, "resnet18", 0, {"rollouts": {"cam0": {"success_rate": 1.0}}, "kept_epoch": 40},
        "bc: {epochs: 2, steps_per_epoch: 3}\nvalidation: {every: 1, rollouts: 2}\nhorizon: 400\nrollouts: 50\n")
    launched = fake_evaluations(monkeypatch, 0.5)
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    assert launched[0][2] == "alignment.evaluate_policy" and f"run_dir={source}" in launched[0]
    assert "rollouts=4" in launched[0] and "horizon=9" in launched[0] and "rollout_workers=1" in launched[0]
    cells = row(camera_table.table(args), "fixed_resnet18")
    assert cells[2:] == ["1", "50 ± 0", "50 ± 0", "50 ± 0", "100 ± 0"]
    recorded = json.load(open(tmp_path / "record" / "lift" / "fixed_resnet18" / "seed0" / "rollouts.json"))
    assert recorded["kept_epoch"] == 40 and recorded["evaluated_from"] == str(source)
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)  # finished: nothing launched again
    assert len(launched) == 1


def test_a_both_camera_fixed_row_takes_its_train_bin_from_the_runs_own_test_rollouts(tmp_path, monkeypatch):
    # tested with the table's rollouts and horizon: the train bin (a fixed rig's one camera) is that test
    source, args = finished_policy_table_run(
        tmp_path, "paat_conv_both", 2, {"rollouts": {"cam0": {"success_rate": 0.75, "episodes": 4}}},
        "cameras: [cam0, first_person]\nhorizon: 9\nrollouts: 4\nbc: {epochs: 80, steps_per_epoch: 3}\n"
        "validation: {every: 20, rollouts: 2}\n")
    launched = fake_evaluations(monkeypatch, 0.25)
    args.bins = ["elev+15", "train"]  # the bins a first session asks for
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_paat_conv_both", 2)
    (cmd,) = launched
    assert f"run_dir={source}" in cmd and "eval_views=[elev+15]" in cmd
    recorded = json.load(open(tmp_path / "record" / "lift" / "fixed_paat_conv_both" / "seed2" / "rollouts.json"))
    assert recorded["rollouts"]["train"]["success_rate"] == 0.75 and "cam0" in recorded["rollouts"]["train"]["same_as"]
    args.bins = ["train", "beyond30", "elev+15"]  # a later session adds a bin: only it is rolled out
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_paat_conv_both", 2)
    assert len(launched) == 2 and "eval_views=[beyond30]" in launched[1]
    recorded = json.load(open(tmp_path / "record" / "lift" / "fixed_paat_conv_both" / "seed2" / "rollouts.json"))
    assert list(recorded["rollouts"]) == ["train", "beyond30", "elev+15"]
    assert row(camera_table.table(args), "fixed_paat_conv_both")[2:] == ["1", "75 ± 0", "25 ± 0", "25 ± 0", "33 ± 0"]
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_paat_conv_both", 2)  # every bin scored: nothing runs
    assert len(launched) == 2
    assert camera_table.ROWS["fixed_paat_conv_both"][1] == policy_table.ROWS["paat_conv_both"]  # trained alike


def test_a_finished_randomised_run_is_scored_in_the_bins_it_lacks_and_keeps_the_rest(tmp_path, monkeypatch):
    args = camera_table_args(tmp_path, table_only=False)
    run = tmp_path / "runs" / "lift" / "random_paat_conv_both" / "seed1"
    write_json(str(run / "rollouts.json"), {"rollouts": {"train": {"success_rate": 0.5}}, "kept_epoch": 60})
    write_json(str(run / "training.json"), {"epoch": 80})
    (run / "policy.pt").write_bytes(b"weights")
    config = ("data: random.hdf5\nhorizon: 9\nrollouts: 4\nbc: {epochs: 80, steps_per_epoch: 3}\n"
              "validation: {every: 20, rollouts: 2}\neval_views: [train]\n")
    (run / "config.yaml").write_text(config)
    launched = fake_evaluations(monkeypatch, 0.25)
    camera_table.run(args, {"random4": "random.hdf5"}, "random_paat_conv_both", 1)
    (cmd,) = launched
    assert cmd[2] == "alignment.evaluate_policy" and f"run_dir={run}" in cmd and "eval_views=[beyond30,elev+15]" in cmd
    saved = json.load(open(run / "rollouts.json"))
    assert saved["rollouts"]["train"]["success_rate"] == 0.5 and saved["kept_epoch"] == 60  # its own test kept
    assert list(saved["rollouts"]) == ["train", "beyond30", "elev+15"] and "evaluated_from" not in saved
    assert (run / "config.yaml").read_text() == config  # the run's own record of its training is left alone
    assert row(camera_table.table(args), "random_paat_conv_both")[2:] == ["1", "50 ± 0", "25 ± 0", "25 ± 0", "50 ± 0"]
    camera_table.run(args, {"random4": "random.hdf5"}, "random_paat_conv_both", 1)  # every bin: nothing runs
    assert len(launched) == 1


def test_a_bin_an_earlier_evaluation_left_unfinished_is_neither_recorded_nor_taken_as_scored(tmp_path, monkeypatch):
    source, args = finished_policy_table_run(
        tmp_path, "resnet18", 0, {"rollouts": {"cam0": {"success_rate": 1.0}}, "kept_epoch": 40},
        "bc: {epochs: 2, steps_per_epoch: 3}\nvalidation: {every: 1, rollouts: 2}\nhorizon: 400\nrollouts: 50\n")
    evaluation = tmp_path / "runs" / "lift" / "fixed_resnet18" / "seed0" / "evaluation.json"
    partial = {"partial": {"seeds": [1], "successes": [True]}}

    def evaluate(cmd, **kw):  # as evaluate_policy, whose out file still holds a bin killed in an earlier call
        launched.append(cmd)
        views = next(o for o in cmd if o.startswith("eval_views=")).split("=", 1)[1].strip("[]").split(",")
        write_json(str(evaluation), {"rollouts": {"beyond30": partial, **{b: {"success_rate": 0.5} for b in views}}})

    launched = []
    monkeypatch.setattr(alignment_table.subprocess, "run", evaluate)
    args.bins = ["train", "elev+15"]
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    recorded = json.load(open(tmp_path / "record" / "lift" / "fixed_resnet18" / "seed0" / "rollouts.json"))
    assert list(recorded["rollouts"]) == ["train", "elev+15"]
    args.bins = ["train", "beyond30", "elev+15"]
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)  # so a later session scores it
    assert "eval_views=[beyond30]" in launched[-1]


def test_a_policy_tables_run_of_another_budget_is_refused_before_it_is_scored(tmp_path, monkeypatch):
    source, args = finished_policy_table_run(
        tmp_path, "resnet18", 0, {"rollouts": {"cam0": {"success_rate": 1.0}}, "kept_epoch": 40},
        "bc: {epochs: 7, steps_per_epoch: 3}\nvalidation: {every: 1, rollouts: 2}\nhorizon: 400\nrollouts: 50\n")
    launched = fake_evaluations(monkeypatch, 0.5)
    with pytest.raises(ValueError, match="another budget \\(bc.epochs: 7 there, 2 here\\)"):
        camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    # the same budget, trained on other demos (the table now run with another --image-size names another file)
    (source / "config.yaml").write_text("data: fixed.hdf5\nbc: {epochs: 2, steps_per_epoch: 3}\n"
                                        "validation: {every: 1, rollouts: 2}\nhorizon: 400\nrollouts: 50\n")
    with pytest.raises(ValueError, match="another budget \\(data: fixed.hdf5 there, lift_policy64.hdf5 here\\)"):
        camera_table.run(args, {"fixed": "lift_policy64.hdf5"}, "fixed_resnet18", 0)
    assert not launched and not os.path.exists(tmp_path / "record" / "lift" / "fixed_resnet18")


def test_bins_of_another_policy_are_not_merged_into_a_rows_record(tmp_path, monkeypatch):
    source, args = finished_policy_table_run(
        tmp_path, "resnet18", 0, {"rollouts": {"cam0": {"success_rate": 1.0}}, "kept_epoch": 40},
        "bc: {epochs: 2, steps_per_epoch: 3}\nvalidation: {every: 1, rollouts: 2}\nhorizon: 400\nrollouts: 50\n")
    launched = fake_evaluations(monkeypatch, 0.5)
    args.bins = ["train"]
    camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    (source / "policy.pt").write_bytes(b"weights trained again")  # the policy table's run trained again
    args.bins = ["train", "beyond30"]
    with pytest.raises(ValueError, match="another policy \\(policy_sha256"):
        camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    # a policy trained here (camera_table --fixed-from '') is scored as itself, not beside the policy table's
    own = tmp_path / "runs" / "lift" / "fixed_resnet18" / "seed0"
    (own / "policy.pt").write_bytes(b"weights trained here")
    with pytest.raises(ValueError, match="another policy \\(.*evaluated_from: .*policy_table.* there, None now"):
        camera_table.run(args, {"fixed": "fixed.hdf5"}, "fixed_resnet18", 0)
    assert len(launched) == 1


def test_a_row_that_sets_its_own_training_length_is_run_and_checked_with_it(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr(alignment_table.subprocess, "run", lambda cmd, **kw: launched.append(cmd))
    monkeypatch.setattr(policy_table, "record", lambda *a: None)
    monkeypatch.setattr(policy_table, "encoder_checkpoint", lambda args, method, seed: "enc.pt")
    args = camera_table_args(tmp_path, table_only=False)
    os.makedirs(args.runs)
    policy_table.run(args, "data.hdf5", "paat_ft_150", 0)
    (policy,) = launched
    epochs = [o for o in policy if o.startswith(("bc.epochs=", "validation.every="))]
    assert epochs == ["bc.epochs=150", "validation.every=25"]  # the row's, once (Hydra refuses a key twice)
    assert "bc.steps_per_epoch=3" in policy and "init=enc.pt" in policy  # the table's budget otherwise
    run = tmp_path / "runs" / "lift" / "paat_ft_150" / "seed0"
    write_json(str(run / "rollouts.json"), {"rollouts": {"cam0": {"success_rate": 0.5}}})
    (run / "config.yaml").write_text("data: data.hdf5\nbc: {epochs: 150, steps_per_epoch: 3}\n"
                                     "validation: {every: 25, rollouts: 2}\n"
                                     "horizon: 9\nrollouts: 4\n")
    policy_table.run(args, "data.hdf5", "paat_ft_150", 0)  # finished with its own length: kept, nothing launched
    assert len(launched) == 1


def test_runs_of_a_grid_each_log_beside_their_run_directory_not_into_one_shared_file(tmp_path, monkeypatch):
    """Grids launched side by side once interleaved their runs' output in one runs/.../policy.log."""
    def speak(cmd, stdout, **kw):  # the run's own output, as a child process writes it
        stdout.write("output of " + next(o for o in cmd if o.startswith("run_dir=")) + "\n")

    monkeypatch.setattr(alignment_table.subprocess, "run", speak)
    monkeypatch.setattr(policy_table, "record", lambda *a: None)
    args = camera_table_args(tmp_path, table_only=False)
    for row in ("resnet18", "state"):
        policy_table.run(args, "data.hdf5", row, 0)
    for row in ("resnet18", "state"):
        lines = (tmp_path / "runs" / "lift" / row / "seed0.log").read_text().splitlines()
        assert len(lines) == 2 and f"run_dir={policy_table.run_dir(args, row, 0)}" in lines[0].split()
        assert lines[1] == f"output of run_dir={policy_table.run_dir(args, row, 0)}"
    assert not (tmp_path / "runs" / "policy.log").exists()


def test_every_row_that_initialises_from_an_alignment_encoder_names_which_one():
    for name, overrides in policy_table.ROWS.items():
        method = policy_table.encoder_method(name, overrides)
        assert (method is not None) == any("ENCODER" in o for o in overrides), name
        if method is not None:
            assert method in alignment_table.METHODS, name
    assert policy_table.encoder_method("paat_ft", ["backbone=paat", "init=ENCODER"]) == "paat"
    with pytest.raises(ValueError, match="needs a DeiT backbone"):
        policy_table.encoder_method("r_ft", ["backbone=resnet18", "init=ENCODER"])


def test_a_grids_commands_are_kept_with_its_committed_records_so_a_fresh_clone_still_names_them(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["policy_table.py", "--rows", "state", "--seeds", "0"])
    args = camera_table_args(tmp_path, table_only=False)
    policy_table.table(args)  # as written after each run
    os.makedirs(tmp_path / "runs", exist_ok=True)
    os.rename(tmp_path / "runs", tmp_path / "gone")  # a fresh clone: runs/ is not there, the records are
    monkeypatch.setattr(sys, "argv", ["policy_table.py", "--table-only"])
    first = policy_table.table(camera_table_args(tmp_path, table_only=True)).splitlines()[0]
    assert first == "Command: `python benchmarks/policy_table.py --rows state --seeds 0`  "


def test_a_table_with_fewer_runs_than_the_committed_one_does_not_replace_it(tmp_path, capsys):
    """A fresh clone rebuilds a grid's table from the few runs it has: the committed table must survive."""
    results, out = tmp_path / "RESULTS.md", tmp_path / "table.md"
    committed = ("| env | row | seeds | score |\n| --- | --- | --- | --- |\n"
                 "| lift | paat | 3 | 0.2 |\n| lift | baseline | 2 | 0.3 |")
    results.write_text(f"intro\n<!-- t:start -->\n{committed}\n<!-- t:end -->\nafter\n")
    out.write_text(committed + "\n")
    args = argparse.Namespace(out=str(out), results=str(results), marker="t", runs=str(tmp_path / "runs"))
    os.makedirs(args.runs)

    fewer = "| env | row | seeds | score |\n| --- | --- | --- | --- |\n| lift | paat | 1 | 0.5 |\n| lift | baseline | 2 | 0.3 |"
    alignment_table.write_table(fewer, args)
    assert committed in results.read_text() and out.read_text() == committed + "\n"
    assert (tmp_path / "runs" / "table.md").read_text() == fewer + "\n"
    assert "lift paat (3 seeds, 1 here)" in capsys.readouterr().err

    # a row whose bins have 1 to 2 seeds (a new seed scored in some bins so far) holds the committed seed
    assert alignment_table.lost_rows("| lift | paat | 1 | 0.2 |", "| lift | paat | 1–2 | 0.2 |") == []
    assert alignment_table.lost_rows("| lift | paat | 3 | 0.2 |", "| lift | paat | 1–2 | 0.2 |") == [
        "lift paat (3 seeds, 2 here)"]
    more = committed.replace("| lift | baseline | 2 |", "| lift | baseline | 3 |") + "\n| lift | paab | 1 | 0.1 |"
    alignment_table.write_table(more, args)
    assert results.read_text() == f"intro\n<!-- t:start -->\n{more}\n<!-- t:end -->\nafter\n"
    assert out.read_text() == more + "\n"


def test_every_policy_and_camera_table_row_composes_into_the_policy_command_config():
    """A row's overrides reach ``alignment.policy`` only hours into a grid: a misspelt key must fail here."""
    from hydra import compose, initialize_config_module
    import yaml
    from omegaconf import OmegaConf

    rows = {**policy_table.ROWS, **{name: overrides for name, (_, overrides) in camera_table.ROWS.items()}}
    placeholders = {"ENCODER": "runs/encoder.pt", "DETECTOR": "runs/detector.pt"}
    with initialize_config_module("configs", version_base="1.3"):
        for name, overrides in rows.items():
            filled = ["train_views=[cam0,cam1]" if o == camera_table.RANDOM else o for o in overrides]
            for placeholder, path in placeholders.items():
                filled = [o.replace(placeholder, path) for o in filled]
            cfg = compose("policy", overrides=["env=lift", "data=d.hdf5", "run_dir=r", *filled])
            for override in filled:  # each value set where the row says
                key, value = override.lstrip("+").split("=", 1)
                found = OmegaConf.select(cfg, key)
                found = OmegaConf.to_container(found) if OmegaConf.is_config(found) else found
                assert found == yaml.safe_load(value), (name, override)


def test_a_grid_stopped_with_sigterm_stops_the_run_it_started(tmp_path):
    """``kill <grid>`` must not leave its training run going on alone, holding the run directory's lock
    (``run_logged`` starts runs through ``run_child``, as the grids start generation)."""
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    grid = (f"import sys; sys.path.insert(0, {os.path.join(os.path.dirname(__file__), '..', 'benchmarks')!r}); "
            f"import alignment_table; alignment_table.run_logged([sys.executable, '-c', {child!r}], "
            f"{str(tmp_path / 'run')!r}, 1)")
    parent = subprocess.Popen([sys.executable, "-c", grid])
    for _ in range(300):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child_pid = int(pid_file.read_text())
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=30) == 128 + signal.SIGTERM
    for _ in range(100):
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child_pid, signal.SIGKILL)
    pytest.fail("the run the grid started outlived the grid")
