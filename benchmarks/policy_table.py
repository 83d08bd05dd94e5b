"""Image policies on Lift: robomimic BC success per policy row, 3 seeds, with robomimic's recipe.

python benchmarks/policy_table.py --env lift --rows state resnet18 baseline_ft paat_ft --seeds 0 1 2

Every row trains with ``python -m alignment.policy`` (robomimic's BC inside), keeps the epoch whose
validation rollouts (``--val-rollouts`` seeded episodes every ``--val-every`` epochs, seeds apart from the
test ones) score best, as robomimic's train script does, and tests it on ``--rollouts`` other seeded
episodes from the training camera. The demos are made once (``data/bench/<env>_policy<size>.hdf5``, all
cores) with one fixed third-person camera ``cam0`` (robomimic's agentview), the wrist camera and the
held-out cameras. Rows:

- ``state``: object pose + proprioception (the upper bound); ``proprio``: proprioception alone;
- ``resnet18``: robomimic's own ResNet18 + SpatialSoftmax, from scratch (the reference);
- ``<method>_ft``: the project's DeiT with ``<method>`` (baseline, paab, paat, paab+paat), fine-tuned from
  the alignment table's Lift encoder of the same seed (``benchmarks/alignment_table.py``; trained first
  when missing); ``<method>_scratch``: the same DeiT from scratch; ``_150``: trained 150 epochs, not 50;
- ``paat_ft_cls``: CLS readout instead of SpatialSoftmax; ``paat_ft_wrist``: the wrist camera alone;
  ``paat_ft_both``: third-person + wrist (robomimic's own setting); ``resnet18_both`` and
  ``<method>_scratch_both`` (100 epochs) likewise;
- ``frozen_paat``: today's policy on the frozen PAAT embeddings;
- ``state_gmm``, ``state_decay``: state BC with robomimic's GMM head, or its learning rate cut tenfold at
  epoch 100 (``bc.robomimic``); ``<method>_scratch_both_decay``: the both-camera DeiT, 80 epochs, its learning
  rate cut tenfold at epoch 50; ``<method>_conv_both``: the same with a convolutional stem (``encoder.stem=conv``);
  ``paat_detector_conv_both``: conv PAAT with the keypoint-finding head of ``method=paat_detector``.

Finished runs are skipped; an interrupted run continues from its ``training_state.pt`` (the same command
resumes it, on the machine that holds ``runs/``). A finished run's summary is copied into
``benchmarks/policy_table_runs/`` (committed), so the table keeps it after ``runs/`` is gone. After every run the table is rewritten into ``benchmarks/policy_table.md`` and between the
``policy_table`` markers of ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alignment_table import add_grid_arguments, command_lines, found_seeds, generate, run_child, run_grid, run_logged  # noqa: E402  (same mechanisms)
from alignment.policy import FIXED_CAMERA  # noqa: E402  (the policy's own advice for its demos)
from poseaware.runs import atomic_write_text  # noqa: E402

IMAGE = ["obs=image"]
DECAY = "+bc.robomimic.algo.optim_params.policy.learning_rate.epoch_schedule=[{}]"  # lr ×0.1 at that epoch
# configs/method/paat_detector.yaml's head (where each keypoint is, over the tokens), after the policy DeiT's 4 blocks
PAAT_DETECTOR = ["encoder.paat_after=4", "encoder.paat_target=p3d_softmax", "encoder.paat_lambda=1.0"]


def conv_both(backbone: str, epochs: int, every: int, decay: int) -> List[str]:
    """The DeiT with the conv stem on both cameras from scratch, ``epochs`` long, validated every ``every``,
    the learning rate cut tenfold at ``decay``."""
    return IMAGE + [f"backbone={backbone}", "cameras=[cam0,first_person]", "encoder.stem=conv", f"bc.epochs={epochs}",
                    f"validation.every={every}", DECAY.format(decay)]


ROWS: Dict[str, List[str]] = {
    "state": ["obs=state"],
    "proprio": ["obs=proprio"],
    "resnet18": IMAGE + ["backbone=resnet18", "cameras=[cam0]"],
    **{f"{m}_ft": IMAGE + [f"backbone={m}", "cameras=[cam0]", "init=ENCODER"] for m in ("baseline", "paab", "paat", "paab+paat")},
    **{f"{m}_scratch": IMAGE + [f"backbone={m}", "cameras=[cam0]"] for m in ("baseline", "paat")},
    # the DeiT's validation still rose at epoch 50 (5, 5, 10, 10, 25%): the same row trained three times as long
    "paat_ft_150": IMAGE + ["backbone=paat", "cameras=[cam0]", "init=ENCODER", "bc.epochs=150", "validation.every=25"],
    # from scratch the DeiT's validation first rose at epoch 40-50 (baseline 0, 0, 0, 15, 10%; PAAT 0, 0, 0, 0, 40%)
    **{f"{m}_scratch_150": IMAGE + [f"backbone={m}", "cameras=[cam0]", "bc.epochs=150", "validation.every=25"]
       for m in ("baseline", "paat")},
    "paat_ft_cls": IMAGE + ["backbone=paat", "cameras=[cam0]", "init=ENCODER", "readout=cls"],
    "paat_ft_wrist": IMAGE + ["backbone=paat", "cameras=[first_person]", "init=ENCODER"],
    "paat_ft_both": IMAGE + ["backbone=paat", "cameras=[cam0,first_person]", "init=ENCODER"],
    "resnet18_both": IMAGE + ["backbone=resnet18", "cameras=[cam0,first_person]"],
    # robomimic's own setting (third-person + wrist), the DeiT from scratch: 100 epochs (the single-camera DeiT
    # peaked there) at ~45 s each with two cameras on one core
    **{f"{m}_scratch_both": IMAGE + [f"backbone={m}", "cameras=[cam0,first_person]", "bc.epochs=100", "validation.every=20"]
       for m in ("baseline", "paat")},
    # the both-camera PAAT DeiT validated 30, 40, 75, 20, 35% (epochs 20-100): robomimic's learning rate cut
    # tenfold at epoch 50, near that peak, as state_decay steadied state BC; 80 epochs to fit two runs per session
    **{f"{m}_scratch_both_decay": IMAGE + [f"backbone={m}", "cameras=[cam0,first_person]", "bc.epochs=80",
                                           "validation.every=20", DECAY.format(50)] for m in ("baseline", "paat")},
    # the DeiT fits BC more slowly than ResNet18 (training loss 0.022 at epoch 40 against 0.010): its patchify
    # stem swapped for stride-2 convolutions (poseaware.stem), the remedy for ViTs on small data; else as _decay
    **{f"{m}_conv_both": conv_both(m, epochs=80, every=20, decay=50) for m in ("baseline", "paab", "paat")},
    # the paper's PAAT (BCE after block 1) was measured not to find keypoints (RESULTS, "camera from the arm"); the
    # head that does (method=paat_detector's: where each keypoint is, over the last block's tokens) as the policy's
    "paat_detector_conv_both": conv_both("paat", epochs=80, every=20, decay=50) + PAAT_DETECTOR,
    # conv PAAT's validations still rose at epoch 80 in two seeds of three (100%, 90%), and at 20-epoch spacing a tie
    # kept epoch 40 in the third (test 68%): half as long again, the decay as late in proportion, validated every 10
    **{f"{m}_conv_both_120": conv_both(m, epochs=120, every=10, decay=80) for m in ("baseline", "paat")},
    "frozen_paat": ["obs=embedding", "checkpoint=ENCODER", "train_views=[cam0]"],
    # robomimic's remedies for the epoch-to-epoch swings of plain BC (state validation 5-100%), tried on state
    # first: its GMM action head, and its learning rate cut tenfold at half the training
    "state_gmm": ["obs=state", "+bc.robomimic.algo.gmm.enabled=true"],
    "state_decay": ["obs=state", DECAY.format(100)],
}
DEFAULT_ROWS = ["state", "resnet18", "baseline_ft", "paat_ft"]


DETECTOR_METHOD = "paat_detector"  # a row's DETECTOR: the PAAT head trained to find keypoints (configs/method)


def encoder_method(row: str, overrides: Sequence[str]) -> Optional[str]:
    """The alignment encoder a row's ``ENCODER`` placeholder stands for: its backbone's method, or the
    ``frozen_<method>`` row's method."""
    if not any("ENCODER" in o for o in overrides):
        return None
    if row.startswith("frozen_"):
        return row.removeprefix("frozen_")
    backbone = next((o.split("=", 1)[1] for o in overrides if o.startswith("backbone=")), None)
    if backbone not in ("baseline", "paab", "paat", "paab+paat"):
        raise ValueError(f"row {row}: init=ENCODER needs a DeiT backbone (baseline, paab, paat, paab+paat), not "
                         f"{backbone}; drop init=ENCODER or set the backbone")
    return backbone


