"""The camera's pose from the arm it sees (DREAM-style PnP, Lee et al. 2020).

Per frame, the 2D keypoints of the arm in a view and the 3D positions that forward kinematics gives
from proprioception (``robot0_joint_pos``, ``robot0_gripper_qpos``) are a Perspective-n-Point problem
whose answer is the view's extrinsics (world -> camera, OpenCV axes, as ``obs/<view>_extrinsics``):
no calibration target, only the robot. Solved with OpenCV's SQPnP (globally optimal for any number of
points, planar or not) and polished by Levenberg-Marquardt on the reprojection error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from .simulator import Simulator

# Three points leave up to four P3P poses, so four is the least that fixes one camera in general.
MIN_KEYPOINTS = 4
# Keypoints closer than this in 3D count once: the Panda's joint1/joint2 and joint5/joint6 anchors coincide.
DISTINCT_M = 1e-3


@dataclass
class CameraFit:
    """A camera solved from keypoints."""

    extrinsics: np.ndarray  # (4, 4) world -> camera
    reprojection_rms: float  # pixels, over the keypoints the fit used
    used: np.ndarray  # (..., K) bool: finite keypoints the fit used (RANSAC's inliers when asked for)


def distinct_points(points: np.ndarray, tolerance: float = DISTINCT_M) -> np.ndarray:
    """The points ``(N, 3)`` with near-duplicates (closer than ``tolerance``) dropped."""
    kept = np.empty((0, 3))
    for p in np.asarray(points, dtype=np.float64):
        if not len(kept) or np.linalg.norm(kept - p, axis=1).min() >= tolerance:
            kept = np.vstack([kept, p])
    return kept


def check_solvable(points_3d: np.ndarray, visible: int) -> None:
    """Refuse point sets that do not fix a camera: fewer than ``MIN_KEYPOINTS`` distinct positions, or all
    on one line (the pose could turn about it)."""
    distinct = distinct_points(points_3d)
    advice = ("the arm does not fix this camera here; skip the frame, solve several frames of a still camera "
              "together, or use a view that shows more of the arm")
    if len(distinct) < MIN_KEYPOINTS:
        raise ValueError(f"{visible} keypoints visible ({len(distinct)} distinct 3D positions); PnP needs at least "
                         f"{MIN_KEYPOINTS} distinct ones: {advice}")
    centred = distinct - distinct.mean(0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    off_line = np.linalg.norm(centred - np.outer(centred @ direction, direction), axis=1)
    if off_line.max() < DISTINCT_M:
        raise ValueError(f"{visible} keypoints visible, all on one line in 3D; the camera could turn about it: "
                         f"{advice}")


def _points(value, dim: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., K, {dim}), got {arr.shape}")
    return arr


def extrinsics_from_keypoints(keypoints_2d: np.ndarray, keypoints_3d: np.ndarray, intrinsics: np.ndarray,
                              ransac_threshold: Optional[float] = None) -> CameraFit:
    """Solve a camera's world -> camera extrinsics from ``(..., K, 2)`` pixels (x = column, y = row; NaN =
    missing) and the same keypoints' ``(..., K, 3)`` world positions; only keypoints finite in both are
    used. Leading axes are frames of a camera that did not move, solved together: as the arm moves, its
    keypoints spread through the workspace and pixel noise averages out.

    ``ransac_threshold`` (pixels) first keeps the keypoints that agree with a RANSAC consensus: for
    keypoints that may be far off (a detector's), not for small noise, which the least-squares fit
    already averages. Raises ``ValueError`` when the usable keypoints do not fix the camera.
    """
    kp2, kp3 = _points(keypoints_2d, 2, "keypoints_2d"), _points(keypoints_3d, 3, "keypoints_3d")
    k = np.asarray(intrinsics, dtype=np.float64)
    if k.shape != (3, 3):
        raise ValueError(f"intrinsics must be a (3, 3) matrix, got shape {k.shape}")
    if kp2.shape[:-1] != kp3.shape[:-1]:
        raise ValueError(f"keypoints_2d {kp2.shape} and keypoints_3d {kp3.shape} hold different keypoints; pass "
                         f"the same keypoints of the same frames, in the same order")
    shape = kp2.shape[:-1]
    kp2, kp3 = kp2.reshape(-1, 2), kp3.reshape(-1, 3)
    used = np.isfinite(kp2).all(-1) & np.isfinite(kp3).all(-1)
    check_solvable(kp3[used], int(used.sum()))
    if ransac_threshold is not None:
        found, _, _, inliers = cv2.solvePnPRansac(kp3[used], kp2[used], k, None, reprojectionError=ransac_threshold,
                                                  iterationsCount=200, confidence=0.999, flags=cv2.SOLVEPNP_SQPNP)
        if not found or inliers is None:
            raise ValueError(f"RANSAC found no pose that enough of the {int(used.sum())} visible keypoints agree "
                             f"with within {ransac_threshold} px; raise ransac_threshold")
        keep = np.zeros(int(used.sum()), dtype=bool)
        keep[inliers.ravel()] = True
        used[np.flatnonzero(used)[~keep]] = False
        check_solvable(kp3[used], int(used.sum()))
    obj, img = kp3[used], kp2[used]
    found, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_SQPNP)
    if not found:
        raise ValueError(f"PnP found no camera for the {int(used.sum())} visible keypoints; are the 2D and 3D "
                         f"keypoints of the same frame, and the intrinsics those of this view?")
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, None, rvec, tvec)
    projected = cv2.projectPoints(obj, rvec, tvec, k, None)[0].reshape(-1, 2)
    ext = np.eye(4)
    ext[:3, :3] = cv2.Rodrigues(rvec)[0]
    ext[:3, 3] = tvec.ravel()
    rms = float(np.sqrt(np.mean(np.sum((projected - img) ** 2, axis=1))))
    return CameraFit(ext, rms, used.reshape(shape))


def extrinsics_from_arm(sim: Simulator, keypoints_2d: np.ndarray, joint_pos: np.ndarray, gripper_qpos: np.ndarray,
                        intrinsics: np.ndarray, ransac_threshold: Optional[float] = None) -> CameraFit:
    """A camera from the arm: its keypoints ``(K, 2)`` in the view and its proprioception (``(7,)`` joint
    angles, ``(2,)`` finger positions), whose forward kinematics (``sim.keypoints_from_joints``) places the
    same keypoints in the world. Frames of a still camera may be stacked: ``(T, K, 2)``, ``(T, 7)``, ``(T, 2)``."""
    joints = np.asarray(joint_pos, dtype=np.float64)
    fingers = np.asarray(gripper_qpos, dtype=np.float64)
    if joints.ndim < 1 or joints.shape[:-1] != fingers.shape[:-1]:
        raise ValueError(f"joint_pos {joints.shape} and gripper_qpos {fingers.shape} must be of the same frames: "
                         f"(7,) and (2,), or (T, 7) and (T, 2)")
    points = np.stack([sim.keypoints_from_joints(j, g) for j, g in zip(joints.reshape(-1, joints.shape[-1]),
                                                                       fingers.reshape(-1, fingers.shape[-1]))])
    return extrinsics_from_keypoints(keypoints_2d, points.reshape(joints.shape[:-1] + points.shape[1:]),
                                     intrinsics, ransac_threshold)


def extrinsics_error(estimated: np.ndarray, true: np.ndarray) -> Tuple[float, float]:
    """(rotation error in degrees, the geodesic angle between the two rotations; translation error in
    metres, the distance between the two camera centres) of world -> camera extrinsics ``(4, 4)``."""
    est, ref = np.asarray(estimated, dtype=np.float64), np.asarray(true, dtype=np.float64)
    # from_matrix orthonormalises, so extrinsics stored as float32 compare fairly
    r_est, r_ref = Rotation.from_matrix(est[:3, :3]), Rotation.from_matrix(ref[:3, :3])
    angle = float(np.degrees((r_est * r_ref.inv()).magnitude()))
    centre_est = -r_est.as_matrix().T @ est[:3, 3]
    centre_ref = -r_ref.as_matrix().T @ ref[:3, 3]
    return angle, float(np.linalg.norm(centre_est - centre_ref))


# A camera's pose as a policy input: its centre in the world (3), the first two columns of its camera -> world
# rotation (6; a continuous rotation code, Zhou et al. 2019), and 1 where solved (0: not yet, all zeros).
POSE_VECTOR_SIZE = 10


def camera_pose_vector(extrinsics: np.ndarray) -> np.ndarray:
    """``(10,)`` float32 policy input of a world -> camera ``(4, 4)`` extrinsics matrix."""
    ext = np.asarray(extrinsics, dtype=np.float64)
    if ext.shape != (4, 4):
        raise ValueError(f"extrinsics must be a (4, 4) world -> camera matrix, got shape {ext.shape}")
    to_world = ext[:3, :3].T
    centre = -to_world @ ext[:3, 3]
    return np.concatenate([centre, to_world[:, 0], to_world[:, 1], [1.0]]).astype(np.float32)


UNSOLVED = np.zeros(POSE_VECTOR_SIZE, dtype=np.float32)


def pose_vector_frame(pose: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A ``camera_pose_vector``'s ``(3, 3)`` camera -> world rotation and ``(3,)`` centre in the world (its
    rotation's third column is the cross product of the two it stores)."""
    centre, x_axis, y_axis = (np.asarray(pose[i:i + 3], dtype=np.float64) for i in (0, 3, 6))
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=1), centre


