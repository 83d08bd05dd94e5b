"""A trained image policy's action error on its own demos seen from other cameras: an offline look at what the
camera table's rollouts measure, in minutes instead of half an hour a row.

python benchmarks/offline_camera_error.py runs/camera_table/lift/random_baseline_conv_both/seed0 \
    --source data/bench/lift_policy84.hdf5 --views held0 held1 --demos 20

For the first ``--demos`` demos of the run's training file, the kept policy acts at every step from each of the
cameras that filled its third-person slot in training (the ``train`` row: the fit), and from each of ``--views``
of ``--source``, a file of the same states seen from other cameras (``envs.rerender`` makes one; the policy table's
demos keep two held-out cameras, 30–75° past Lift's training sector, ``held0`` nearer). The file for the other
cameras is made by the same code that made the run's own (``alignment.policy_data.write_policy_images``, the camera
pose solved as the run solves it), so the two differ only in the camera. Prints the median distance between the
policy's actions and the demos' (each action dimension in [-1, 1]) per camera group. The check: from the run's own
training cameras it is its fit, and the other cameras can only add to it where the policy does not carry across.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from typing import Dict, List, Sequence

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from alignment.backbone import POSE_IMAGE  # noqa: E402
from alignment.bc import batch_actions, load_bc  # noqa: E402
from alignment.camera_input import DemoCameraPoses, load_camera_input  # noqa: E402
from alignment.policy_data import copies_by_demo, write_policy_images  # noqa: E402
from envs.cameras import FIRST_PERSON  # noqa: E402
from envs.dataset_io import EpisodeFile, demo_index  # noqa: E402

def first_demos(source: str, count: int, out: str) -> List[str]:
    """``out``: ``source`` with only its first ``count`` demos (by index); returns their names."""
    with h5py.File(source, "r") as src, h5py.File(out, "w") as dst:
        names = sorted(src["data"], key=demo_index)[:count]
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        data = dst.create_group("data")
        for key, value in src["data"].attrs.items():
            data.attrs[key] = value
        for name in names:
            src.copy(src["data"][name], data, name)
    return names


def action_errors(policy, group: h5py.Group, keys: Sequence[str]) -> np.ndarray:
    """Per step of a robomimic demo group: the distance between the policy's action and the demo's."""
    acted = batch_actions(policy, {k: group["obs"][k][()] for k in keys})
    return np.linalg.norm(acted - group["actions"][()], axis=1)


def copies_by_camera(data: h5py.Group, demos: Sequence[str]) -> Dict[str, List[str]]:
    """The copies of ``demos`` in a policy file, by the camera that filled the slot."""
    found: Dict[str, List[str]] = {}
    for demo, copies in copies_by_demo(data).items():
        if demo in demos:
            for camera, name in copies.items():
                found.setdefault(camera, []).append(name)
    return found


def errors_of_run(run: str, source: str, views: Sequence[str], demos: int,
                  scratch: str) -> Dict[str, Dict[str, np.ndarray]]:
    """Per camera, the per-step action errors of ``run``'s policy over its first ``demos`` demos: ``training``,
    from the run's own training file (the cameras that filled its slot), and ``other``, from ``views`` of
    ``source`` (its policy file made again in ``scratch``)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(os.path.join(run, "config.yaml"))
    policy, saved = load_bc(os.path.join(run, "policy.pt"))
    keys = saved["shape_meta"]["all_obs_keys"]
    with h5py.File(cfg.data, "r") as f:  # the run's training demos, by their names in its own file
        names = sorted(f["data"], key=demo_index)[:demos]
    other, subset = os.path.join(scratch, "other.hdf5"), os.path.join(scratch, "other_source.hdf5")
    if first_demos(source, demos, subset) != names:
        raise ValueError(f"{source} does not hold the run's demos {names[0]}…{names[-1]}; give a file of the same "
                         f"states (the run's demos, or a file envs.rerender made from them)")
    with EpisodeFile(subset) as f:
        file_cameras, low_dim = f.cameras, [k for k in keys if k in f.low_dim_obs(f.demos[0])]
    images = {k: k.removesuffix(f"_{POSE_IMAGE}").removesuffix("_image") for k in keys
              if k.endswith(("_image", f"_{POSE_IMAGE}"))}
    slot = next(camera for camera in images.values() if camera != FIRST_PERSON)
    camera_in = load_camera_input(cfg.camera_input, cfg.get("keypoint_detector"), torch.device("cpu"))
    with DemoCameraPoses(camera_in, cfg.env.name, file_cameras) if camera_in else contextlib.nullcontext() as poses:
        write_policy_images(subset, other, list(images.values()), low_dim, any(k.endswith(POSE_IMAGE) for k in keys),
                            slot, views, camera_poses=poses, camera_input=cfg.camera_input,
                            frame=cfg.get("frame", "robot"))
    found = {}
    for part, path in (("training", os.path.join(run, "policy_data.hdf5")), ("other", other)):
        with h5py.File(path, "r") as f:
            groups = copies_by_camera(f["data"], names)
            if "" in groups or not groups:
                raise ValueError(f"{path} names no camera per copy; give a camera-randomised run (several "
                                 f"train_views)")
            found[part] = {camera: np.concatenate([action_errors(policy, f["data"][n], keys) for n in copies])
                           for camera, copies in groups.items()}
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories of camera-randomised image policies")
    p.add_argument("--source", required=True, help="the run's demos (the same states) seen from other cameras")
    p.add_argument("--views", nargs="+", required=True, help="cameras of --source to act from")
    p.add_argument("--demos", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"Median distance between the policy's actions and the demos', every step of the first {args.demos} "
          f"demos.\n")
    print("| run | training cameras | " + " | ".join(args.views) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in args.views) + " |")
    for run in args.runs:
        with tempfile.TemporaryDirectory() as scratch:
            found = errors_of_run(run, args.source, args.views, args.demos, scratch)
        fit = np.median(np.concatenate(list(found["training"].values())))
        print(f"| {run} | {fit:.3f} | " + " | ".join(f"{np.median(found['other'][v]):.3f}" for v in args.views)
              + " |", flush=True)


if __name__ == "__main__":
    main()
