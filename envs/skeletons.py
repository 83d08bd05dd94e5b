"""2D skeleton formats of the action datasets, with each format's left/right joint pairs.

A horizontal flip must swap left and right joint ids, using the skeleton's own table:
``flip_keypoints`` does both the coordinate mirror and the swap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np


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
