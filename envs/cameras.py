"""Pinhole cameras, the multi-view rig around a workspace, and keypoint projection.

Conventions (OpenCV): extrinsics map world to camera, camera x right, y down, z forward.
Pixel ``(x, y)``: x is the column, y the row, origin at the top-left corner of the image,
pixel ``i`` spanning ``[i, i + 1)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

# OpenCV camera axes -> OpenGL/MuJoCo camera axes (y up, looking down -z).
CV_TO_GL = np.diag([1.0, -1.0, -1.0])


@dataclass
class Camera:
    name: str
    intrinsics: np.ndarray  # (3, 3)
    extrinsics: np.ndarray  # (4, 4) world -> camera
    width: int
    height: int
    fovy: float  # vertical field of view, degrees

    @property
    def position(self) -> np.ndarray:
        rot, trans = self.extrinsics[:3, :3], self.extrinsics[:3, 3]
        return -rot.T @ trans

    def to_json(self) -> dict:
        return {
            "intrinsics": self.intrinsics.tolist(),
            "extrinsics": self.extrinsics.tolist(),
            "image_size": [self.height, self.width],
            "fovy": self.fovy,
        }


def intrinsics_from_fovy(fovy_deg: float, width: int, height: int) -> np.ndarray:
    focal = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2)
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)


def look_at(eye: Sequence[float], target: Sequence[float], up: Sequence[float] = (0, 0, 1)) -> np.ndarray:
    """World-to-camera extrinsics of a camera at ``eye`` looking at ``target``."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-8:  # looking straight along `up`
        right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    ext = np.eye(4)
    ext[:3, :3] = rot
    ext[:3, 3] = -rot @ eye
    return ext


def camera_from_pose(name: str, position: np.ndarray, rot_cam_to_world_gl: np.ndarray,
                     fovy: float, width: int, height: int) -> Camera:
    """Camera from an OpenGL-style pose (MuJoCo ``cam_xmat``): columns are x right, y up, z back."""
    rot_c2w_cv = rot_cam_to_world_gl @ CV_TO_GL
    ext = np.eye(4)
    ext[:3, :3] = rot_c2w_cv.T
    ext[:3, 3] = -rot_c2w_cv.T @ position
    return Camera(name, intrinsics_from_fovy(fovy, width, height), ext, width, height, fovy)


def project(points: np.ndarray, camera: Camera) -> np.ndarray:
    """Project world points ``(..., 3)`` to pixels ``(..., 2)``; behind or outside the image is NaN."""
    pts = np.asarray(points, dtype=np.float64)
    cam = pts @ camera.extrinsics[:3, :3].T + camera.extrinsics[:3, 3]
    z = cam[..., 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (cam @ camera.intrinsics.T)[..., :2] / z
    inside = (
        (z[..., 0] > 1e-6)
        & (uv[..., 0] >= 0) & (uv[..., 0] < camera.width)
        & (uv[..., 1] >= 0) & (uv[..., 1] < camera.height)
    )
    uv[~inside] = np.nan
    return uv.astype(np.float32)


@dataclass
class RigConfig:
    """Third-person cameras on a ring/hemisphere around the workspace (angles in degrees)."""

    num_views: int = 4
    radius: float = 1.4
    height: float = 0.0  # height of the look-at point above the workspace centre
    azimuth_range: Tuple[float, float] = (-90.0, 90.0)
    elevation_range: Tuple[float, float] = (20.0, 50.0)
    fovy: float = 45.0
    jitter_azimuth: float = 5.0
    jitter_elevation: float = 3.0
    jitter_radius: float = 0.05  # fraction of the radius
    center: Tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))

    def __post_init__(self) -> None:
        if int(self.num_views) < 1:
            raise ValueError(f"num_views must be at least 1, got {self.num_views}")
        self.num_views = int(self.num_views)
        self.azimuth_range = tuple(float(a) for a in self.azimuth_range)
        self.elevation_range = tuple(float(e) for e in self.elevation_range)
        self.center = tuple(float(c) for c in self.center)

    def to_json(self) -> dict:
        return asdict(self)


def view_names(num_views: int, first_person: bool) -> List[str]:
    return [f"cam{i}" for i in range(num_views)] + (["first_person"] if first_person else [])


def make_rig(config: RigConfig, width: int, height: int, seed: int) -> List[Camera]:
    """Place ``num_views`` cameras evenly in azimuth, alternating elevation, jittered by ``seed``."""
    rng = np.random.default_rng(seed)
    n = config.num_views
    az_lo, az_hi = config.azimuth_range
    full_circle = abs((az_hi - az_lo) % 360.0) < 1e-6 and az_hi != az_lo
    steps = np.arange(n) / (n if full_circle else max(n - 1, 1))
    azimuths = az_lo + (az_hi - az_lo) * (steps if n > 1 else np.array([0.5]))
    el_lo, el_hi = config.elevation_range
    elevations = np.where(np.arange(n) % 2 == 0, el_lo, el_hi) if n > 1 else np.array([(el_lo + el_hi) / 2])
    center = np.asarray(config.center) + np.array([0.0, 0.0, config.height])
    cams = []
    for i, name in enumerate(view_names(n, first_person=False)):
        az = np.deg2rad(azimuths[i] + rng.uniform(-1, 1) * config.jitter_azimuth)
        el = np.deg2rad(elevations[i] + rng.uniform(-1, 1) * config.jitter_elevation)
        radius = config.radius * (1 + rng.uniform(-1, 1) * config.jitter_radius)
        eye = center + radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        cams.append(Camera(name, intrinsics_from_fovy(config.fovy, width, height),
                           look_at(eye, center), width, height, config.fovy))
    return cams


def gl_quaternion(camera: Camera) -> np.ndarray:
    """MuJoCo ``cam_quat`` (w, x, y, z) of the camera's OpenGL-style camera-to-world rotation."""
    rot = camera.extrinsics[:3, :3].T @ CV_TO_GL
    return Rotation.from_matrix(rot).as_quat(scalar_first=True)