def run_dir(args, row: str, seed: int) -> str:
    return os.path.join(args.runs, args.env, row, f"seed{seed}")


RECORDED = ("rollouts.json", "config.yaml", "training.json")  # a finished run's summary, a few kB


def record_dir(args, row: str, seed: int) -> str:
    return os.path.join(args.record, args.env, row, f"seed{seed}")


def finished_dir(args, row: str, seed: int) -> Optional[str]:
    """Where a finished run's summary is: its run directory, or the committed record (``--record``), which
    keeps it when ``runs/`` is gone (a fresh clone, another machine)."""
    for folder in (run_dir(args, row, seed), record_dir(args, row, seed)):
        if os.path.exists(os.path.join(folder, "rollouts.json")):
            return folder
    return None


def record(args, row: str, seed: int) -> None:
    """Copy a finished run's summary into the record (atomically, file by file)."""
    for name in RECORDED:
        with open(os.path.join(run_dir(args, row, seed), name)) as f:
            atomic_write_text(os.path.join(record_dir(args, row, seed), name), f.read())


def result(args, row: str, seed: int) -> Optional[dict]:
    folder = finished_dir(args, row, seed)
    if folder is None:
        return None
    with open(os.path.join(folder, "rollouts.json")) as f:
        return json.load(f)


