"""Cost of a rollout's env step with and without the segmentation masks, in one process.

python benchmarks/rollout_step_cost.py [--env lift] [--size 84] [--steps 60] [--episodes 3]

A policy rollout renders its cameras every step. The robot and object masks cost MuJoCo a render pass of
their own, and only a frozen encoder reads them (PAAB's mask variants), so image-policy rollouts build
their env with ``masks=False``. Both envs here render the same views (a third-person camera and the wrist
camera, an image policy's both-camera setting), step the same scripted actions from the same episode seeds,
and alternate episode by episode, so load drifts affect both alike. Prints ms per env step and the ratio.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from envs.gym_env import MultiViewEnv  # noqa: E402
from envs.recorder import episode_seed  # noqa: E402


def episode_ms(env: MultiViewEnv, seed: int, steps: int) -> float:
    """Mean ms per ``env.step`` over up to ``steps`` scripted steps of episode ``seed``."""
    env.reset(options={"episode_seed": seed})
    times = []
    for _ in range(steps):
        action = env.scripted_action()
        start = time.perf_counter()
        _, _, success, truncated, _ = env.step(action)
        times.append(time.perf_counter() - start)
        if success or truncated:
            break
    return 1000 * float(np.mean(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="lift")
    p.add_argument("--size", type=int, default=84)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--episodes", type=int, default=3)
    args = p.parse_args()
    views = ["cam0", "first_person"]
    envs = {masks: MultiViewEnv(args.env, image_size=args.size, num_views=1, views=views, masks=masks)
            for masks in (True, False)}
    try:
        for env in envs.values():  # warm-up: GL contexts, caches
            episode_ms(env, episode_seed(0, 99), 5)
        ms = {True: [], False: []}
        for i in range(args.episodes):
            for masks, env in envs.items():
                ms[masks].append(episode_ms(env, episode_seed(0, i), args.steps))
    finally:
        for env in envs.values():
            env.close()
    with_masks, without = float(np.mean(ms[True])), float(np.mean(ms[False]))
    print(f"{args.env} at {args.size} px, views {views}, {args.episodes} episodes x up to {args.steps} steps")
    print(f"env step with masks: {with_masks:.1f} ms; without: {without:.1f} ms ({without / with_masks:.2f}x)")


if __name__ == "__main__":
    main()
