"""The frame a policy's end-effector observations and actions are expressed in (``frame=robot|camera``).

The actions (robosuite's OSC_POSE: the end effector's translation and axis-angle rotation, then the gripper;
Pick's: its translation, then the gripper) and the proprioception's end-effector pose are in the world frame.
A camera-randomised policy must then infer from the background how its image's directions map to the world's.
With ``frame=camera`` they are expressed in the frame of its third-person camera, whose pose ``camera_input``
gives (the true extrinsics, or the camera solved from the arm): a motion to the image's right is the same
action whichever camera saw it. At
deployment the policy's actions are turned back into the world frame with the same pose; with
``camera_input=arm`` that needs no calibration.

Rotated, a translation inside robosuite's ``[-1, 1]³`` action box may leave it, and robomimic's BC squashes
its actions into ``[-1, 1]`` (tanh): camera-frame translations and rotations are divided by √3, the box's
half diagonal, and multiplied back at deployment (robosuite clips what leaves the box). A frame whose camera
is not solved yet (the pose's flag 0) stays in the world frame; the policy's pose input says which it is.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from envs.camera_from_arm import pose_vector_frame

FRAMES = ("robot", "camera")
EEF_POS, EEF_QUAT = "robot0_eef_pos", "robot0_eef_quat"  # robosuite's, the quaternion (x, y, z, w)
ACTION_SCALE = float(np.sqrt(3.0))
# the vectors of an action, by its size: translation (and axis-angle rotation), the gripper after them
MOTION = {4: (slice(0, 3),), 7: (slice(0, 3), slice(3, 6))}


def motion_parts(size: int) -> tuple:
    if size not in MOTION:
        raise ValueError(f"frame=camera turns actions of {' or '.join(map(str, MOTION))} values (a translation, a "
                         f"rotation with 7, then the gripper), not {size}: use frame=robot")
    return MOTION[size]


def check_frame(frame: str, camera_input: str) -> None:
    if frame not in FRAMES:
        raise ValueError(f"unknown frame {frame!r}; choose one of {', '.join(FRAMES)}")
    if frame == "camera" and camera_input == "none":
        raise ValueError("frame=camera expresses actions in the third-person camera's frame, so it needs that "
                         "camera's pose: give camera_input=arm (solved from the arm) or extrinsics (the true pose)")


def camera_frames(poses: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(T, 3, 3)`` camera -> world rotations and ``(T, 3)`` centres of ``(T, 10)`` camera pose vectors; an
    unsolved pose gives the world frame (identity, origin)."""
    poses = np.atleast_2d(np.asarray(poses, dtype=np.float64))  # one pose or (T, 10)
    rotations, centres = np.tile(np.eye(3), (len(poses), 1, 1)), np.zeros((len(poses), 3))
    for t, pose in enumerate(poses):
        if pose[-1] > 0.5:
            rotations[t], centres[t] = pose_vector_frame(pose)
    return rotations, centres


def actions_to_camera(actions: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """``(T, D)`` world-frame OSC_POSE actions in the frame of the camera posed at each step, scaled into the
    tanh range."""
    rotations, _ = camera_frames(poses)
    out = np.array(actions, dtype=np.float64)
    for part in motion_parts(out.shape[-1]):
        out[:, part] = np.einsum("tji,tj->ti", rotations, out[:, part]) / ACTION_SCALE
    return out.astype(np.asarray(actions).dtype)


def action_to_world(action: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """A camera-frame action of the policy back in the world frame, for the env."""
    rotation = camera_frames(pose)[0][0]
    out = np.array(action, dtype=np.float64)
    for part in motion_parts(out.shape[-1]):
        out[part] = rotation @ out[part] * ACTION_SCALE
    return out.astype(np.asarray(action).dtype)


def eef_to_camera(obs: Dict[str, np.ndarray], poses: np.ndarray) -> Dict[str, np.ndarray]:
    """``obs`` (arrays with a leading time axis) with the end effector's position and orientation in the frame
    of the camera posed at each step; other keys as they are."""
    rotations, centres = camera_frames(poses)
    out = dict(obs)
    if EEF_POS in obs:
        pos = np.asarray(obs[EEF_POS], dtype=np.float64)
        out[EEF_POS] = np.einsum("tji,tj->ti", rotations, pos - centres).astype(np.asarray(obs[EEF_POS]).dtype)
    if EEF_QUAT in obs:
        to_camera = Rotation.from_matrix(rotations).inv()
        quat = (to_camera * Rotation.from_quat(np.asarray(obs[EEF_QUAT], dtype=np.float64))).as_quat()
        out[EEF_QUAT] = quat.astype(np.asarray(obs[EEF_QUAT]).dtype)
    return out
