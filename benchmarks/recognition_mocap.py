"""Unseen-view accuracy on the offline mocap set: baseline vs PAAB vs PAAT, several seeds, plus throughput.

python benchmarks/recognition_mocap.py --methods baseline paab paat --seeds 0 1 2 --epochs 10

Train on cameras 1-2, test on unseen cameras 3-4 (protocol ``mocap``), the default CPU-sized model.
Training throughput (clips/s) of each method is measured in this process on the same batches.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

from recognition.timesformer import PoseAwareTimeSformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alignment_table import load_metrics, run_logged  # noqa: E402  (stopped with this script, logged beside the run)


def accuracy(method: str, seed: int, args) -> float:
    run = os.path.join(args.runs, method, f"seed{seed}")
    found = load_metrics(run)
    if found is None:  # not tested yet
        cmd = [sys.executable, "-m", "recognition.train", f"method={method}", f"seed={seed}", f"run_dir={run}",
               f"optim.epochs={args.epochs}", "hydra/job_logging=disabled", *args.overrides]
        run_logged(cmd, run, args.threads)
        found = load_metrics(run)
    return found["test"]["metric"]


def throughput(methods, batch: int = 8, frames: int = 8, size: int = 64, iters: int = 5) -> dict:
    torch.manual_seed(0)
    video, kp = torch.randn(batch, frames, 3, size, size), torch.rand(batch, frames, 13, 2) * size
    models = {m: PoseAwareTimeSformer(method=m, num_classes=15, num_frames=frames, img_size=size, patch_size=8,
                                      preset="micro", num_keypoints=None if m == "baseline" else 13)
              for m in methods}
    opts = {m: torch.optim.SGD(models[m].parameters(), lr=0.01) for m in methods}
    times = {m: [] for m in methods}
    for i in range(iters + 1):
        for m in methods:
            start = time.perf_counter()
            out = models[m].train()(video, None if m == "baseline" else kp)
            loss = out.logits.logsumexp(1).mean() + (out.aux_loss if out.aux_loss is not None else 0)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
            if i:
                times[m].append(time.perf_counter() - start)
    return {m: batch / float(np.median(t)) for m, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", nargs="+", default=["baseline", "paab", "paat"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--runs", default="runs/recognition_mocap")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="OpenMP threads of each training run")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    speed = throughput(args.methods)
    acc = {m: np.array([accuracy(m, s, args) for s in args.seeds]) for m in args.methods}
    print(f"Command: `python {' '.join(sys.argv)}`\n")
    print("| method | unseen-view mCA (mean ± std) | train clips/s | time vs baseline |")
    print("| --- | --- | --- | --- |")
    for m in args.methods:
        print(f"| {m} | {acc[m].mean():.3f} ± {acc[m].std():.3f} | {speed[m]:.1f} | "
              f"{speed[args.methods[0]] / speed[m]:.2f}x |")


if __name__ == "__main__":
    main()