def encoder_checkpoint(args, method: str, seed: int) -> str:
    """The alignment table's Lift encoder of ``method`` and ``seed``, trained first when missing."""
    path = os.path.join(args.encoders, args.env, method, f"seed{seed}", "checkpoints", "best.pt")
    if not os.path.exists(path):
        # its table goes beside the encoders, not into RESULTS.md: rewritten from the runs on this machine,
        # it would replace the committed alignment grid with these few runs
        run_child([sys.executable, os.path.join(os.path.dirname(__file__), "alignment_table.py"),
                   "--envs", args.env, "--methods", method, "--seeds", str(seed), "--runs", args.encoders,
                   "--threads", str(args.threads), "--out", os.path.join(args.encoders, "alignment_table.md"),
                   "--results", os.path.join(args.encoders, "RESULTS.md")])
    return path


def budget(args, image: bool, overrides: Sequence[str] = ()) -> Dict[str, object]:
    """The settings a run must share with the table's header (checked on finished runs, which are reused),
    less those its row sets itself (``overrides``, e.g. a longer training)."""
    table = {"bc.epochs": args.image_epochs if image else args.state_epochs,
             "bc.steps_per_epoch": args.image_steps if image else args.state_steps,
             "validation.every": args.val_every_image if image else args.val_every_state,
             "validation.rollouts": args.val_rollouts, "horizon": args.horizon, "rollouts": args.rollouts}
    own = {o.split("=", 1)[0] for o in overrides}
    return {k: v for k, v in table.items() if k not in own}


