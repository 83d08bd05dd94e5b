"""The policy's training files, in robomimic's layout, made from an episode file.

``pool_training_views``: one robomimic demo per (demo, training camera), low-dim only.

A policy trained on several cameras sees each demo once from each of them; its embedding input has one
name, ``embedding``, whichever camera made it, so the same policy runs from any camera at rollout. The
file holds what robomimic's ``SequenceDataset`` reads (``actions``, ``rewards``, ``dones``, ``obs``,
``next_obs``, ``num_samples``, ``env_args`` and the ``mask`` split keys, a demo's copies in its demo's
split); no images, so it stays small.

``write_pose_images``: the demos with ``obs/<camera>_pose_image`` (the camera's image plus one channel per
keypoint, ``alignment.backbone.pose_image``) for a PAAB or PAAT backbone, and the low-dim keys.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence

import h5py
import numpy as np

from envs.dataset_io import demo_index, link_next_obs, obs_key
from poseaware.runs import atomic_write

from .backbone import POSE_IMAGE, pose_image

EMBEDDING_KEY = "embedding"
COPIED = ("actions", "rewards", "dones")


def copy_low_dim(source: h5py.Group, target: h5py.Group, low_dim_keys: Sequence[str]) -> h5py.Group:
    """A demo's actions, rewards, dones and low-dim ``obs``/``next_obs`` into ``target``."""
    target.attrs["num_samples"] = source.attrs["num_samples"]
    for key in COPIED:
        target.create_dataset(key, data=source[key][()])
    for part in ("obs", "next_obs"):
        group = target.create_group(part)
        for key in low_dim_keys:
            group.create_dataset(key, data=source[part][key][()])
    return target


def new_data_group(src: h5py.File, dst: h5py.File) -> h5py.Group:
    """``dst``'s ``data`` group with ``src``'s attributes (env_args, ...)."""
    data = dst.create_group("data")
    for key, value in src["data"].attrs.items():
        data.attrs[key] = value
    return data


def write_splits(src: h5py.File, dst: h5py.File, names: Dict[str, List[str]]) -> int:
    """The split keys (each demo's copies in its demo's split) and robomimic's ``total``."""
    data = dst["data"]
    for split, members in src.get("mask", {}).items():
        pooled = [n for m in members[()] for n in names.get(m.decode() if isinstance(m, bytes) else m, [])]
        dst.create_dataset(f"mask/{split}", data=np.array(pooled, dtype="S"))
    data.attrs["total"] = int(sum(data[n].attrs["num_samples"] for n in data))
    return len(data)


def pool_training_views(embedded: str, out: str, views: Sequence[str], low_dim_keys: Sequence[str]) -> int:
    """Write ``out`` from ``embedded`` (an ``alignment.embed`` file with ``<view>_embedding`` for each of
    ``views``): demo ``demo_<i * len(views) + j>`` is demo ``i`` seen from ``views[j]``. Returns the number
    of demos written."""
    views = list(views)
    if not views:
        raise ValueError("a policy needs at least one training view")

    def write(tmp: str) -> int:
        with h5py.File(embedded, "r") as src, h5py.File(tmp, "w") as dst:
            data = new_data_group(src, dst)
            names = {}  # source demo -> its copies
            for i, demo in enumerate(sorted(src["data"], key=demo_index)):
                group = src["data"][demo]
                missing = [v for v in views if obs_key(v, EMBEDDING_KEY) not in group["obs"]]
                if missing:
                    raise ValueError(f"{embedded}: data/{demo} has no embeddings of {missing}")
                names[demo] = []
                for j, view in enumerate(views):
                    name = f"demo_{i * len(views) + j}"
                    copy = copy_low_dim(group, data.create_group(name), low_dim_keys)
                    copy.attrs["source"] = f"{demo} from {view}"
                    for part in ("obs", "next_obs"):
                        copy[part].create_dataset(EMBEDDING_KEY, data=group[part][obs_key(view, EMBEDDING_KEY)][()])
                    names[demo].append(name)
            return write_splits(src, dst, names)

    count = []
    atomic_write(out, lambda tmp: count.append(write(tmp)))
    return count[0]


def pose_images_made_from(path: str, source: str, cameras: Sequence[str]) -> bool:
    """Whether ``path`` is a ``write_pose_images`` file of ``source`` and ``cameras`` (reusable as is)."""
    if not os.path.exists(path):
        return False
    with h5py.File(path, "r") as f:
        return (f.attrs.get("source") == os.path.abspath(source)
                and f.attrs.get("cameras") == json.dumps(list(cameras)))


def write_pose_images(source: str, out: str, cameras: Sequence[str], low_dim_keys: Sequence[str]) -> int:
    """Write ``out`` from the episode file ``source``: every demo under its own name with
    ``obs/<camera>_pose_image`` for each of ``cameras`` (robomimic's ``next_obs`` as links) and the low-dim
    keys. Returns the number of demos written."""
    def write(tmp: str) -> int:
        with h5py.File(source, "r") as src, h5py.File(tmp, "w") as dst:
            data = new_data_group(src, dst)
            for demo in sorted(src["data"], key=demo_index):
                group = src["data"][demo]
                copy = copy_low_dim(group, data.create_group(demo), low_dim_keys)
                for camera in cameras:
                    frames = pose_image(group["obs"][obs_key(camera, "image")][()],
                                        group["obs"][obs_key(camera, "keypoints")][()])
                    copy["obs"].create_dataset(obs_key(camera, POSE_IMAGE), data=frames,
                                               chunks=(1,) + frames.shape[1:], compression="lzf")
                link_next_obs(copy)
            dst.attrs["source"], dst.attrs["cameras"] = os.path.abspath(source), json.dumps(list(cameras))
            return write_splits(src, dst, {d: [d] for d in src["data"]})

    count = []
    atomic_write(out, lambda tmp: count.append(write(tmp)))
    return count[0]
