"""How much a camera-randomised image policy's actions follow its camera, read from its own training demos.

python benchmarks/camera_input_sensitivity.py runs/camera_table/lift/random_baseline_conv_both/seed0 \
    runs/camera_table/lift/random_baseline_conv_both_arm/seed0

A camera-randomised run's ``policy_data.hdf5`` holds each demo once per training camera: the same states and
actions, another image (and, with ``camera_input``, another camera pose). For steps drawn at random (seeded), the
run's kept policy acts on one copy, then on the same step with (a) only the camera-pose input taken from another
copy, (b) the other copy whole (its image and its pose), and (c) the next step of the first copy, the size of a
change of action the task asks for. Prints the median distance between the actions per run. A run without a pose
input moves 0 under (a) by construction: the check that (a) swaps nothing else.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, Sequence

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from alignment.bc import batch_actions, load_bc  # noqa: E402
from alignment.policy_data import copies_by_demo  # noqa: E402


def policy_actions(policy, observations: Sequence[Dict[str, np.ndarray]]) -> np.ndarray:
    return batch_actions(policy, {k: np.stack([o[k] for o in observations]) for k in observations[0]})


def sensitivity(run: str, samples: int, seed: int) -> Dict[str, float]:
    policy, saved = load_bc(os.path.join(run, "policy.pt"))
    keys = saved["shape_meta"]["all_obs_keys"]
    pose_keys = [k for k in keys if k.endswith("_camera_pose")]
    rng = np.random.default_rng(seed)
    first, pose_swapped, camera_swapped, next_step = [], [], [], []
    with h5py.File(os.path.join(run, "policy_data.hdf5"), "r") as f:
        data = f["data"]
        groups = [list(copies.values()) for copies in copies_by_demo(data).values() if len(copies) > 1]
        if not groups:
            raise ValueError(f"{run}: its policy_data.hdf5 holds no demo seen from two cameras; give a "
                             f"camera-randomised run (several train_views)")
        for _ in range(samples):
            a, b = rng.choice(groups[rng.integers(len(groups))], 2, replace=False)
            t = int(rng.integers(data[a].attrs["num_samples"] - 1))
            obs_a, obs_b, later = ({k: data[name]["obs"][k][step] for k in keys}
                                   for name, step in ((a, t), (b, t), (a, t + 1)))
            first.append(obs_a)
            pose_swapped.append({**obs_a, **{k: obs_b[k] for k in pose_keys}})
            camera_swapped.append(obs_b)
            next_step.append(later)
    base = policy_actions(policy, first)

    def moved(observations) -> float:
        return float(np.median(np.linalg.norm(policy_actions(policy, observations) - base, axis=1)))

    return {"pose input swapped": moved(pose_swapped), "camera swapped": moved(camera_swapped),
            "next step": moved(next_step), "pose input": ", ".join(pose_keys) or "none"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories of camera-randomised image policies")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"Median distance between the actions (the policy's own, before robosuite clips them), {args.samples} "
          f"steps, seed {args.seed}.\n")
    print("| run | pose input | pose input swapped | camera swapped | next step |")
    print("| --- | --- | --- | --- | --- |")
    for run in args.runs:
        r = sensitivity(run, args.samples, args.seed)
        print(f"| {run} | {r['pose input']} | {r['pose input swapped']:.4f} | {r['camera swapped']:.4f} | "
              f"{r['next step']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
