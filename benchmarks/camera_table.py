"""Policies when the camera moves: success by the evaluation camera's angle past the training cameras.

python benchmarks/camera_table.py --env lift --rows fixed_resnet18 random_resnet18 random_resnet18_arm --seeds 0 1 2

Every row is an image policy (``python -m alignment.policy``, robomimic's BC inside, the best validation
epoch kept, as ``benchmarks/policy_table.py``) on the same demos, seeds and rollout seeds, tested with
``--rollouts`` seeded rollouts in each camera bin of ``envs.eval_cameras`` (``train``, ``beyond15`` …
``beyond60`` past the training cameras' azimuths, ``elev+15``/``elev-15``); ``<row>/seed<N>/success_by_angle.png``
per run, ``benchmarks/camera_table.png`` for the table, and under it each pose-aware row's margin over the same
row with the baseline backbone (``margin_lines``). Demos:

- ``fixed``: the policy table's demos, one fixed third-person camera ``cam0`` (its "training sector" is
  that camera);
- ``random``: the same demos (the same states) re-rendered by ``envs.rerender`` from k cameras
  drawn per demo from the env's training sector (4, or the k of a row named ``_k<k>``); the policy sees one
  of them per sample (``train_views``), camera-randomised training.

Rows: ``fixed_resnet18`` (today's protocol; ``fixed_resnet18_both`` and ``fixed_<DeiT row>`` with the wrist
camera too) and ``random_<backbone>`` (robomimic's ResNet18, or the
project's DeiT fine-tuned from the alignment encoder: baseline, PAAB, PAAT), each also ``_arm``: the
camera's pose solved from the arm (PnP of the projected keypoints against forward kinematics) as an input;
``random_paat_ft_paatcam``: the same with the keypoints a PAAT head reads from the image (the alignment
table's ``paat_detector`` encoder, the head trained to find keypoints; no simulator
at deployment); ``random_resnet18_extrinsics``: the true camera pose (the oracle for that input);
``wrist_resnet18``: the wrist camera alone, invariant to the third-person camera by construction (its
success is the same in every bin; it is tested once, from its own camera), and ``wrist_baseline_conv``, the
conv DeiT trained so (the reference for the both-camera DeiTs: how much of them is the wrist camera);
``random_resnet18_both``, ``random_<baseline|paab|paat|paat_detector>_conv_both``: robomimic's own setting
(third-person + wrist), each trained as its fixed row but on the randomised demos, each also ``_arm`` and
``_arm_camera_frame`` (its actions and end-effector pose in the frame of the camera solved from the arm,
``frame=camera``); ``paat_detector`` is conv PAAT with ``method=paat_detector``'s head (where each keypoint is);
``random_baseline_conv_both_k<k>``: the conv baseline on demos seen from k = 1, 2 or 8 cameras each, against 4,
to choose k by measurement.

Each row's bins are measured from its own training cameras: the fixed rows' "sector" is their one camera
(−37.5° on Lift), the random rows' the whole sector (−90…15°). So a column is the same distance past what
each policy saw, not the same cameras: the fixed row's ``beyond30`` cameras stand inside the random rows'
training sector. That is the comparison the table makes: how far a policy carries past its own training.

Finished runs are skipped (their summaries are committed under ``--record``); an interrupted run resumes; a
finished run whose policy is on this machine is scored in the ``--bins`` it lacks, so a session can run the
goal's angles first (``--bins train beyond30 beyond60``) and a later one the rest.
A ``fixed_<row>`` is the policy table's ``<row>`` training (``resnet18``; ``resnet18_both`` and the
both-camera DeiTs, where the wrist camera stays and the bin's camera replaces ``cam0``): where that run has
finished on this machine (``--fixed-from``), it is scored in the bins by ``alignment.evaluate_policy`` instead
of trained again, its ``train`` bin being its own test rollouts from ``cam0``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import policy_table  # noqa: E402  (the same runs, records and budget checks)
from alignment_table import (add_grid_arguments, command_lines, dropped_rows, found_seeds, generate, run_child,  # noqa: E402
                             run_grid, run_logged)
from alignment.policy import FIXED_CAMERA, finished_views  # noqa: E402
from alignment.policy_plots import plot_success_by_angle  # noqa: E402
from envs.cameras import FIRST_PERSON  # noqa: E402
from envs.eval_cameras import EVAL_BINS  # noqa: E402
from poseaware.runs import atomic_write_text, file_sha256  # noqa: E402

BINS = list(EVAL_BINS)
GOAL_BINS = ["beyond30", "beyond60"]  # the camera goal's angles, each also shown as the share of training success kept
MARGIN_BINS = ["beyond30", "beyond45", "beyond60"]  # the pose-aware goal's "30-60 degrees"
POSE_AWARE_MARGIN = 15  # points over the same row without pose-awareness, the goal's
GOAL_SEEDS = 3  # the headline's
IMAGE = ["obs=image", "cameras=[cam0]"]
RANDOM = "RANDOM_VIEWS"  # replaced by train_views=[cam0,...] of the randomised file
BOTH, WRIST_ONLY = "cameras=[cam0,first_person]", "cameras=[first_person]"
KINDS = {"fixed": "trained from one fixed camera", "random": "trained on camera-randomised demos"}  # plot panels
CAMERAS_PER_DEMO = 4  # of a random row, unless its name ends in _k<k>
# fixed-camera rows trained exactly as the policy table's row of the same name less ``fixed_`` (so its finished
# run of the seed is scored rather than trained again): robomimic's ResNet18 from cam0, and with the wrist camera
# too, against the both-camera DeiTs with and without PAAT
FROM_POLICY_TABLE = ["resnet18", "resnet18_both", "baseline_scratch_both_decay", "paat_scratch_both_decay",
                     "baseline_conv_both", "paab_conv_both", "paat_conv_both", "paat_detector_conv_both"]
ROWS: Dict[str, Tuple[str, List[str]]] = {
    **{f"fixed_{r}": ("fixed", policy_table.ROWS[r]) for r in FROM_POLICY_TABLE},
    "random_resnet18": ("random", IMAGE + ["backbone=resnet18", RANDOM]),
    "random_resnet18_arm": ("random", IMAGE + ["backbone=resnet18", RANDOM, "camera_input=arm"]),
    "random_resnet18_extrinsics": ("random", IMAGE + ["backbone=resnet18", RANDOM, "camera_input=extrinsics"]),
    **{f"random_{m}_ft": ("random", IMAGE + [f"backbone={m}", "init=ENCODER", RANDOM]) for m in ("baseline", "paab", "paat")},
    **{f"random_{m}_ft_arm": ("random", IMAGE + [f"backbone={m}", "init=ENCODER", RANDOM, "camera_input=arm"])
       for m in ("baseline", "paab", "paat")},
    "random_paat_ft_paatcam": ("random", IMAGE + ["backbone=paat", "init=ENCODER", RANDOM, "camera_input=paat",
                                                  "keypoint_detector=DETECTOR"]),
    "wrist_resnet18": ("fixed", ["obs=image", "cameras=[first_person]", "backbone=resnet18"]),
    # the reference for the both-camera DeiTs: the same training with the wrist camera alone
    "wrist_baseline_conv": ("fixed", [WRIST_ONLY if o == BOTH else o for o in policy_table.ROWS["baseline_conv_both"]]),
    # robomimic's own setting (third-person + wrist) trained on the randomised demos, each as its fixed row
    **{f"random_{r}{arm}": ("random", policy_table.ROWS[r] + [RANDOM] + extra)
       for r in ("resnet18_both", "baseline_conv_both", "paab_conv_both", "paat_conv_both", "paat_detector_conv_both")
       for arm, extra in (("", []), ("_arm", ["camera_input=arm"]),
                          ("_arm_camera_frame", ["camera_input=arm", "frame=camera"]))},
    # the number of cameras per demo, measured: the same training on demos seen from k cameras each
    **{f"random_baseline_conv_both_k{k}": ("random", policy_table.ROWS["baseline_conv_both"] + [RANDOM])
       for k in (1, 2, 8)},
    # the same training on demos whose cameras are drawn apart from the scene (the table's demos drew the
    # scene's numbers: envs.cameras.RIG_DRAWS), to measure what that cost
    "random_baseline_conv_both_own_draws": ("random", policy_table.ROWS["baseline_conv_both"] + [RANDOM]),
}
OWN_DRAWS = "_own_draws"  # a random row so named trains on demos whose cameras drew their own numbers
DEFAULT_ROWS = ["fixed_resnet18", "random_resnet18", "random_resnet18_arm", "random_paat_ft", "random_paat_ft_arm",
                "wrist_resnet18"]


def cameras_per_demo(row: str) -> int:
    """k, the cameras each demo of a random row's data is seen from."""
    found = re.search(r"_k(\d+)$", row)
    return int(found.group(1)) if found else CAMERAS_PER_DEMO


