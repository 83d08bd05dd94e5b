"""Wall-clock of a policy's test rollouts in one process against ``rollout_workers=N``, in one process.

python benchmarks/rollout_workers_speed.py --run-dir runs/camera_table/lift/<row>/seed0 [--views beyond15 beyond45]
    [--rollouts 4] [--horizon 100] [--workers 2] [--threads 1]

``alignment.evaluate_policy`` scores the run's policy from ``--views`` twice, into temporary files: one process,
then ``--workers`` processes side by side (the baseline first, then the workers, then each again, so load drifts
affect both alike). Prints seconds per call, the ratio, and whether both gave the same episodes (they must).
Needs free cores: run it alone.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402
from hydra import compose, initialize_config_module  # noqa: E402

from alignment.evaluate_policy import evaluate_policy  # noqa: E402


def timed_evaluation(run_dir: str, views, rollouts: int, horizon: int, workers: int, out: str):
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("evaluate_policy", overrides=[f"run_dir={run_dir}", f"eval_views=[{','.join(views)}]",
                                                    f"rollouts={rollouts}", f"horizon={horizon}",
                                                    f"rollout_workers={workers}", f"out={out}", "overwrite=true"])
    start = time.perf_counter()
    results = evaluate_policy(cfg)
    return time.perf_counter() - start, results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, help="a finished alignment.policy run")
    p.add_argument("--views", nargs="+", default=["beyond15", "beyond45"])
    p.add_argument("--rollouts", type=int, default=4)
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the process and of each worker")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seconds = {1: [], args.workers: []}
    same = True
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            found = {}
            for workers in seconds:
                took, found[workers] = timed_evaluation(args.run_dir, args.views, args.rollouts, args.horizon, workers,
                                                        os.path.join(folder, f"w{workers}.json"))
                seconds[workers].append(took)
            same &= found[1] == found[args.workers]
    one, many = min(seconds[1]), min(seconds[args.workers])
    print(f"{len(args.views)} views x {args.rollouts} rollouts (horizon {args.horizon}), {os.cpu_count()} CPU cores, "
          f"{args.threads} torch thread(s) each: 1 process {one:.1f} s, {args.workers} workers {many:.1f} s "
          f"(best of {args.rounds}); ratio {many / one:.2f}; the same episodes: {same}")


if __name__ == "__main__":
    main()
