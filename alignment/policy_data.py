"""The policy's training files, in robomimic's layout, made from an episode file.

``pool_training_views``: one robomimic demo per (demo, training camera), low-dim only.

A policy trained on several cameras sees each demo once from each of them; its embedding input has one
name, ``embedding``, whichever camera made it, so the same policy runs from any camera at rollout. The
file holds what robomimic's ``SequenceDataset`` reads (``actions``, ``rewards``, ``dones``, ``obs``,
``next_obs``, ``num_samples``, ``env_args`` and the ``mask`` split keys, a demo's copies in its demo's
split); no images, so it stays small.

``write_policy_images``: the demos with each camera's images for an image policy, as ``obs/<camera>_image``
or, for a PAAB or PAAT backbone, ``obs/<camera>_pose_image`` (the image plus one channel per keypoint,
``alignment.backbone.pose_image``); the third-person camera may be filled by several of the file's cameras
in turn (camera-randomised training: one camera per sample).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Sequence

import h5py
import numpy as np

from envs.dataset_io import demo_index, link_next_obs, obs_key
from poseaware.runs import atomic_write

from .backbone import POSE_IMAGE, pose_image
from .camera_input import camera_pose_key
from .policy_frame import EEF_POS, EEF_QUAT, actions_to_camera, eef_to_camera

EMBEDDING_KEY = "embedding"
COPIED = ("actions", "rewards", "dones")


def copies_by_demo(data: h5py.Group) -> Dict[str, Dict[str, str]]:
    """A policy file's copies, ``{source demo: {camera that filled the slot: copy}}``, read from each copy's
    ``source`` attribute ("<demo> with <slot> from <camera>", or "<demo> from <camera>" for pooled embeddings); a
    demo that was not copied stands under camera ""."""
    found: Dict[str, Dict[str, str]] = {}
    for name in data:
        source = str(data[name].attrs.get("source", name))
        demo, _, camera = source.partition(" from ")
        found.setdefault(demo.partition(" with ")[0], {})[camera] = name
    return found


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


def image_file_settings(source: str, cameras: Sequence[str], slot: Optional[str], train_views: Sequence[str],
                        pose: bool, camera_input: str = "none", frame: str = "robot") -> str:
    """What a ``write_policy_images`` file was made from, as it records it (a rerun reuses a file only if equal);
    ``camera_input`` names the camera-pose input and its detector."""
    made = {"source": os.path.abspath(source), "cameras": list(cameras), "slot": slot,
            "train_views": list(train_views), "pose": pose, "camera_input": camera_input}
    if frame != "robot":  # files made before frames existed keep their record
        made["frame"] = frame
    return json.dumps(made, sort_keys=True)


def policy_images_made_from(path: str, settings: str) -> bool:
    if not os.path.exists(path):
        return False
    with h5py.File(path, "r") as f:
        return f.attrs.get("made_from") == settings


CameraPoses = Callable[[h5py.Group, str], np.ndarray]  # (demo group, view) -> (T, 10) camera poses


def write_policy_images(source: str, out: str, cameras: Sequence[str], low_dim_keys: Sequence[str], pose: bool,
                        slot: Optional[str] = None, train_views: Sequence[str] = (),
                        camera_poses: Optional[CameraPoses] = None, camera_input: str = "none",
                        frame: str = "robot") -> int:
    """Write ``out`` from the episode file ``source``, with ``obs/<camera>_image`` for each of ``cameras``
    (``<camera>_pose_image`` with keypoint channels when ``pose``), the low-dim keys and robomimic's
    ``next_obs`` links. With ``train_views``, the policy camera ``slot`` is filled by each of them in turn:
    demo ``demo_<i * k + j>`` is demo ``i`` with ``slot`` seen from ``train_views[j]`` (the other cameras as
    they are), each demo's copies in its demo's split, so a policy trained on it sees one camera per sample.
    ``camera_poses`` adds ``obs/<slot>_camera_pose``: the pose of the camera that fills ``slot`` in each copy
    (``alignment.camera_input``; ``camera_input`` describes it in the file's record); ``frame="camera"``
    expresses each copy's actions and end-effector pose in that camera's frame (``alignment.policy_frame``).
    Returns the number of demos written."""
    if frame != "robot" and camera_poses is None:
        raise ValueError(f"frame={frame} needs the camera's poses (camera_poses)")
    views = list(train_views) or [slot]
    kind = POSE_IMAGE if pose else "image"

    def frames(group: h5py.Group, view: str) -> np.ndarray:
        image = group["obs"][obs_key(view, "image")][()]
        return pose_image(image, group["obs"][obs_key(view, "keypoints")][()]) if pose else image

    def write(tmp: str) -> int:
        with h5py.File(source, "r") as src, h5py.File(tmp, "w") as dst:
            data = new_data_group(src, dst)
            names = {}  # source demo -> its copies
            for i, demo in enumerate(sorted(src["data"], key=demo_index)):
                group, names[demo] = src["data"][demo], []
                for j, view in enumerate(views):
                    name = f"demo_{i * len(views) + j}" if train_views else demo
                    copy = copy_low_dim(group, data.create_group(name), low_dim_keys)
                    copy.attrs["source"] = f"{demo} with {slot} from {view}" if train_views else demo
                    for camera in cameras:
                        array = frames(group, view if camera == slot else camera)
                        copy["obs"].create_dataset(obs_key(camera, kind), data=array, chunks=(1,) + array.shape[1:],
                                                   compression="lzf")
                    link_next_obs(copy)
                    if camera_poses is not None:
                        poses = camera_poses(group, view)
                        write_camera_pose(copy, slot, poses)
                        if frame == "camera":
                            to_camera_frame(copy, poses)
                    names[demo].append(name)
            dst.attrs["made_from"] = image_file_settings(source, cameras, slot, train_views, pose, camera_input, frame)
            return write_splits(src, dst, names)

    count = []
    atomic_write(out, lambda tmp: count.append(write(tmp)))
    return count[0]


def write_camera_pose(demo: h5py.Group, camera: str, poses: np.ndarray) -> None:
    """``obs/<camera>_camera_pose`` and robomimic's ``next_obs`` (the next frame's; the last frame's repeated,
    the camera standing still)."""
    poses = np.asarray(poses, dtype=np.float32)
    if len(poses) != demo.attrs["num_samples"]:
        raise ValueError(f"{len(poses)} camera poses for a demo of {demo.attrs['num_samples']} frames")
    demo["obs"].create_dataset(camera_pose_key(camera), data=poses)
    demo["next_obs"].create_dataset(camera_pose_key(camera), data=np.concatenate([poses[1:], poses[-1:]]))


def to_camera_frame(demo: h5py.Group, poses: np.ndarray) -> None:
    """A written copy's actions and end-effector pose (``obs``, and ``next_obs`` with the next frame's camera)
    rewritten in the frame of the camera posed at each step."""
    next_poses = np.concatenate([poses[1:], poses[-1:]])
    demo["actions"][...] = actions_to_camera(demo["actions"][()], poses)
    for part, at in (("obs", poses), ("next_obs", next_poses)):
        group = demo[part]
        keys = [k for k in (EEF_POS, EEF_QUAT) if k in group]
        moved = eef_to_camera({k: group[k][()] for k in keys}, at)
        for key in keys:
            group[key][...] = moved[key]