def data_key(row: str) -> str:
    """Which demos the row trains on: ``fixed``, or ``random<k>`` (``random<k>_own`` for its cameras drawn apart
    from the scene)."""
    if ROWS[row][0] != "random":
        return ROWS[row][0]
    return f"random{cameras_per_demo(row)}" + ("_own" if row.endswith(OWN_DRAWS) else "")


def demos(args, rows: List[str]) -> Dict[str, str]:
    """The demos ``rows`` train on, by ``data_key``: the fixed-camera demos (generated where missing), and their
    re-rendering from k cameras each for every k a random row of ``rows`` asks for."""
    fixed = generate(args.env, args.episodes, args.image_size,
                     os.path.join(args.data, f"{args.env}_policy{args.image_size}.hdf5"), FIXED_CAMERA)
    found = {"fixed": fixed}
    wanted = {data_key(r): (cameras_per_demo(r), r.endswith(OWN_DRAWS)) for r in rows if ROWS[r][0] == "random"}
    for key, (views, own_draws) in sorted(wanted.items()):
        found[key] = randomised(args, fixed, views, own_draws)
    return found


def randomised(args, fixed: str, views: int, own_draws: bool = False) -> str:
    """The fixed demos re-rendered from ``views`` cameras drawn per demo from the training sector, with the
    wrist camera for the both-camera rows and without the masks no policy reads (the same states;
    ``envs.rerender`` resumes and skips a finished file). Its cameras draw the scene's numbers, as the fixed
    demos' rig did, unless ``own_draws``."""
    name = f"{args.env}_policy{args.image_size}_sector{views}" + ("_own" if own_draws else "")
    out = os.path.join(args.data, name + ".hdf5")
    run_child([sys.executable, "-m", "envs.rerender", f"input={fixed}", f"out={out}", f"num_views={views}",
               "first_person=true", "masks=false", "rig.sampling=sectors", "rig.heldout_views=0",
               *(["rig.draws=own"] if own_draws else []), "hydra/job_logging=disabled"])
    return out


