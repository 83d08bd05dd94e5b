"""Training-step and inference throughput (images/s) of each method, as a ratio to baseline.

python benchmarks/encoder_speed.py [--sizes 128 224] [--batch 32] [--iters 5] [--steps 1] [--precision 32|bf16]
``--precision bf16`` runs under bf16 autocast, as ``poseaware.engine`` trains on a GPU. All methods are
measured in one process, interleaved round by round, so load affects all alike; each round times ``--steps``
steps (a GPU step of DeiT-Tiny takes milliseconds, too short to time alone).
"""
import argparse
import time

import torch

from poseaware import PoseAwareEncoder

METHODS = ("baseline", "paab", "paat", "paab+paat")
K = 11


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1, help="steps timed together in each round")
    parser.add_argument("--precision", choices=("32", "bf16"), default="32")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"precision {args.precision}")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")
    for size in args.sizes:
        torch.manual_seed(0)
        images = torch.randn(args.batch, 3, size, size, device=device)
        kp = torch.rand(args.batch, K, 2, device=device) * size
        models = {m: PoseAwareEncoder(method=m, img_size=size, patch_size=16, num_keypoints=K).to(device)
                  for m in METHODS}
        opts = {m: torch.optim.AdamW(models[m].parameters(), lr=1e-4) for m in METHODS}
        train_t = {m: [] for m in METHODS}
        infer_t = {m: [] for m in METHODS}

        def step(m):
            model = models[m].train()
            with autocast:
                out = model(images, kp)
            loss = out.embedding.pow(2).mean() + (out.aux_loss if out.aux_loss is not None else 0)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()

        @torch.no_grad()
        def infer(m):
            with autocast:
                models[m].eval()(images, kp if "paab" in m else None)

        for i in range(args.iters + 1):  # round 0 warms up
            for m in METHODS:
                t = timed(lambda: [step(m) for _ in range(args.steps)], device) / args.steps
                s = timed(lambda: [infer(m) for _ in range(args.steps)], device) / args.steps
                if i:
                    train_t[m].append(t)
                    infer_t[m].append(s)
        base_train = sorted(train_t["baseline"])[len(train_t["baseline"]) // 2]
        base_infer = sorted(infer_t["baseline"])[len(infer_t["baseline"]) // 2]
        print(f"\n{size} px / patch 16, DeiT-Tiny")
        print("| method | train img/s | train time vs baseline | infer img/s | infer time vs baseline |")
        print("| --- | --- | --- | --- | --- |")
        for m in METHODS:
            tr = sorted(train_t[m])[len(train_t[m]) // 2]
            inf = sorted(infer_t[m])[len(infer_t[m]) // 2]
            print(f"| {m} | {args.batch / tr:.1f} | {tr / base_train:.3f}x | {args.batch / inf:.1f} | "
                  f"{inf / base_infer:.3f}x |")


if __name__ == "__main__":
    main()
