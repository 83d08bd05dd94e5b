"""Pinhole cameras, the multi-view rig around a workspace, and keypoint projection.

Conventions (OpenCV): extrinsics map world to camera, camera x right, y down, z forward.
Pixel ``(x, y)``: x is the column, y the row, origin at the top-left corner of the image,
pixel ``i`` spanning ``[i, i + 1)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator, List, Sequence, Tuple

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


SAMPLINGS = ("ring", "sectors")
# Where a rig's random draws come from. The scene (robot noise, object placement) is drawn from the episode seed;
# "own": the cameras from a stream of their own; "scene": from the episode seed itself, the scene's very numbers,
# so a camera's pose told where the object lay (files made before 2026-12-05, read as such, re-render exactly).
RIG_DRAWS = ("own", "scene")
RIG_SALT = 31
HELDOUT_PREFIX = "held"
FIRST_PERSON = "first_person"  # the view name of the camera the robot or avatar carries


@dataclass
class RigConfig:
    """Third-person cameras around the workspace (angles in degrees).

    ``sampling="ring"`` (the paper's rig) spreads ``num_views`` cameras evenly over ``azimuth_range``
    and jitters them per episode. ``sampling="sectors"`` draws them per episode from the training
    sector: view i uniformly in the i-th of ``num_views`` equal azimuth slices, elevation uniformly in
    ``elevation_range``. Either way ``heldout_views`` cameras are drawn the same stratified way from
    ``heldout_azimuth_range``, a sector the training cameras never enter: view ``held0`` is the
    nearest slice, the last one the farthest.
    """

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
    sampling: str = "ring"
    heldout_views: int = 0
    heldout_azimuth_range: Tuple[float, float] = (0.0, 0.0)
    draws: str = "own"  # RIG_DRAWS

    def __post_init__(self) -> None:
        if int(self.num_views) < 1:
            raise ValueError(f"num_views must be at least 1, got {self.num_views}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"unknown rig sampling {self.sampling!r}; choose one of {', '.join(SAMPLINGS)}")
        if self.draws not in RIG_DRAWS:
            raise ValueError(f"unknown rig draws {self.draws!r}; choose one of {', '.join(RIG_DRAWS)}")
        self.num_views, self.heldout_views = int(self.num_views), int(self.heldout_views)
        self.azimuth_range = tuple(float(a) for a in self.azimuth_range)
        self.elevation_range = tuple(float(e) for e in self.elevation_range)
        self.heldout_azimuth_range = tuple(float(a) for a in self.heldout_azimuth_range)
        self.center = tuple(float(c) for c in self.center)
        if self.heldout_views < 0:
            raise ValueError(f"heldout_views must be >= 0, got {self.heldout_views}")
        # cameras are drawn from lo up to hi: a reversed range would slip past the held-out overlap check
        for name in ("azimuth_range", "elevation_range", "heldout_azimuth_range"):
            lo, hi = getattr(self, name)
            if hi < lo:
                raise ValueError(f"{name} ({lo:g}, {hi:g}) runs backwards; give it low to high (a sector through "
                                 f"180 degrees, e.g. ({lo:g}, {hi + 360:g}))")
        for name in ("jitter_azimuth", "jitter_elevation", "jitter_radius"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (a jitter of j draws within +-j), got {getattr(self, name)}")
        if self.heldout_views and arcs_overlap(self.training_sector(), self.heldout_azimuth_range):
            raise ValueError(f"the held-out sector {self.heldout_azimuth_range} overlaps the training cameras' "
                             f"azimuths {self.training_sector()} (jitter included); unseen views must come from "
                             f"a sector training never samples: move heldout_azimuth_range or narrow azimuth_range")

    def training_sector(self) -> Tuple[float, float]:
        """The azimuths training cameras can take, jitter included (a one-view ring's camera stands at the
        middle of ``azimuth_range``)."""
        if self.sampling == "sectors":
            return self.azimuth_range
        lo, hi = self.azimuth_range
        if self.num_views == 1:
            lo = hi = (lo + hi) / 2
        return lo - self.jitter_azimuth, hi + self.jitter_azimuth

    def training_elevations(self) -> Tuple[float, float]:
        """The elevations training cameras can take, jitter included (as ``training_sector``)."""
        if self.sampling == "sectors":
            return self.elevation_range
        lo, hi = self.elevation_range
        if self.num_views == 1:
            lo = hi = (lo + hi) / 2
        return lo - self.jitter_elevation, hi + self.jitter_elevation

    def to_json(self) -> dict:
        return asdict(self)


def arcs_overlap(a: Tuple[float, float], b: Tuple[float, float]) -> bool:
    """Whether two azimuth intervals (degrees, low to high) share more than an end point on the circle."""
    def inside(x: float, arc: Tuple[float, float]) -> bool:
        return 0 < (x - arc[0]) % 360.0 < arc[1] - arc[0] or arc[1] - arc[0] >= 360.0
    return inside(a[0], b) or inside(b[0], a) or ((a[0] - b[0]) % 360.0 == 0 and a[1] > a[0] and b[1] > b[0])


def view_names(num_views: int, first_person: bool, heldout_views: int = 0) -> List[str]:
    """Training-rig views ``cam<i>``, then held-out views ``held<i>``, then ``first_person``."""
    return ([f"cam{i}" for i in range(num_views)] + [f"{HELDOUT_PREFIX}{i}" for i in range(heldout_views)]
            + ([FIRST_PERSON] if first_person else []))


def is_heldout_view(name: str) -> bool:
    return name.startswith(HELDOUT_PREFIX)


def degrees_past_arc(azimuth: float, arc: Tuple[float, float]) -> float:
    """How far (degrees, the shorter way round) ``azimuth`` lies outside an azimuth interval; 0 inside."""
    width = arc[1] - arc[0]
    x = (azimuth - arc[0]) % 360.0
    return 0.0 if x <= width or width >= 360.0 else float(min(x - width, 360.0 - x))


def _ring_angles(config: RigConfig, rng: np.random.Generator) -> Iterator[Tuple[float, float]]:
    n = config.num_views
    az_lo, az_hi = config.azimuth_range
    full_circle = abs((az_hi - az_lo) % 360.0) < 1e-6 and az_hi != az_lo
    steps = np.arange(n) / (n if full_circle else max(n - 1, 1))
    azimuths = az_lo + (az_hi - az_lo) * (steps if n > 1 else np.array([0.5]))
    el_lo, el_hi = config.elevation_range
    elevations = np.where(np.arange(n) % 2 == 0, el_lo, el_hi) if n > 1 else np.array([(el_lo + el_hi) / 2])
    for i in range(n):  # lazily: the caller draws each radius between the angles
        yield (azimuths[i] + rng.uniform(-1, 1) * config.jitter_azimuth,
               elevations[i] + rng.uniform(-1, 1) * config.jitter_elevation)


def _stratified_angles(n: int, azimuth_range: Tuple[float, float], elevation_range: Tuple[float, float],
                       rng: np.random.Generator) -> List[Tuple[float, float]]:
    lo, hi = azimuth_range
    return [(lo + (hi - lo) * (i + rng.uniform()) / n, rng.uniform(*elevation_range)) for i in range(n)]


def rig_radius(config: RigConfig, unit: float) -> float:
    """A camera's distance from the look-at point for ``unit`` in [-1, 1]: the radius, jittered."""
    return config.radius * (1 + unit * config.jitter_radius)


def orbit_camera(name: str, config: RigConfig, azimuth: float, elevation: float, radius: float,
                 width: int, height: int) -> Camera:
    """A rig camera at ``azimuth``/``elevation`` (degrees) and ``radius`` from the rig's look-at point,
    looking at it with the rig's field of view."""
    center = np.asarray(config.center) + np.array([0.0, 0.0, config.height])
    az, el = np.deg2rad(azimuth), np.deg2rad(elevation)
    eye = center + radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return Camera(name, intrinsics_from_fovy(config.fovy, width, height), look_at(eye, center), width, height,
                  config.fovy)


def make_rig(config: RigConfig, width: int, height: int, seed: int) -> List[Camera]:
    """The episode's third-person cameras (training rig, then held-out), drawn from ``seed`` (``config.draws``:
    apart from the scene drawn from the same seed, or, as files made before, from its very numbers)."""
    rng = np.random.default_rng(seed if config.draws == "scene" else np.random.SeedSequence([seed, RIG_SALT]))
    # Ring radii are drawn between the angles, as the rig always did, so old files re-render exactly.
    angles, radii = [], []
    if config.sampling == "ring":
        for azimuth, elevation in _ring_angles(config, rng):
            angles.append((azimuth, elevation))
            radii.append(rig_radius(config, rng.uniform(-1, 1)))
    else:
        angles = _stratified_angles(config.num_views, config.azimuth_range, config.elevation_range, rng)
        radii = [rig_radius(config, rng.uniform(-1, 1)) for _ in angles]
    heldout = _stratified_angles(config.heldout_views, config.heldout_azimuth_range, config.elevation_range, rng)
    angles += heldout
    radii += [rig_radius(config, rng.uniform(-1, 1)) for _ in heldout]
    return [orbit_camera(name, config, az, el, radius, width, height)
            for name, (az, el), radius in zip(view_names(config.num_views, False, config.heldout_views), angles, radii)]


OVERVIEW = "overview"


def overview_camera(config: RigConfig, width: int, height: int) -> Camera:
    """A fixed camera that never moves between episodes: in front of the workspace (azimuth 0), 45 degrees
    up, a little farther out than the rig, for videos people watch beside a policy's own camera."""
    return orbit_camera(OVERVIEW, config, 0.0, 45.0, 1.15 * config.radius, width, height)


def gl_quaternion(camera: Camera) -> np.ndarray:
    """MuJoCo ``cam_quat`` (w, x, y, z) of the camera's OpenGL-style camera-to-world rotation."""
    rot = camera.extrinsics[:3, :3].T @ CV_TO_GL
    return Rotation.from_matrix(rot).as_quat(scalar_first=True)