def trained_fixed_policy(args, row: str, seed: int) -> Optional[str]:
    """The policy table's finished run of ``seed`` trained as ``row`` (``fixed_<its row>``), if any."""
    if not row.startswith("fixed_") or not args.fixed_from:
        return None
    source = os.path.join(args.fixed_from, args.env, row[len("fixed_"):], f"seed{seed}")
    return source if all(os.path.exists(os.path.join(source, n)) for n in ("rollouts.json", "policy.pt")) else None


def score_bins(args, row: str, seed: int, source: str, data: str) -> None:
    """The row's finished policy of ``seed`` scored by ``alignment.evaluate_policy`` (resumable episode by
    episode) in the bins asked for that it lacks, added to its record under the same budget (``--bins`` may grow
    across sessions: the goal's angles first). ``source`` is the run's own directory, or for a ``fixed_<row>``
    the policy table's run, whose config and training record are then copied beside, so it is recorded as a run.
    ``data`` is the demo file the row trains on, which the run must have been trained on.

    A fixed rig's training sector is its one camera, so a fixed row's ``train`` bin is its own test rollouts
    from ``cam0`` (the same seeds, the same camera: step for step the same episodes), taken from it where it
    tested as many rollouts with the same horizon."""
    from omegaconf import OmegaConf

    target = policy_table.run_dir(args, row, seed)
    own = os.path.abspath(source) == os.path.abspath(target)
    os.makedirs(target, exist_ok=True)
    evaluation = os.path.join(target, "evaluation.json")
    config = OmegaConf.load(os.path.join(source, "config.yaml"))
    with open(os.path.join(source, "rollouts.json")) as f:
        trained = json.load(f)
    unscored = unscored_bins(args, row, seed)
    tested = None if own else trained["rollouts"].get("cam0")
    same_test = tested is not None and (config.get("rollouts"), config.get("horizon")) == (args.rollouts, args.horizon)
    reused = {"train": {**tested, "same_as": "cam0 (the run's test rollouts)"}} \
        if same_test and "train" in unscored else {}
    scored_bins = [b for b in unscored if b not in reused]
    if not own:  # trained by the policy table: under this table's budget (its rollouts are set here)
        policy_table.check_budget(args, row, seed, True, ROWS[row][1], config_dir=source, skip=("rollouts", "horizon"),
                                  data=data)
    identity = {"kept_epoch": trained.get("kept_epoch"), "evaluated_from": None if own else source,
                "policy_sha256": file_sha256(os.path.join(source, "policy.pt"))}
    before = policy_table.result(args, row, seed)
    if before is not None:  # bins added to a recorded run must share its budget and its policy
        policy_table.check_budget(args, row, seed, True, ROWS[row][1], data=data)
        check_same_policy(target, before, identity)
    print(f"[{datetime.datetime.now():%H:%M}] {args.env} {row} seed {seed}: scoring {source} in "
          f"{', '.join(unscored)}", flush=True)
    scored = {**(before["rollouts"] if before else {}), **reused}
    if scored_bins:
        run_logged([sys.executable, "-m", "alignment.evaluate_policy", f"run_dir={source}",
                    f"eval_views=[{','.join(scored_bins)}]", f"rollouts={args.rollouts}", f"horizon={args.horizon}",
                    f"out={evaluation}", f"rollout_workers={args.rollout_workers}", "hydra/job_logging=disabled"],
                   target, args.threads)
        with open(evaluation) as g:  # a bin an earlier call left unfinished is not scored
            scored.update(finished_views(json.load(g)["rollouts"]))
    bins = {b: scored[b] for b in BINS if b in scored}
    if not own:
        config.rollouts, config.horizon, config.eval_views = args.rollouts, args.horizon, list(bins)
        atomic_write_text(os.path.join(target, "config.yaml"), OmegaConf.to_yaml(config))
        with open(os.path.join(source, "training.json")) as f:
            atomic_write_text(os.path.join(target, "training.json"), f.read())
    atomic_write_text(os.path.join(target, "rollouts.json"), json.dumps(
        {**trained, "rollouts": bins, "horizon": args.horizon, "policy_sha256": identity["policy_sha256"],
         **({} if own else {"evaluated_from": source})}, indent=2))
    policy_table.record(args, row, seed)