def check_budget(args, row: str, seed: int, image: bool, overrides: Sequence[str] = (),
                 config_dir: Optional[str] = None, skip: Sequence[str] = (), data: Optional[str] = None) -> None:
    """A finished run made with another budget is named rather than mixed into this table: the row's
    finished run of ``seed``, or the run in ``config_dir`` about to be scored as it (less the ``skip``
    settings, which the scoring sets itself), and, where ``data`` is given, trained on other demos (another
    ``--episodes`` or ``--image-size`` names another file)."""
    from omegaconf import OmegaConf

    folder = config_dir or finished_dir(args, row, seed)
    config = OmegaConf.load(os.path.join(folder, "config.yaml"))
    differ = {k: (OmegaConf.select(config, k), v) for k, v in budget(args, image, overrides).items()
              if k not in skip and OmegaConf.select(config, k) != v}
    there = OmegaConf.select(config, "data")
    if data is not None and (there is None or os.path.abspath(there) != os.path.abspath(data)):
        differ["data"] = (there, data)
    if differ:
        raise ValueError(f"{config_dir or run_dir(args, row, seed)} was run with another budget ("
                         + ", ".join(f"{k}: {a} there, {b} here" for k, (a, b) in differ.items())
                         + "); move it aside (e.g. under runs/superseded/) or run the table with its budget")


def run(args, data: str, row: str, seed: int) -> None:
    train_and_test(args, data, row, seed, ROWS[row], ["first_person" if "wrist" in row else "cam0"])


def train_and_test(args, data: str, row: str, seed: int, overrides: Sequence[str], eval_views: Sequence[str]) -> None:
    """One run of a grid (``alignment.policy`` with ``overrides``, tested from ``eval_views``), unless it has
    finished; its summary is then recorded under ``--record``."""
    image = "obs=image" in overrides
    if result(args, row, seed) is not None:
        check_budget(args, row, seed, image, overrides, data=data)
        if not os.path.exists(os.path.join(record_dir(args, row, seed), "rollouts.json")):
            record(args, row, seed)
        return
    method = encoder_method(row, overrides)
    if method:
        checkpoint = encoder_checkpoint(args, method, seed)
        overrides = [o.replace("ENCODER", checkpoint) for o in overrides]
    if any("DETECTOR" in o for o in overrides):
        detector = encoder_checkpoint(args, DETECTOR_METHOD, seed)
        overrides = [o.replace("DETECTOR", detector) for o in overrides]
    settings = [f"{k}={v}" for k, v in budget(args, image, overrides).items()]
    cmd = [sys.executable, "-m", "alignment.policy", f"env={args.env}", f"data={data}", f"seed={seed}",
           f"run_dir={run_dir(args, row, seed)}", *overrides, *settings, "videos=2", "bc.filter_key=null",
           f"eval_views=[{','.join(eval_views)}]", "hydra/job_logging=disabled"]
    print(f"[{datetime.datetime.now():%H:%M}] {args.env} {row} seed {seed}", flush=True)
    run_logged(cmd, run_dir(args, row, seed), args.threads)
    record(args, row, seed)


def envs_on_disk(args) -> List[argparse.Namespace]:
    """``args`` for each env with runs or records (``args.env`` first), so one table holds Lift and Can."""
    found = {d for root in (args.runs, args.record) if os.path.isdir(root) for d in os.listdir(root)
             if os.path.isdir(os.path.join(root, d))}
    return [argparse.Namespace(**{**vars(args), "env": env}) for env in [args.env, *sorted(found - {args.env})]]


