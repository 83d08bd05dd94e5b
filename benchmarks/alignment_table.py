"""env x method x seed alignment benchmark at a fixed compute budget; writes a markdown table.

python benchmarks/alignment_table.py --envs lift pick --methods baseline paab paat --seeds 0 1 2 \
    --epochs 8 --steps-per-epoch 20 --jobs 2 --out benchmarks/alignment_table.md

Each run is ``alignment.train`` with the default (cpu) preset and the given budget; datasets are the
env's default (generated on first use). Reported: test-split mean ± std over seeds of alignment error,
cycle error and Kendall's tau for seen and unseen views, and each method's relative change of unseen
alignment error against baseline (negative is better).
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

METRICS = ("alignment_error", "cycle_error", "kendall_tau")


def run(env, method, seed, args) -> dict:
    run_dir = os.path.join(args.runs, env, method, f"seed{seed}")
    metrics = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(metrics) or json.load(open(metrics)).get("test") is None:
        cmd = [sys.executable, "-m", "alignment.train", f"env={env}", f"method={method}", f"seed={seed}",
               f"run_dir={run_dir}", f"train.epochs={args.epochs}", f"train.steps_per_epoch={args.steps_per_epoch}",
               f"train.patience={args.epochs}", "hydra/job_logging=disabled", *args.overrides]
        env_vars = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env_vars, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.load(open(metrics))["test"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", nargs="+", default=["lift", "pick", "minecraft"])
    p.add_argument("--methods", nargs="+", default=["baseline", "paab", "paat"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps-per-epoch", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="runs/alignment_table")
    p.add_argument("--out", default="benchmarks/alignment_table.md")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = p.parse_args()
    for env in args.envs:  # make each dataset once, before runs race to create it
        run(env, args.methods[0], args.seeds[0], args)
    jobs = [(e, m, s) for e in args.envs for m in args.methods for s in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip(jobs, pool.map(lambda j: run(*j, args), jobs)))
    lines = [f"Command: `python {' '.join(sys.argv)}`", "",
             "| env | method | seen AE | unseen AE | unseen AE vs baseline | unseen cycle error | unseen Kendall tau |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for env in args.envs:
        base = np.mean([results[(env, "baseline", s)]["unseen/alignment_error"] for s in args.seeds]) \
            if "baseline" in args.methods else None
        for method in args.methods:
            vals = {k: np.array([results[(env, method, s)][k] for s in args.seeds])
                    for k in results[(env, method, args.seeds[0])]}
            fmt = lambda k: f"{vals[k].mean():.3f} ± {vals[k].std():.3f}"
            rel = f"{100 * (vals['unseen/alignment_error'].mean() / base - 1):+.1f}%" if base else "n/a"
            lines.append(f"| {env} | {method} | {fmt('seen/alignment_error')} | {fmt('unseen/alignment_error')} | "
                         f"{rel} | {fmt('unseen/cycle_error')} | {fmt('unseen/kendall_tau')} |")
    table = "\n".join(lines)
    print(table)
    with open(args.out, "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