def check_same_policy(target: str, before: dict, identity: Dict[str, object]) -> None:
    """A record's bins all score one policy: one trained elsewhere (``evaluated_from``) or here, at the same kept
    epoch, the same file (records older than the hash are matched by the rest)."""
    def norm(key: str, value):
        return os.path.normpath(value) if key == "evaluated_from" and value else value

    differ = {k: (before.get(k), v) for k, v in identity.items()
              if (k in before or k == "evaluated_from") and norm(k, before.get(k)) != norm(k, v)}
    if differ:
        raise ValueError(f"{target} holds bins scored with another policy ("
                         + ", ".join(f"{k}: {a} there, {b} now" for k, (a, b) in differ.items())
                         + "); move it (and its record) aside, e.g. under runs/superseded/, to score this policy "
                           "from the start")


def unscored_bins(args, row: str, seed: int) -> List[str]:
    """The bins asked for (``--bins``) that the row's finished run of ``seed`` has not been scored in."""
    found = policy_table.result(args, row, seed)
    return [b for b in args.bins if found is None or b not in found["rollouts"]]


def run(args, data: Dict[str, str], row: str, seed: int) -> None:
    kind, overrides = ROWS[row]
    wrist = WRIST_ONLY in overrides  # tested once, from its own camera
    own = policy_table.run_dir(args, row, seed)
    finished_here = all(os.path.exists(os.path.join(own, n)) for n in ("policy.pt", "rollouts.json"))
    # a policy trained here is scored as itself, before any policy-table run of the same training
    source = (own if finished_here else None) or trained_fixed_policy(args, row, seed)
    if source and not wrist and unscored_bins(args, row, seed):
        score_bins(args, row, seed, source, data[data_key(row)])
        return
    views = "train_views=[" + ",".join(f"cam{i}" for i in range(cameras_per_demo(row))) + "]"
    overrides = [views if o == RANDOM else o for o in overrides] + [f"rollout_workers={args.rollout_workers}"]
    policy_table.train_and_test(args, data[data_key(row)], row, seed, overrides,
                                [FIRST_PERSON] if wrist else args.bins)


