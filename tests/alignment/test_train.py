"""End to end on a tiny generated Pick dataset: train, resume, DDP, evaluate, embed, bad input."""
import contextlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from hydra import compose, initialize_config_module

import torch

from alignment.data import load_frames
from alignment.data import data_fingerprint
from alignment.embed import embed_file
from alignment.evaluate import evaluate_checkpoint, evaluate_to_file
from alignment.inference import embed_video, load_encoder
from alignment.metrics import alignment_error, score_trajectories, to_geometry
from alignment.task import AlignmentTask, train
from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset
from envs.output_lock import OutputLocked, exclusive_output

TINY = ["model.depth=1", "model.patch_size=8", "model.proj_dim=16", "train.epochs=1",
        "train.steps_per_epoch=2", "train.batch_frames=8"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "pick.hdf5")
    generate_dataset("pick", path, episodes=3, image_size=32, num_views=3, progress=False)
    return path


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    """A finished PAAB run's best.pt (read-only for the tests that use it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    train(config(data, str(run), "method=paab"))
    return str(run / "checkpoints" / "best.pt")


def config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("train", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", *TINY, *overrides])


@pytest.mark.parametrize("method", ["baseline", "paab", "paat", "paab+paat", "paab_mask", "baseline_bg"])
def test_one_epoch_writes_checkpoint_metrics_and_plots(data, tmp_path, method):
    run = str(tmp_path / method)
    result = train(config(data, run, f"method={method}"))
    # The reported test metrics are those of the deployed best checkpoint on the test split.
    assert evaluate_checkpoint(os.path.join(run, "checkpoints", "best.pt")) == result
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["test"] == result and len(metrics["history"]) == 1
    assert metrics["best"]["epoch"] == 0
    assert metrics["best"]["valid/seen/alignment_error"] == metrics["history"][0]["valid/seen/alignment_error"]
    for name in ("checkpoints/best.pt", "checkpoints/last.pt", "config.yaml",
                 "plots/distance_matrix.png", "plots/matched_frames.png", "plots/view_pair_errors.png"):
        assert os.path.exists(os.path.join(run, name)), name
    assert os.listdir(os.path.join(run, "tensorboard"))


def test_resume_continues_from_the_last_checkpoint(data, tmp_path):
    run = str(tmp_path / "run")
    train(config(data, run, "method=paat"))
    train(config(data, run, "method=paat", "train.epochs=2", "resume=true"))
    history = json.load(open(os.path.join(run, "metrics.json")))["history"]
    assert [h["epoch"] for h in history] == [0, 1]


def test_evaluate_and_embed_a_checkpoint(data, tmp_path):
    run = str(tmp_path / "run")
    train(config(data, run, "method=paat"))
    ckpt = os.path.join(run, "checkpoints", "best.pt")
    assert set(evaluate_checkpoint(ckpt)) >= {"seen/alignment_error", "unseen/alignment_error"}
    out, raw = str(tmp_path / "emb.hdf5"), str(tmp_path / "raw.hdf5")
    embed_file(ckpt, data, out, progress=False)
    embed_file(ckpt, data, raw, views=["cam0"], geometry="raw", progress=False)
    encoder, _ = load_encoder(ckpt, torch.device("cpu"))
    frames = load_frames(data, "train", ["cam0"], keypoints=False)
    with h5py.File(out) as f, h5py.File(raw) as r, h5py.File(data) as src:
        for demo in src["data"]:
            t = src["data"][demo].attrs["num_samples"]
            for view in ("cam0", "cam1", "cam2", "first_person"):
                emb = f["data"][demo]["obs"][f"{view}_embedding"][()]
                assert emb.shape == (t, 16) and emb.dtype == np.float32
                np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)  # on the unit sphere
        for demo in frames:  # raw: the encoder's per-frame output; centred: that video, centred and normalised
            expected = embed_video(encoder, frames[demo]["cam0"], torch.device("cpu"))
            np.testing.assert_allclose(r["data"][demo]["obs"]["cam0_embedding"][()], expected, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(f["data"][demo]["obs"]["cam0_embedding"][()], to_geometry(expected),
                                       rtol=1e-4, atol=1e-5)
        assert "cam0_embedding" not in src["data/demo_0/obs"]


def test_ddp_with_two_gloo_processes(data, tmp_path):
    run = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "alignment.train",
           "env=pick", "method=paab", f"data={data}", f"run_dir={run}", *TINY]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert set(metrics) == {"history", "best", "test", "references"} and "unseen/alignment_error" in metrics["test"]


def test_bad_input_is_named(data, tmp_path):
    cfg = config(data, str(tmp_path / "x"), "method=paab")
    cfg.method.name = "pab"
    with pytest.raises(ValueError, match="unknown method 'pab'; choose one of"):
        train(cfg)
    with pytest.raises(ValueError, match="overlap"):
        train(config(data, str(tmp_path / "x"), "views.train=[cam0]", "views.test=[cam0,cam1]"))
    with pytest.raises(ValueError, match="unknown env 'minecraf'; choose one of"):
        cfg = config(str(tmp_path / "none.hdf5"), str(tmp_path / "x"))
        cfg.env.name = "minecraf"
        train(cfg)
    no_kp = str(tmp_path / "no_kp.hdf5")
    with open(data, "rb") as src, open(no_kp, "wb") as dst:
        dst.write(src.read())
    with h5py.File(no_kp, "a") as f:
        for demo in f["data"]:
            for key in list(f["data"][demo]["obs"]):
                if key.endswith("_keypoints"):
                    del f["data"][demo]["obs"][key]
    with pytest.raises(ValueError, match="no keypoints"):
        train(config(no_kp, str(tmp_path / "x"), "method=paab"))
    one = str(tmp_path / "one.hdf5")
    generate_dataset("pick", one, episodes=1, image_size=32, num_views=3, progress=False)
    with pytest.raises(ValueError, match="'valid' split .* is empty"):
        train(config(one, str(tmp_path / "x"), "method=baseline"))


def test_same_seed_same_run(data, tmp_path):
    a = train(config(data, str(tmp_path / "a"), "method=paat"))
    b = train(config(data, str(tmp_path / "b"), "method=paat"))
    assert a == b
    ha = json.load(open(tmp_path / "a" / "metrics.json"))["history"]
    hb = json.load(open(tmp_path / "b" / "metrics.json"))["history"]
    assert ha == hb


def test_minecraft_alignment_end_to_end(tmp_path):
    path = str(tmp_path / "mc.hdf5")
    generate_dataset("minecraft", path, episodes=3, image_size=32, num_views=3, progress=False,
                     rig_overrides={"sampling": "ring", "azimuth_range": [-180, 180], "heldout_views": 0})
    run = tmp_path / "run"
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("train", overrides=["env=minecraft", "method=paab", f"data={path}", f"run_dir={run}", *TINY])
    result = train(cfg)
    # Recompute the table by hand from the deployed encoder: cam0/cam1 train, cam2 and the avatar's
    # first-person view are unseen, and each pair's error is the symmetric nearest-frame error.
    encoder, _ = load_encoder(str(run / "checkpoints" / "best.pt"), torch.device("cpu"))
    views = ["cam0", "cam1", "cam2", "first_person"]
    frames = load_frames(path, "test", views, keypoints=True)
    emb = {d: {v: embed_video(encoder, f, torch.device("cpu")) for v, f in vs.items()} for d, vs in frames.items()}
    assert result == score_trajectories(emb, ["cam0", "cam1"])
    # unseen: cam2 against each training view, both directions, in the centred geometry, averaged over
    # demos; the first-person view is its own group, and held-out pairs with each other are not scored.
    def group(unseen_view):
        pairs = [(seen, unseen_view) for seen in ("cam0", "cam1")] + [(unseen_view, seen) for seen in ("cam0", "cam1")]
        return float(np.mean([np.mean([alignment_error(to_geometry(e[a]), to_geometry(e[b])) for a, b in pairs])
                              for e in emb.values()]))
    assert result["unseen/alignment_error"] == pytest.approx(group("cam2"))
    assert result["first_person/alignment_error"] == pytest.approx(group("first_person"))
    assert result["view/cam2/alignment_error"] == pytest.approx(group("cam2"))


def test_a_finished_run_is_not_overwritten(data, tmp_path):
    run = str(tmp_path / "run")
    train(config(data, run, "method=baseline"))
    best = os.path.join(run, "checkpoints", "best.pt")
    before = open(best, "rb").read()
    with pytest.raises(FileExistsError, match="resume=true.*overwrite=true"):
        train(config(data, run, "method=baseline"))
    assert open(best, "rb").read() == before
    events = os.path.join(run, "tensorboard")
    assert len([e for e in os.listdir(events) if e.startswith("events.")]) == 1
    train(config(data, run, "method=baseline", "overwrite=true", "seed=1"))
    assert open(best, "rb").read() != before
    # The old run's files are gone, not kept beside the new ones (one TensorBoard events file, not two).
    assert len([e for e in os.listdir(events) if e.startswith("events.")]) == 1


def test_resume_refuses_another_config_before_writing(data, tmp_path):
    run = str(tmp_path / "run")
    train(config(data, run, "method=paat"))
    saved = open(os.path.join(run, "config.yaml")).read()
    with pytest.raises(ValueError, match=r"loss.name: checkpoint 'infonce', asked 'triplet'"):
        train(config(data, run, "method=paat", "resume=true", "loss.name=triplet"))
    with pytest.raises(ValueError, match=r"method.name: checkpoint 'paat', asked 'paab'"):
        train(config(data, run, "method=paab", "resume=true"))
    assert open(os.path.join(run, "config.yaml")).read() == saved


def test_a_state_readout_trains_beside_the_loss_and_is_not_deployed(data, tmp_path):
    run = str(tmp_path / "state")
    with pytest.raises(ValueError, match=r"loss.state_keys \['cube_pos'\].*has \[.*'object'"):
        train(config(data, run, "method=baseline", "loss.state_keys=[cube_pos]"))
    assert not os.path.exists(run)  # refused before anything is written
    train(config(data, run, "method=baseline", "loss.state_keys=[object,robot0_eef_pos]"))
    ckpt = torch.load(os.path.join(run, "checkpoints", "last.pt"), weights_only=True)
    assert ckpt["data"]["state"]["keys"] == ["object", "robot0_eef_pos"] and len(ckpt["data"]["state"]["mean"]) == 10
    assert ckpt["state_dict"]["state_head.linear.weight"].shape == (10, 16)
    deployed, _ = load_encoder(os.path.join(run, "checkpoints", "best.pt"), torch.device("cpu"))
    assert not any("state" in k for k in deployed.state_dict())
    task = AlignmentTask(config(data, run), deployed, None, ckpt["data"])
    groups = task.configure_optimizers()["optimizer"].param_groups
    head = {id(p) for p in task.state_head.parameters()}
    # The head is optimised, at a linear probe's rate; the encoder keeps its own.
    assert [g["initial_lr"] for g in groups if head <= {id(p) for p in g["params"]}] == [1e-2]
    assert [g["initial_lr"] for g in groups if not head & {id(p) for p in g["params"]}] == [1e-4]
    baseline = str(tmp_path / "baseline")
    train(config(data, baseline, "method=baseline"))
    trained, plain = (load_encoder(os.path.join(r, "checkpoints", "best.pt"), torch.device("cpu"))[0]
                      for r in (run, baseline))
    # Same seed and batches: only the head's gradient makes the encoders differ.
    assert not torch.equal(trained.head.weight, plain.head.weight)


def test_an_option_the_encoder_does_not_take_is_named(data, tmp_path):
    cfg = config(data, str(tmp_path / "x"), "method=paab", "+model.pool_size=3")
    with pytest.raises(ValueError, match=r"\['pool_size'\].*PoseAwareEncoder does not take"):
        train(cfg)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_file_that_is_not_a_checkpoint_runs_no_code(tmp_path):
    marker = tmp_path / "ran"
    crafted = str(tmp_path / "crafted.pt")
    torch.save({"format": "poseaware-checkpoint/1", "x": Payload(str(marker))}, crafted)
    with pytest.raises(ValueError, match="crafted.pt is not a poseaware checkpoint: it holds Python objects") as err:
        evaluate_checkpoint(crafted)
    assert not marker.exists()
    # One line, and not torch's advice to load with weights_only=False: that is the path that runs the code.
    message = str(err.value)
    assert "\n" not in message and "weights_only" not in message and "likely succeed" not in message
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt is not a poseaware checkpoint: it is not a file written by torch"):
        evaluate_checkpoint(str(junk))
    plain = str(tmp_path / "plain.pt")
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="plain.pt is not a poseaware checkpoint: it has no format entry"):
        evaluate_checkpoint(plain)


def test_an_interrupted_default_generation_is_completed(tmp_path):
    from alignment.task import ensure_dataset

    path = str(tmp_path / "pick.hdf5")
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("train", overrides=["env=pick", f"data={path}", "default_data.episodes=3",
                                          "default_data.image_size=32", "default_data.num_views=3"])
    generate_dataset("pick", path, episodes=1, image_size=32, num_views=3, progress=False)  # as if stopped
    ensure_dataset(cfg, rank=0)
    with EpisodeFile(path) as f:
        assert f.demos == ["demo_0", "demo_1", "demo_2"]
    own = str(tmp_path / "own.hdf5")  # a file made with other settings is the user's: used as it is
    generate_dataset("pick", own, episodes=1, image_size=24, num_views=3, progress=False)
    cfg.data = own
    ensure_dataset(cfg, rank=0)
    with EpisodeFile(own) as f:
        assert f.demos == ["demo_0"]


def test_embed_records_its_checkpoint_and_warns_when_frames_are_resized(data, tmp_path):
    run = str(tmp_path / "run")
    train(config(data, run, "method=paat", "model.img_size=16"))
    ckpt = os.path.join(run, "checkpoints", "best.pt")
    out = str(tmp_path / "new_dir" / "emb.hdf5")
    with pytest.warns(UserWarning, match="trained on 16 px images.*holds 32 px"):
        embed_file(ckpt, data, out, views=["cam0"], progress=False)
    with EpisodeFile(out) as f:
        made_by = json.loads(f.file.attrs["embedding"])
    assert made_by == {"checkpoint": os.path.abspath(ckpt), "method": "paat", "image_size": 16, "views": ["cam0"],
                       "geometry": "centred"}
    with pytest.warns(UserWarning, match="resized to 16 px"):
        evaluate_checkpoint(ckpt)


def test_env_mocap_points_to_recognition(tmp_path):
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("train", overrides=["env=mocap", f"data={tmp_path / 'none'}", f"run_dir={tmp_path / 'r'}"])
    with pytest.raises(ValueError, match="recognition.train"):
        train(cfg)


def test_keypoints_missing_in_the_test_split_only_stop_the_run_before_training(data, tmp_path):
    partial = str(tmp_path / "partial.hdf5")
    with open(data, "rb") as src, open(partial, "wb") as dst:
        dst.write(src.read())
    with EpisodeFile(partial) as f:
        test_demos = f.split("test")
    with h5py.File(partial, "a") as f:
        for demo in test_demos:
            del f["data"][demo]["obs"]["cam2_keypoints"]
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="no keypoints for views \\['cam2'\\]"):
        train(config(partial, str(run), "method=paab"))
    assert not run.exists()  # nothing trained or written


def test_a_run_dir_in_use_is_refused_naming_the_running_pid(data, tmp_path):
    run = str(tmp_path / "run")
    with exclusive_output(run, "run_dir"):  # as a training running into run_dir holds it
        with pytest.raises(OutputLocked, match=f"{run} is being written by another run \\(PID {os.getpid()}\\)"):
            train(config(data, run, "method=baseline"))
    assert not os.path.exists(run)
    train(config(data, run, "method=baseline"))  # the lock goes with the run that held it


def test_embed_refuses_an_existing_or_locked_output(data, checkpoint, tmp_path):
    out = str(tmp_path / "emb.hdf5")
    with exclusive_output(out):
        with pytest.raises(OutputLocked, match=f"PID {os.getpid()}"):
            embed_file(checkpoint, data, out, views=["cam0"], progress=False)
    assert not os.path.exists(out)
    embed_file(checkpoint, data, out, views=["cam0"], progress=False)
    before = open(out, "rb").read()
    with pytest.raises(FileExistsError, match="emb.hdf5 already exists; .*overwrite=true"):
        embed_file(checkpoint, data, out, views=["cam1"], progress=False)
    assert open(out, "rb").read() == before
    embed_file(checkpoint, data, out, views=["cam1"], progress=False, overwrite=True)
    with EpisodeFile(out) as f:
        assert json.loads(f.file.attrs["embedding"])["views"] == ["cam1"]


def test_evaluate_writes_one_file_per_dataset_that_says_what_it_scored(data, checkpoint, tmp_path):
    other = str(tmp_path / "other.hdf5")
    shutil.copyfile(data, other)
    out, metrics = evaluate_to_file(checkpoint)
    assert out == os.path.join(os.path.dirname(checkpoint), "eval_test_pick.json")
    record = json.load(open(out))
    assert record == {"checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data), "split": "test",
                      "fingerprint": data_fingerprint(data), "metrics": metrics}
    other_out, _ = evaluate_to_file(checkpoint, other)
    assert os.path.basename(other_out) == "eval_test_other.json" and json.load(open(out)) == record
    with pytest.raises(FileExistsError, match="eval_test_other.json already exists; .*overwrite=true"):
        evaluate_to_file(checkpoint, other)
    mine = tmp_path / "mine.json"
    mine.write_text("{}")
    with pytest.raises(FileExistsError, match="overwrite=true"):
        evaluate_to_file(checkpoint, out=str(mine))
    assert mine.read_text() == "{}"
    with exclusive_output(str(mine)):  # another evaluation writing it: refused, even with overwrite=true
        with pytest.raises(OutputLocked, match=f"PID {os.getpid()}"):
            evaluate_to_file(checkpoint, out=str(mine), overwrite=True)
    assert mine.read_text() == "{}"
    evaluate_to_file(checkpoint, out=str(mine), overwrite=True)
    assert json.loads(mine.read_text())["metrics"] == metrics


def test_resume_refuses_data_that_changed_since_the_checkpoint(data, tmp_path):
    path = str(tmp_path / "data.hdf5")
    shutil.copyfile(data, path)
    run = str(tmp_path / "run")
    train(config(path, run, "method=baseline"))
    resume = config(path, run, "method=baseline", "train.epochs=2", "resume=true")
    with h5py.File(path, "a") as f:  # the same demos, one edited in place
        f["data/demo_0/actions"][0] += 1
    with pytest.raises(ValueError, match=r"its data changed since the checkpoint \(content: checkpoint '\w+', now"):
        train(resume)
    os.remove(path)  # replaced by another dataset at the same path: more demos, smaller frames
    generate_dataset("pick", path, episodes=4, image_size=24, num_views=3, progress=False)
    with pytest.raises(ValueError, match=r"demos: checkpoint 3, now 4.*image_size: checkpoint 32, now 24"):
        train(resume)
    assert len(json.load(open(os.path.join(run, "metrics.json")))["history"]) == 1


def test_a_refused_command_writes_nothing_into_the_run_dir(data, checkpoint):
    run = os.path.dirname(os.path.dirname(checkpoint))

    def snapshot():
        return {os.path.relpath(os.path.join(d, n), run): open(os.path.join(d, n), "rb").read()
                for d, _, names in os.walk(run) for n in names}

    before = snapshot()
    proc = subprocess.run([sys.executable, "-m", "alignment.train", "env=pick", "method=baseline", f"data={data}",
                           f"run_dir={run}", *TINY], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "already holds a run" in proc.stdout + proc.stderr
    assert snapshot() == before and not os.path.exists(os.path.join(run, ".hydra"))


@pytest.mark.parametrize("refusal, overrides, error, match", [
    ("a run dir that holds a run", ["method=paab"], FileExistsError, "already holds a run"),
    ("a resume with another config", ["method=baseline", "resume=true"], ValueError,
     r"cannot resume .* another config \(.*method.name: checkpoint 'paab', asked 'baseline'"),
    ("a run dir in use", ["method=paab"], OutputLocked, "being written by another run"),
])
def test_a_refused_run_generates_no_missing_dataset(checkpoint, tmp_path, refusal, overrides, error, match):
    """The run-dir checks come before the default dataset is made: a refused command costs no generation."""
    run = os.path.dirname(os.path.dirname(checkpoint))
    missing = str(tmp_path / "missing.hdf5")
    # a default dataset that generates in seconds, so that a refusal after generating it fails here quickly
    small = ["default_data.episodes=1", "default_data.image_size=16", "default_data.num_workers=1"]
    cfg = config(missing, run, *small, *overrides)
    with contextlib.ExitStack() as stack:
        if refusal == "a run dir in use":
            stack.enter_context(exclusive_output(run, "run_dir"))
        with pytest.raises(error, match=match):
            train(cfg)
    assert not os.listdir(tmp_path), os.listdir(tmp_path)


def test_embed_and_evaluate_refuse_an_encoder_of_another_env(data, checkpoint, tmp_path):
    avatar = str(tmp_path / "avatar.hdf5")  # the same frames, with another env's keypoints
    shutil.copyfile(data, avatar)
    with h5py.File(avatar, "a") as f:
        names = json.loads(f.attrs["keypoint_names"])
        f.attrs["keypoint_names"] = json.dumps([f"avatar_{i}" for i in range(len(names))])
    out = str(tmp_path / "emb.hdf5")
    with pytest.raises(ValueError, match="trained with keypoints .*'avatar_0'.*: it belongs to another env"):
        embed_file(checkpoint, avatar, out, progress=False)
    assert not os.path.exists(out)
    with pytest.raises(ValueError, match="it belongs to another env"):
        evaluate_checkpoint(checkpoint, avatar)


def test_an_encoder_of_another_env_with_the_same_keypoints_is_refused_by_the_env_name(data, checkpoint, tmp_path):
    can = str(tmp_path / "can.hdf5")  # the same frames and keypoints (as Lift and Can share the Panda's), another env
    shutil.copyfile(data, can)
    with h5py.File(can, "a") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
        trained_on = env_args["env_name"]
        f["data"].attrs["env_args"] = json.dumps({**env_args, "env_name": "OtherTask"})
    with pytest.raises(ValueError, match=f"trained on {trained_on} demos, but .*can.hdf5 holds OtherTask demos"):
        evaluate_checkpoint(checkpoint, can)
    evaluate_checkpoint(checkpoint, data)  # its own env passes


def test_files_of_the_wrong_kind_are_refused_in_one_line(data, checkpoint, tmp_path):
    raw = str(tmp_path / "raw.hdf5")  # robomimic's raw layout: states and actions, no camera images
    with h5py.File(raw, "w") as f:
        for i in range(3):
            f.create_dataset(f"data/demo_{i}/actions", data=np.zeros((5, 7)))
            f.create_dataset(f"data/demo_{i}/states", data=np.zeros((5, 9)))
        f.create_dataset("mask/train", data=np.array([b"demo_0"]))
    with pytest.raises(ValueError, match="raw.hdf5' holds no camera images.*robomimic's raw layout.*envs.rerender"):
        train(config(raw, str(tmp_path / "r1"), "method=baseline"))
    from recognition.evaluate import evaluate_checkpoint as evaluate_recognition

    with pytest.raises(ValueError, match="best.pt holds another kind of model than PoseAwareTimeSformer"):
        evaluate_recognition(checkpoint)
    from recognition.evaluate import evaluate_to_file as evaluate_recognition_to_file

    with pytest.raises(ValueError, match="best.pt holds another kind of model than PoseAwareTimeSformer"):
        evaluate_recognition_to_file(checkpoint)  # refused before its data is looked for
    marker = tmp_path / "ran"
    pickled = str(tmp_path / "deit.pth")
    torch.save({"model": {"x": Payload(str(marker))}}, pickled)
    with pytest.raises(ValueError, match="deit.pth is not pretrained weights: it holds Python objects") as err:
        train(config(data, str(tmp_path / "r2"), "method=baseline", f"+model.pretrained_path={pickled}"))
    assert not marker.exists() and "weights_only" not in str(err.value)
    assert not os.path.exists(tmp_path / "r1") and not os.path.exists(tmp_path / "r2")
