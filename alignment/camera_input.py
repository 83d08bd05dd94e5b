"""The policy camera's pose as a policy input (``camera_input=extrinsics|arm|paat``).

A policy whose camera moves between episodes otherwise has to infer where the camera stands from the
background (Jiang et al. 2025). Here it is told, as a low-dim key ``<camera>_camera_pose`` beside the image
(``envs.camera_from_arm.camera_pose_vector``: the camera's centre, its rotation, a solved flag), from:

- ``extrinsics``: the camera's true extrinsics (the oracle: what a calibrated rig gives);
- ``arm``: solved from the arm by PnP (``envs.camera_from_arm.ArmCameraTracker``), the 2D keypoints being
  the simulator's projection and the 3D ones forward kinematics of the proprioception;
- ``paat``: the same, with the 2D keypoints a PAAT head reads from the image (``keypoint_detector``):
  deployment then needs neither the simulator nor a calibration.

The same code runs over a demo's stored frames (training data) and a rollout's live ones.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from envs.camera_from_arm import ArmCameraTracker, camera_pose_vector, pose_vector_error
from envs.dataset_io import obs_key
from envs.simulator import Simulator

CAMERA_INPUTS = ("none", "extrinsics", "arm", "paat")
CAMERA_POSE = "camera_pose"


def camera_pose_key(camera: str) -> str:
    return obs_key(camera, CAMERA_POSE)


def check_camera_input(source: str, detector: Optional[str]) -> None:
    if source not in CAMERA_INPUTS:
        raise ValueError(f"unknown camera_input {source!r}; choose one of {', '.join(CAMERA_INPUTS)}")
    if source == "paat" and not detector:
        raise ValueError("camera_input=paat reads the arm's keypoints with a PAAT head: give "
                         "keypoint_detector=<alignment run>/checkpoints/best.pt of a method=paat encoder")
    if source != "paat" and detector:
        raise ValueError(f"keypoint_detector is read only with camera_input=paat, not {source!r}; drop it")


class CameraPoseInput:
    """One policy camera's pose, frame by frame: ``start`` at each episode (or demo), then one call per frame."""

    def __init__(self, source: str, detector=None, max_frames: int = 32) -> None:
        check_camera_input(source, "given" if detector is not None else None)
        if source == "none":
            raise ValueError("camera_input=none gives the policy no camera pose; build no CameraPoseInput")
        self.source, self.detector, self.max_frames = source, detector, max_frames
        self.tracker: Optional[ArmCameraTracker] = None

    def __getstate__(self) -> dict:
        # sent to rollout workers without the episode's tracker (it holds a simulator; each episode starts anew)
        return {**self.__dict__, "tracker": None}

    def start(self, sim: Simulator, intrinsics: np.ndarray, image_width: int) -> None:
        """A new episode: ``sim`` gives forward kinematics, ``intrinsics`` are the camera's (3, 3) for images
        ``image_width`` pixels wide."""
        # a detector's keypoint may be a token off, or another joint: RANSAC drops those beyond half a token
        threshold = self.detector.token_pixels(image_width) / 2 if self.detector is not None else None
        self.tracker = ArmCameraTracker(sim, intrinsics, self.max_frames, ransac_threshold=threshold)

    def __call__(self, image: np.ndarray, keypoints: np.ndarray, extrinsics: np.ndarray, joint_pos: np.ndarray,
                 gripper_qpos: np.ndarray) -> np.ndarray:
        """The ``(10,)`` pose vector for a frame: its ``(H, W, 3)`` image, ``(K, 2)`` projected keypoints (NaN
        = unseen), true ``(4, 4)`` extrinsics, and the arm's joints; each source reads only its own."""
        if self.source == "extrinsics":
            return camera_pose_vector(extrinsics)
        if self.tracker is None:
            raise RuntimeError("call start(sim, intrinsics, image_width) at the start of each episode")
        if self.source == "paat":
            keypoints = self.detector(np.asarray(image)[None])[0]
        return self.tracker.update(keypoints, joint_pos, gripper_qpos)

    def episode(self, sim: Simulator, intrinsics: np.ndarray, image_width: int, images: Optional[np.ndarray],
                keypoints: np.ndarray, extrinsics: np.ndarray, joint_pos: np.ndarray,
                gripper_qpos: np.ndarray) -> np.ndarray:
        """``(T, 10)`` pose vectors of a demo's frames, as a rollout would have got them one by one."""
        self.start(sim, intrinsics, image_width)
        if self.source == "extrinsics":
            return np.stack([camera_pose_vector(e) for e in extrinsics])
        if self.source == "paat":  # the detector in batches: the same keypoints as frame by frame
            keypoints = self.detector(np.asarray(images))
        return np.stack([self.tracker.update(k, j, g) for k, j, g in zip(keypoints, joint_pos, gripper_qpos)])


def load_camera_input(source: str, detector: Optional[str], device: torch.device) -> Optional[CameraPoseInput]:
    """The run's camera input (None for ``none``), its detector loaded from ``detector``."""
    check_camera_input(source, detector)
    if source == "none":
        return None
    from .keypoint_detector import PaatKeypointDetector

    return CameraPoseInput(source, PaatKeypointDetector(detector, device) if source == "paat" else None)


class DemoCameraPoses:
    """``poses(group, view)``: a stored demo's ``(T, 10)`` camera poses of ``view``, for the policy's training
    file. A context manager: it holds a simulator of ``env_name`` for forward kinematics."""

    def __init__(self, camera_input: CameraPoseInput, env_name: str, file_cameras: dict) -> None:
        from envs.registry import simulator_class

        self.camera_input, self.file_cameras = camera_input, file_cameras
        self.sim = simulator_class(env_name)() if camera_input.source != "extrinsics" else None
        self.errors: list = []  # per frame: (rotation degrees, centre metres), or None where unsolved

    def __call__(self, group, view: str) -> np.ndarray:
        obs = group["obs"]
        if view not in self.file_cameras:
            raise ValueError(f"the file records no intrinsics of view {view!r}; regenerate it with envs.generate")
        image, true = obs[obs_key(view, "image")], obs[obs_key(view, "extrinsics")][()]
        poses = self.camera_input.episode(self.sim, np.asarray(self.file_cameras[view]["intrinsics"]), image.shape[2],
                                          image[()] if self.camera_input.source == "paat" else None,
                                          obs[obs_key(view, "keypoints")][()], true, obs["robot0_joint_pos"][()],
                                          obs["robot0_gripper_qpos"][()])
        self.errors += [pose_vector_error(p, e) if p[-1] else None for p, e in zip(poses, true)]
        return poses

    def summary(self) -> str:
        """How far the poses given so far are from the true cameras: solved share, median errors."""
        solved = np.array([e for e in self.errors if e is not None]).reshape(-1, 2)
        text = f"solved in {len(solved)}/{len(self.errors)} frames"
        if len(solved):
            text += f", median error {np.median(solved[:, 0]):.2g} degrees and {np.median(solved[:, 1]):.2g} m"
        return text

    def reliable(self, solved: float = 0.9, degrees: float = 5.0) -> bool:
        """Whether most frames are solved, and close to the true camera."""
        found = [e for e in self.errors if e is not None]
        return bool(self.errors) and len(found) >= solved * len(self.errors) and \
            float(np.median([e[0] for e in found])) <= degrees

    def __enter__(self) -> "DemoCameraPoses":
        return self

    def __exit__(self, *exc) -> None:
        if self.sim is not None:
            self.sim.close()