def rates_by_seed(args, row: str) -> Dict[int, Dict[str, float]]:
    """Each finished seed's test success (%) in every bin it was scored in (a wrist row's one rate under
    ``first_person``)."""
    found: Dict[int, Dict[str, float]] = {}
    seeds = set(found_seeds(os.path.join(args.runs, args.env, row))) | set(found_seeds(os.path.join(args.record, args.env, row)))
    for seed in sorted(seeds):
        r = policy_table.result(args, row, seed)
        if r is not None:
            found[seed] = {b: 100 * rate["success_rate"] for b, rate in r["rollouts"].items()
                           if b in BINS or b == FIRST_PERSON}
    return found


def mean_std(values: List[float]) -> str:
    return f"{np.mean(values):.0f} ± {np.std(values):.0f}" if values else "–"


def kept(by_seed: Dict[int, Dict[str, float]], far: str) -> List[float]:
    """Per seed, success in bin ``far`` as a percentage of the same policy's training-sector success: what the
    camera goal reads (≥ 80% kept at 30° past the sector, ≥ 50% at 60°). Seeds not scored in both bins, or with
    no success in the training sector, have no ratio."""
    return [100 * rates[far] / rates["train"] for rates in by_seed.values()
            if far in rates and rates.get("train", 0) > 0]


def without_pose_awareness(row: str) -> Optional[str]:
    """The same row with every pose-aware part taken out, or None for a row with none (or no such row): PAAB or
    PAAT (either head) becomes the baseline backbone, and the camera solved from the arm's keypoints (``_arm``,
    with its camera frame ``_arm_camera_frame``, or from a PAAT head's ``_paatcam``) is dropped
    (``random_paat_conv_both_arm`` -> ``random_baseline_conv_both``). The true extrinsics are not pose-aware."""
    found = re.sub(r"(?<=_)(paab|paat_detector|paat)(?=_)", "baseline", row, count=1)
    found = re.sub(r"_(arm|arm_camera_frame|paatcam)$", "", found)
    return found if found != row and found in ROWS else None


def apart(high: List[float], low: List[float]) -> bool:
    """The seed spreads apart: ``high``'s mean less its std above ``low``'s mean plus its std (one seed has no
    spread to be apart by)."""
    return len(high) > 1 and float(np.mean(high) - np.std(high)) > float(np.mean(low) + np.std(low))


