"""Downstream imitation: robomimic BC success per policy input x evaluation camera, 3 training seeds.

python benchmarks/bc_table.py --env lift --episodes 200 --seeds 0 1 2 --rollouts 20

Rows, all on the same demos, BC seeds and rollout seeds: ``state`` (object pose + proprio: the upper
bound), ``proprio`` (no vision: the lower bound), and BC on each alignment method's frozen embeddings
of ``cam0`` (encoder seed s for BC seed s, from ``benchmarks/alignment_table.py``'s runs). Columns:
the training camera itself, the held-out sector's cameras and the first-person view. The demos are
generated once into ``data/bench/<env>_bc.hdf5`` with one fixed training camera ``cam0`` (as robomimic's
agentview: the env's ring rig with one view and no jitter), held-out cameras drawn per episode from
the held-out sector, and the first-person view.
``--train-views cam0 cam1 cam2 cam3`` trains each policy on several cameras instead: the same demos
re-rendered once (``envs.rerender``, one shard per core) into ``data/bench/<env>_bc_sectors<N>.hdf5``,
where ``cam0``..``cam<N-1>`` are drawn per demo from the training sector (the alignment data's rig), and
the held-out and first-person cameras are as before; the ``cam0`` column then rolls out from a
training-sector camera drawn per rollout.
Finished runs are skipped, so the grid resumes; after every run the table is rewritten into
``benchmarks/bc_table.md`` and between the ``bc_table`` markers of ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alignment_table import THREADS, add_grid_arguments, command_lines, found_seeds, generate, run_grid, run_logged, stopped_with_the_grid  # noqa: E402  (same mechanisms)
from alignment.policy import FIXED_CAMERA  # noqa: E402  (the policy's own advice for its demos)
from envs.dataset_io import merge_files, shard_path  # noqa: E402
from envs.registry import simulator_class  # noqa: E402

VIEWS = ["cam0", "held0", "held1", "first_person"]
ROWS = ["state", "proprio", "baseline", "paab", "paat", "paab+paat", "paab_mask", "baseline_bg"]


def run_dir(args, row: str, seed: int) -> str:
    return os.path.join(args.runs, args.env, row, f"seed{seed}")


def result(args, row: str, seed: int):
    path = os.path.join(run_dir(args, row, seed), "rollouts.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["rollouts"]


def run(args, data: str, row: str, seed: int) -> None:
    if result(args, row, seed) is not None:
        return
    obs = row if row in ("state", "proprio") else "embedding"
    cmd = [sys.executable, "-m", "alignment.policy", f"env={args.env}", f"data={data}", f"obs={obs}", f"seed={seed}",
           f"run_dir={run_dir(args, row, seed)}", "overwrite=true", f"rollouts={args.rollouts}",
           f"bc.epochs={args.bc_epochs}", f"bc.steps_per_epoch={args.bc_steps}", f"bc.batch_size={args.bc_batch}",
           f"eval_views=[{','.join(VIEWS)}]", f"train_views=[{','.join(args.train_views)}]", "hydra/job_logging=disabled"]
    if obs == "embedding":
        checkpoint = os.path.join(args.encoders, args.env, row, f"seed{seed}", "checkpoints", "best.pt")
        if not os.path.exists(checkpoint):
            print(f"skipped {row} seed {seed}: no encoder at {checkpoint} (run benchmarks/alignment_table.py first)")
            return
        cmd.append(f"checkpoint={checkpoint}")
    print(f"[{datetime.datetime.now():%H:%M}] {args.env} {row} seed {seed}", flush=True)
    run_logged(cmd, run_dir(args, row, seed), args.threads)


def training_sector_copy(env: str, fixed: str, views: int) -> str:
    """The fixed-camera demos re-rendered with ``views`` training cameras drawn per demo from the
    training sector (the env's default jitter), one shard per core, then merged (the shards removed);
    made once."""
    out = fixed.replace("_bc.hdf5", f"_bc_sectors{views}.hdf5")
    if os.path.exists(out):
        return out
    default = simulator_class(env).default_rig()
    rig = ["rig.sampling=sectors", f"rig.jitter_azimuth={default.jitter_azimuth}",
           f"rig.jitter_elevation={default.jitter_elevation}", f"rig.jitter_radius={default.jitter_radius}"]
    shards = os.cpu_count() or 1
    with stopped_with_the_grid():
        jobs = [subprocess.Popen([sys.executable, "-m", "envs.rerender", f"input={fixed}", f"out={out}",
                                  f"num_views={views}", *rig, f"shard={i}", f"num_shards={shards}",
                                  "hydra/job_logging=disabled"], env={**os.environ, "OMP_NUM_THREADS": "1"})
                for i in range(shards)]
        try:
            failed = [job.wait() for job in jobs]
        except BaseException:  # stopped: the shards resume when the table is run again
            for job in jobs:
                job.kill()
            raise
    if any(failed):
        raise RuntimeError(f"re-rendering {fixed} failed; run the same command again to resume")
    parts = [shard_path(out, i, shards) for i in range(shards)]
    merge_files(parts, out)
    for part in parts:  # the merged file holds every demo
        os.remove(part)
    return out


def table(args) -> str:
    lines = [*command_lines(args, __file__),
             f"Budget: {args.episodes} demos at {args.image_size} px, BC {args.bc_epochs} epochs × {args.bc_steps} "
             f"steps of batch {args.bc_batch}; policies trained on {' + '.join(args.train_views)}"
             f"{' (drawn per demo from the training sector)' if len(args.train_views) > 1 else ''}.  ",
             f"Machine: {os.cpu_count()} CPU cores, {THREADS}; written {datetime.date.today()}. "
             f"Success rate over {args.rollouts} seeded rollouts per camera, mean ± std over the BC seeds listed.", "",
             "| env | policy input | seeds | " + " | ".join(VIEWS) + " |", "| --- | --- | --- | " + " | ".join("---" for _ in VIEWS) + " |"]
    for row in ROWS + [r for r in args.rows if r not in ROWS]:  # the whole grid on disk
        found = [r for s in found_seeds(os.path.join(args.runs, args.env, row)) if (r := result(args, row, s)) is not None]
        cells = []
        for view in VIEWS:
            rates = [100 * r[view]["success_rate"] for r in found if view in r]
            cells.append("–" if not rates else f"{np.mean(rates):.0f}% ± {np.std(rates):.0f}" if len(rates) > 1
                         else f"{rates[0]:.0f}%")
        lines.append(f"| {args.env} | {row} | {len(found)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="lift")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--rows", nargs="+", default=ROWS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rollouts", type=int, default=20)
    p.add_argument("--bc-epochs", type=int, default=50)
    p.add_argument("--bc-steps", type=int, default=100)
    p.add_argument("--bc-batch", type=int, default=100)
    p.add_argument("--train-views", nargs="+", default=["cam0"],
                   help="the policies' training cameras; several: the demos re-rendered from the training sector")
    add_grid_arguments(p, "bc_table")
    args = p.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    data = None
    if not args.table_only:
        data = generate(args.env, args.episodes, args.image_size, os.path.join(args.data, f"{args.env}_bc.hdf5"),
                        FIXED_CAMERA)
        if len(args.train_views) > 1:
            data = training_sector_copy(args.env, data, len(args.train_views))
    run_grid(args, data, run, table)


if __name__ == "__main__":
    main()
