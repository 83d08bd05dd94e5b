"""Human skeleton formats of the action datasets: joint tables with left/right pairs, and the
readers and writers of their skeleton files (the one module for them; no simulator is imported).

- LCR-Net JSON (Toyota Smarthome, and the offline mocap set): ``read_lcrnet``, ``write_lcrnet``;
- NTU RGB+D ``.skeleton`` text: ``read_ntu_skeleton``;
- OpenPose-18 JSON in the same per-frame layout (N-UCLA): ``read_openpose``.

A horizontal flip must swap left and right joint ids, using the skeleton's own table:
``flip_keypoints`` does both the coordinate mirror and the swap.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .dataset_io import land, temp_path_for


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: Tuple[str, ...]
    pairs: Tuple[Tuple[int, int], ...]  # (left, right) joint ids swapped by a horizontal flip

    @property
    def flip_order(self) -> np.ndarray:
        order = np.arange(len(self.joints))
        for a, b in self.pairs:
            order[a], order[b] = b, a
        return order


# LCR-Net (Toyota Smarthome): 13 joints.
LCRNET13 = Skeleton("lcrnet13", (
    "right_ankle", "left_ankle", "right_knee", "left_knee", "right_hip", "left_hip", "right_wrist",
    "left_wrist", "right_elbow", "left_elbow", "right_shoulder", "left_shoulder", "head",
), ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)))

# Kinect v2 (NTU RGB+D): 25 joints.
NTU25 = Skeleton("ntu25", (
    "spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle",
    "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot", "spine_shoulder", "left_hand_tip",
    "left_thumb", "right_hand_tip", "right_thumb",
), ((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)))

# OpenPose COCO-18 (N-UCLA).
OPENPOSE18 = Skeleton("openpose18", (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
), ((5, 2), (6, 3), (7, 4), (11, 8), (12, 9), (13, 10), (15, 14), (17, 16)))


def flip_keypoints(keypoints: np.ndarray, width: float, skeleton: Skeleton) -> np.ndarray:
    """Mirror ``(..., K, 2)`` pixel keypoints of an image ``width`` wide and swap left/right ids."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.shape[-2] != len(skeleton.joints):
        raise ValueError(f"{skeleton.name} has {len(skeleton.joints)} joints, keypoints have {kp.shape[-2]}")
    out = kp[..., skeleton.flip_order, :].copy()
    out[..., 0] = width - out[..., 0]
    return out


# The offline mocap action set (envs.mocap), written in the Smarthome layout: its activity names.
MOCAP_CLASSES: Tuple[str, ...] = (
    "Walk", "Run", "Jump", "Kick", "Punch", "Spin", "Spinkick", "Cartwheel", "Backflip", "Roll", "Crawl",
    "Dance.A", "Dance.B", "Getup.Faceup", "Getup.Facedown",
)


def read_pose_json(path: str, skeleton: Skeleton) -> np.ndarray:
    """Smarthome-style skeleton JSON -> ``(T, K, 2)`` pixels of the first person; empty frames are NaN.

    Format: ``{"njts": K, "frames": [[{"pose2d": [x0..xK-1, y0..yK-1], ...}], [], ...]}`` (LCR-Net).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"skeleton file not found: {path!r} (expected beside its video)")
    with open(path) as f:
        data = json.load(f)
    num_joints = len(skeleton.joints)
    njts = int(data.get("njts", num_joints))
    if njts != num_joints:
        raise ValueError(f"{path!r}: {skeleton.name} has {num_joints} joints, the file says {njts}")
    out = np.full((len(data["frames"]), njts, 2), np.nan, dtype=np.float32)
    for t, people in enumerate(data["frames"]):
        if people:
            pose = np.asarray(people[0]["pose2d"], dtype=np.float32)
            out[t, :, 0], out[t, :, 1] = pose[:njts], pose[njts:2 * njts]
    out[(out < 0).any(-1)] = np.nan  # LCR-Net and our writer mark missing joints negative
    return out


def read_lcrnet(path: str) -> np.ndarray:
    return read_pose_json(path, LCRNET13)


def read_openpose(path: str) -> np.ndarray:
    return read_pose_json(path, OPENPOSE18)


def lcrnet_json(keypoints: np.ndarray, points3d: np.ndarray) -> dict:
    """Smarthome's LCR-Net skeleton file: per frame a list of people, each with pose2d [x.., y..]."""
    frames = []
    for kp, p3 in zip(keypoints, points3d):
        if np.isnan(kp).all():
            frames.append([])
            continue
        xy = np.nan_to_num(kp, nan=-1.0)
        frames.append([{"pose2d": xy[:, 0].tolist() + xy[:, 1].tolist(),
                        "pose3d": p3[:, 0].tolist() + p3[:, 1].tolist() + p3[:, 2].tolist(),
                        "cumscore": float(np.isfinite(kp).all(1).mean() * 10)}])
    return {"njts": len(LCRNET13.joints), "frames": frames}


def write_lcrnet(path: str, keypoints: np.ndarray, points3d: np.ndarray) -> None:
    """Write ``(T, 13, 2)`` pixels and ``(T, 13, 3)`` points as an LCR-Net JSON file, atomically."""
    tmp = temp_path_for(path)
    try:
        with open(tmp, "w") as f:
            json.dump(lcrnet_json(keypoints, points3d), f)
        land(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_ntu_skeleton(path: str) -> np.ndarray:
    """NTU ``.skeleton`` -> ``(T, 25, 2)`` colour-image pixels of the first tracked body; frames with no
    body are NaN."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"skeleton file not found: {path!r}")
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    try:
        pos = 0
        frames = int(lines[pos])
        pos += 1
        out = np.full((frames, 25, 2), np.nan, dtype=np.float32)
        for t in range(frames):
            bodies = int(lines[pos])
            pos += 1
            for b in range(bodies):
                pos += 1  # body info: id, clipped edges, hand states, lean, tracking state
                joints = int(lines[pos])
                pos += 1
                values = np.array([lines[pos + j].split() for j in range(joints)], dtype=np.float32)
                pos += joints
                if b == 0:
                    out[t, :joints] = values[:, 5:7]  # colorX, colorY
    except (IndexError, ValueError) as err:
        raise ValueError(f"{path!r} is not a valid NTU .skeleton file: {err}") from None
    return out