def margin_lines(rates: List[tuple]) -> List[str]:
    """The pose-aware goal's table: each pose-aware row against the same row without pose-awareness, on the seeds
    both have (paired: the same cameras and episodes), per bin 30-60 degrees past the training cameras the
    difference in success (points, mean ± std over those seeds), and whether the goal is met: the margin with
    the seed spreads apart in every such bin, the goal's two among them, over the headline's seeds. Empty where
    no pair has a seed in common."""
    by_row = {(env_args.env, row): by_seed for env_args, row, by_seed in rates}
    pairs = {}  # (env, pose-aware row, the row without) -> per bin, each common seed's (ours, theirs)
    for (env, row), by_seed in by_row.items():
        without = without_pose_awareness(row)
        other = by_row.get((env, without))
        seeds = sorted(set(by_seed) & set(other)) if other else []
        if seeds:
            pairs[(env, row, without)] = {b: [(by_seed[s][b], other[s][b]) for s in seeds
                                              if b in by_seed[s] and b in other[s]] for b in MARGIN_BINS}
    bins = [b for b in MARGIN_BINS if any(found[b] for found in pairs.values())]
    lines = []
    for (env, row, without), found in pairs.items():
        cells, met = [], set(GOAL_BINS) <= {b for b in bins if found[b]}
        for b in bins:
            ours, theirs = [p for p, _ in found[b]], [q for _, q in found[b]]
            cells.append(mean_std([p - q for p, q in found[b]]) + (" apart" if apart(ours, theirs) else ""))
            met = met and (not found[b] or (len(ours) >= GOAL_SEEDS and apart(ours, theirs)
                                            and np.mean(ours) - np.mean(theirs) >= POSE_AWARE_MARGIN))
        seeds = max(len(v) for v in found.values())
        lines.append(f"| {env} | {row} | {without} | {seeds} | " + " | ".join(cells)
                     + f" | {'yes' if met else 'no'} |")
    if not lines or not bins:
        return []
    return ["", f"Pose-aware margin: each pose-aware row's success (PAAB, PAAT, the camera solved from the arm) less "
                f"the same row's with none of them, in points, mean ± std over the seeds both have (paired "
                f"episodes); apart: over two seeds or more, the pose-aware row's mean − std above the other's mean "
                f"+ std. The goal: ≥ {POSE_AWARE_MARGIN} points "
                f"and apart at 30–60° over {GOAL_SEEDS} seeds.", "",
            "| env | pose-aware row | without | seeds | " + " | ".join(bins) + " | goal |",
            "| --- | --- | --- | --- | " + " | ".join("---" for _ in bins) + " | --- |", *lines]


