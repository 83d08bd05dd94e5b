"""Per-step overhead of the training engine (PyTorch Lightning) against a bare hand-written loop.

python benchmarks/engine_overhead.py [--steps 40] [--rounds 3] [--method paab]

Both run the alignment task's own ``training_step`` on the same seeded batches of a small Pick
dataset (the CPU preset's encoder, 64 px), in one process, round by round. A step is timed from
one batch's start to the next, so the engine's own per-step work (logging, progress bar,
callbacks, optimizer and scheduler plumbing) is inside it; the first 5 steps are warm-up.
"""
import argparse
import os
import statistics
import tempfile
import time

import torch
from hydra import compose, initialize_config_module
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader

from alignment.data import ViewBatches, Trajectories, load_frames, split_views
from alignment.task import AlignmentTask, _keep, build_encoder
from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset
from poseaware.engine import EngineConfig, fit, seed_everything

WARMUP = 5


class StepTimer(Callback):
    def __init__(self) -> None:
        self.starts = []

    def on_train_batch_start(self, trainer, task, batch, index) -> None:
        self.starts.append(time.perf_counter())


def per_step(starts) -> float:
    gaps = [b - a for a, b in zip(starts[WARMUP:], starts[WARMUP + 1:])]
    return statistics.median(gaps)


def make_task(cfg, path):
    seed_everything(0)
    with EpisodeFile(path) as f:
        views = split_views(f.views, 2)
        k = len(f.keypoint_names)
    encoder = build_encoder(cfg, k if cfg.method.name != "baseline" else None, 64)
    info = {"image_size": 64, "train_views": views.train, "test_views": views.test}
    pairs = ViewBatches(load_frames(path, "train", views.train, keypoints=cfg.method.name != "baseline"),
                        views.train, cfg.train.views_per_batch, cfg.train.batch_frames, cfg.train.steps_per_epoch, 0)
    return AlignmentTask(cfg, encoder, views, info), pairs


def hand_loop(cfg, path) -> float:
    task, pairs = make_task(cfg, path)
    optim = task.configure_optimizers()
    optimizer, scheduler = optim["optimizer"], optim["lr_scheduler"]["scheduler"]
    task.train()
    starts = []
    for step in range(len(pairs)):
        starts.append(time.perf_counter())
        loss = task.training_step(pairs[step], step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), cfg.optim.grad_clip)
        optimizer.step()
        scheduler.step()
    starts.append(time.perf_counter())
    return per_step(starts)


def engine_loop(cfg, path, run_dir) -> float:
    task, pairs = make_task(cfg, path)
    timer = StepTimer()
    with EpisodeFile(path) as f:
        views = split_views(f.views, 2)
    valid = Trajectories(path, "valid", views.train + views.test, keypoints=cfg.method.name != "baseline")
    fit(task, EngineConfig(run_dir=run_dir, epochs=1, monitor="valid/seen/alignment_error", mode="min",
                           grad_clip=cfg.optim.grad_clip),
        DataLoader(pairs, batch_size=None, collate_fn=_keep), DataLoader(valid, batch_size=None, collate_fn=_keep),
        extra_callbacks=[timer])
    return per_step(timer.starts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--method", default="paab")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "pick.hdf5")
    generate_dataset("pick", path, episodes=3, image_size=64, num_views=3, progress=False)
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("train", overrides=["env=pick", f"method={args.method}", f"data={path}",
                                          f"train.steps_per_epoch={args.steps}", "train.epochs=1"])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, method {args.method}, "
          f"{args.steps} steps per round, batch {cfg.train.batch_frames} frames x 2 views")
    hand, engine = [], []
    for r in range(args.rounds):
        hand.append(hand_loop(cfg, path))
        engine.append(engine_loop(cfg, path, os.path.join(tmp, f"run{r}")))
        print(f"round {r}: hand-written loop {hand[-1] * 1e3:.1f} ms/step, engine {engine[-1] * 1e3:.1f} ms/step, "
              f"ratio {engine[-1] / hand[-1]:.3f}")
    ratio = statistics.median(engine) / statistics.median(hand)
    print(f"engine / hand-written loop, median per-step time: {ratio:.3f}")


if __name__ == "__main__":
    main()
