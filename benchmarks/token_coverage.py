"""How many patch tokens PAAB attends to: keypoint pose maps (with each dilation) against the robot
mask's patches, per env and view kind, on a generated dataset.

python benchmarks/token_coverage.py data/bench/pick.hdf5 [--patch 8] [--demos 5]

Prints, per view kind (training rig, held-out, first-person), the mean fraction of the N tokens that
are pose tokens, the fraction of frames with no pose token at all (PAAB then sees only CLS), and how
much of the robot's patches the keypoint tokens cover.
"""
import argparse

import numpy as np
import torch

from envs.cameras import is_heldout_view
from envs.dataset_io import EpisodeFile
from poseaware.pose_maps import dilate_token_mask, mask_token_map, patch_grid, pose_maps


def kind_of(view: str) -> str:
    return "first-person" if view == "first_person" else "held-out" if is_heldout_view(view) else "training rig"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--demos", type=int, default=5)
    args = p.parse_args()
    rows = {}
    with EpisodeFile(args.path) as f:
        for demo in f.demos[:args.demos]:
            for view in f.views:
                kp = torch.from_numpy(f.view_obs(demo, view, "keypoints"))
                masks = torch.from_numpy(f.view_obs(demo, view, "robot_mask").astype(bool))
                size = masks.shape[-2:]
                grid = patch_grid(size, args.patch)
                p2d, _ = pose_maps(kp, size, args.patch)
                robot = mask_token_map(masks, args.patch)
                stats = rows.setdefault(kind_of(view), {k: [] for k in ("d0", "d1", "mask", "empty", "cover")})
                stats["d0"].append(p2d.float().mean().item())
                stats["d1"].append(dilate_token_mask(p2d, grid, 1).float().mean().item())
                stats["mask"].append(robot.float().mean().item())
                stats["empty"].append((p2d.sum(1) == 0).float().mean().item())
                stats["cover"].append(((p2d & robot).sum() / robot.sum().clamp(min=1)).item())
    print(f"{args.path}, patch {args.patch}: fraction of tokens that are pose tokens")
    print("| views | keypoints | keypoints, dilation 1 | robot mask | frames without pose tokens | "
          "robot patches holding a keypoint |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, s in rows.items():
        print(f"| {kind} | " + " | ".join(f"{np.mean(s[k]):.2f}" for k in ("d0", "d1", "mask", "empty", "cover")) + " |")


if __name__ == "__main__":
    main()