def table(args) -> str:
    """Every row with a finished run, in every bin any run was scored in (not only this call's ``--bins``, which
    says what to score: a run adding bins rewrites the whole table)."""
    envs = policy_table.envs_on_disk(args)
    rates = [(env_args, row, rates_by_seed(env_args, row)) for env_args in envs for row in ROWS]
    rates = [(env_args, row, by_seed) for env_args, row, by_seed in rates if by_seed]
    shown = [b for b in BINS if any(b in r for *_, by_seed in rates for r in by_seed.values())] or list(args.bins)
    ratios = [b for b in GOAL_BINS if b in shown and "train" in shown]
    lines = [*command_lines(args, __file__),
             f"Budget: {args.episodes} demos at {args.image_size} px; random rows: the same demos re-rendered from "
             f"{CAMERAS_PER_DEMO} cameras per demo (k of a row named _k<k>) drawn from the training sector, with the "
             f"scene's random numbers (their own for a row named {OWN_DRAWS}); "
             f"{args.image_epochs} epochs × {args.image_steps} steps of batch 16, the kept epoch the best of "
             f"{args.val_rollouts} validation rollouts every {args.val_every_image} epochs (from the training camera, "
             f"or a camera of the training sector), unless the row sets its own (a fixed_<row> or random_<row> trains "
             f"as the policy table's <row>); {args.rollouts} test rollouts per bin, {args.horizon} steps at most.  ",
             f"Machine: {os.cpu_count()} CPU cores; written {datetime.date.today()}. Success (%) per camera bin, mean "
             f"± std over the seeds (the population std, here and below; n, a range where the bins have different "
             f"numbers of seeds; – where a row was not scored in the bin); the wrist row sees no third-person "
             f"camera, so its one rate stands in every bin. "
             f"kept <bin>: the bin's success as a % of the same seed's training-sector success, mean ± std over the "
             f"seeds with some success there (the goal: ≥ 80 at beyond30, ≥ 50 at beyond60).", "",
             "| env | row | n | " + " | ".join(shown + [f"kept {b}" for b in ratios]) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in shown + ratios) + " |"]
    means, spread, panels = {}, {}, {title: [] for title in KINDS.values()}
    for env_args, row, by_seed in rates:
        # the wrist camera's one rate stands in every bin
        by_seed = {s: {b: r[FIRST_PERSON] for b in shown} if FIRST_PERSON in r else r for s, r in by_seed.items()}
        found: Dict[str, List[float]] = {}
        for r in by_seed.values():
            for b, rate in r.items():
                found.setdefault(b, []).append(rate)
        counts = sorted({len(v) for v in found.values()})  # bins come in stages: say when they differ
        n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        cells = [mean_std(found.get(b, [])) for b in shown] + [mean_std(kept(by_seed, b)) for b in ratios]
        lines.append(f"| {env_args.env} | {row} | {n} | " + " | ".join(cells) + " |")
        label = f"{row if len(envs) == 1 else f'{env_args.env} {row}'} (n={n})"
        means[label] = {b: float(np.mean(v)) / 100 for b, v in found.items()}
        spread[label] = {b: float(np.std(v)) / 100 for b, v in found.items() if len(v) > 1}
        for kind in (KINDS if WRIST_ONLY in ROWS[row][1] else [ROWS[row][0]]):  # the wrist row: the reference in both
            panels[KINDS[kind]].append(label)
    lines += margin_lines(rates)
    # the plot beside the table it draws: not over the committed one where this table would not replace it
    if means and not dropped_rows("\n".join(lines), args):
        names = ", ".join(a.env for a in envs)
        plot_success_by_angle(means, args.plot, title=f"{names}: success by camera angle (mean ± std over n seeds)",
                              spread=spread, panels={title: rows for title, rows in panels.items() if rows})
    if means:
        lines.append(f"\n![success by angle]({os.path.relpath(args.plot, os.path.dirname(args.results))})")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    policy_table.add_budget_arguments(p)
    p.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(ROWS))
    p.add_argument("--bins", nargs="+", default=BINS, choices=BINS)
    p.add_argument("--record", default="benchmarks/camera_table_runs",
                   help="finished runs' summaries (rollouts.json, config.yaml, training.json), committed")
    p.add_argument("--plot", default="benchmarks/camera_table.png")
    p.add_argument("--fixed-from", default="runs/policy_table",
                   help="a fixed_<row> scores the policy table's finished <row> run of the seed rather than "
                        "training it again ('' to train it here)")
    p.add_argument("--rollout-workers", type=int, default=1,
                   help="a run's bins rolled out side by side, one process (and simulator) each, each with "
                        "--threads torch threads: the same episodes, sooner where cores are free")
    add_grid_arguments(p, "camera_table")
    args = p.parse_args()
    # the low-dim budget is policy_table's interface; no row here is low-dim
    args.state_epochs = args.state_steps = args.val_every_state = None
    os.makedirs(args.runs, exist_ok=True)
    run_grid(args, None if args.table_only else demos(args, args.rows), run, table)


if __name__ == "__main__":
    main()
