"""What a dataset loader produces: one record per video, with its label and skeleton reader."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence

import numpy as np

from envs.skeletons import Skeleton


@dataclass
class VideoRecord:
    video: str  # path
    label: int
    skeleton_file: str
    meta: Dict[str, int] = field(default_factory=dict)  # subject, camera, ...


@dataclass
class DatasetSplit:
    """The records of one protocol split, the class names, and how to read their skeletons."""

    name: str
    records: List[VideoRecord]
    classes: Sequence[str]
    skeleton: Skeleton
    read_keypoints: Callable[[str], np.ndarray]  # file -> (T, K, 2) pixels, NaN where missing
    metric: str  # "mca" (mean class accuracy) or "top1"


def read_pose_json(path: str, num_joints: int) -> np.ndarray:
    """Smarthome-style skeleton JSON -> ``(T, K, 2)`` pixels of the first person; empty frames are NaN.

    Format: ``{"njts": K, "frames": [[{"pose2d": [x0..xK-1, y0..yK-1], ...}], [], ...]}`` (LCR-Net).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"skeleton file not found: {path!r} (expected beside its video)")
    with open(path) as f:
        data = json.load(f)
    njts = int(data.get("njts", num_joints))
    require(njts == num_joints, f"{path!r}: expected {num_joints} joints, the file says {njts}")
    out = np.full((len(data["frames"]), njts, 2), np.nan, dtype=np.float32)
    for t, people in enumerate(data["frames"]):
        if people:
            pose = np.asarray(people[0]["pose2d"], dtype=np.float32)
            out[t, :, 0], out[t, :, 1] = pose[:njts], pose[njts:2 * njts]
    out[(out < 0).any(-1)] = np.nan  # LCR-Net and our writers mark missing joints negative
    return out


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