def pose_vector_error(pose: np.ndarray, extrinsics: np.ndarray) -> Tuple[float, float]:
    """``extrinsics_error`` (degrees, metres) of a solved ``camera_pose_vector`` against true extrinsics."""
    to_world, centre = pose_vector_frame(pose)
    ext = np.eye(4)
    ext[:3, :3] = to_world.T
    ext[:3, 3] = -to_world.T @ centre
    return extrinsics_error(ext, extrinsics)


class ArmCameraTracker:
    """A still camera found from the arm frame by frame, as a policy sees it: each ``update`` adds the
    frame's keypoints and solves the camera from the last ``max_frames`` frames together (more of the arm's
    workspace, less noise), keeping the last solution while the visible arm does not fix it (``UNSOLVED``
    until it first does). The same tracker runs over a demo's frames and over a rollout's, so a policy is
    trained on what it will be given."""

    def __init__(self, sim: Simulator, intrinsics: np.ndarray, max_frames: int = 32,
                 ransac_threshold: Optional[float] = None) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.sim, self.intrinsics = sim, np.asarray(intrinsics, dtype=np.float64)
        self.max_frames, self.ransac_threshold = max_frames, ransac_threshold
        self.reset()

    def reset(self) -> None:
        """A new episode (the camera may have moved)."""
        self._pixels: list = []
        self._points: list = []
        self.pose = UNSOLVED.copy()
        self.fit: Optional[CameraFit] = None

    def update(self, keypoints_2d: np.ndarray, joint_pos: np.ndarray, gripper_qpos: np.ndarray) -> np.ndarray:
        """Add a frame: ``(K, 2)`` keypoints (NaN = not seen), ``(7,)`` joint angles, ``(2,)`` fingers; returns
        the camera's ``(10,)`` pose vector."""
        self._pixels = (self._pixels + [np.asarray(keypoints_2d, dtype=np.float64)])[-self.max_frames:]
        self._points = (self._points + [self.sim.keypoints_from_joints(joint_pos, gripper_qpos)])[-self.max_frames:]
        try:
            self.fit = extrinsics_from_keypoints(np.stack(self._pixels), np.stack(self._points), self.intrinsics,
                                                 self.ransac_threshold)
        except (ValueError, cv2.error):
            return self.pose  # this frame's arm leaves the camera unfixed: the last solution stands
        self.pose = camera_pose_vector(self.fit.extrinsics)
        return self.pose