def table(args) -> str:
    lines = [*command_lines(args, __file__),
             f"Budget: {args.episodes} demos at {args.image_size} px (fixed cam0, every demo trained on); image "
             f"rows {args.image_epochs} epochs × {args.image_steps} steps of batch 16, low-dim rows "
             f"{args.state_epochs} × {args.state_steps} of batch 100, unless a row sets its own (the epochs "
             f"column); the kept epoch is the best of {args.val_rollouts} validation rollouts every "
             f"{args.val_every_image} (image) / {args.val_every_state} (low-dim) epochs, or as the row sets; "
             f"rollouts end at success or after {args.horizon} steps.  ",
             f"Machine: {os.cpu_count()} CPU cores; written {datetime.date.today()}. Test success over "
             f"{args.rollouts} seeded rollouts per run from the training camera (the wrist rows: the wrist camera), "
             f"mean ± std over the seeds listed; wall-clock per run (training with its validation rollouts + test "
             f"rollouts), mean.", "",
             "| env | row | seeds | test success | per seed | epochs | kept epochs | validation best | minutes per run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    devices, threads = set(), []
    for env_args, row in [(a, row) for a in envs_on_disk(args) for row in ROWS]:
        seeds = set(found_seeds(os.path.join(env_args.runs, env_args.env, row)))
        seeds |= set(found_seeds(os.path.join(env_args.record, env_args.env, row)))
        found = [(s, r) for s in sorted(seeds)
                 if (r := result(env_args, row, s)) is not None]
        if not found:
            continue
        devices |= {r.get("device", "cpu") for _, r in found}
        threads += [r.get("threads") for _, r in found]
        rates = [100 * next(iter(r["rollouts"].values()))["success_rate"] for _, r in found]
        best = [r["train"]["best"]["success_rate"] for _, r in found]
        minutes = [sum(r.get("wall_seconds", {}).values()) / 60 for _, r in found]
        lines.append(f"| {env_args.env} | {row} | {len(found)} | {np.mean(rates):.0f}% ± {np.std(rates):.0f} | "
                     f"{' / '.join(f'{x:.0f}' for x in rates)} | "
                     f"{' / '.join(sorted({str(r['train']['epoch']) for _, r in found}))} | "
                     f"{' / '.join(str(r['kept_epoch']) for _, r in found)} | "
                     f"{' / '.join('–' if b is None else f'{100 * b:.0f}%' for b in best)} | {np.mean(minutes):.0f} |")
    counts = ", ".join(f"{n} run{'s' * (n != 1)} with {t}" for t, n in sorted(Counter(t for t in threads if t is not None).items()))
    unknown = sum(t is None for t in threads)
    parts = [counts] * bool(counts) + [f"not recorded for {unknown} (before the runs kept it)"] * bool(unknown)
    lines.append(f"\nDevices the runs trained on: {', '.join(sorted(devices)) or '–'}. Torch threads per run (CPU "
                 f"training is reproducible only at the same count): {'; '.join(parts) or '–'}.")
    return "\n".join(lines)


def add_budget_arguments(p: argparse.ArgumentParser) -> None:
    """The demos and the image rows' budget, shared with ``camera_table.py``."""
    p.add_argument("--env", default="lift")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--image-size", type=int, default=84)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rollouts", type=int, default=50)
    p.add_argument("--val-rollouts", type=int, default=20)
    p.add_argument("--horizon", type=int, default=400, help="rollout steps (robomimic's; Lift demos take ~60)")
    p.add_argument("--image-epochs", type=int, default=50)
    p.add_argument("--image-steps", type=int, default=100)
    p.add_argument("--val-every-image", type=int, default=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_budget_arguments(p)
    p.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=list(ROWS))
    p.add_argument("--state-epochs", type=int, default=200)
    p.add_argument("--state-steps", type=int, default=100)
    p.add_argument("--val-every-state", type=int, default=20)
    p.add_argument("--record", default="benchmarks/policy_table_runs",
                   help="finished runs' summaries (rollouts.json, config.yaml, training.json), committed")
    add_grid_arguments(p, "policy_table")
    args = p.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    data = None
    if not args.table_only:
        data = generate(args.env, args.episodes, args.image_size,
                        os.path.join(args.data, f"{args.env}_policy{args.image_size}.hdf5"), FIXED_CAMERA)
    run_grid(args, data, run, table)


if __name__ == "__main__":
    main()
