"""Render one of our cameras (OpenCV extrinsics) with pybullet's getCameraImage."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import pybullet as pb

from .cameras import Camera

GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def render_pybullet(client: int, camera: Camera, renderer: int = pb.ER_TINY_RENDERER, near: float = 0.02,
                    far: float = 10.0, segment: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """RGB ``(H, W, 3)`` uint8 and the segmentation buffer ``(H, W)`` (body unique ids; None without
    ``segment``)."""
    view = (GL_FROM_CV @ camera.extrinsics).T.flatten().tolist()  # pybullet wants column-major
    proj = pb.computeProjectionMatrixFOV(camera.fovy, camera.width / camera.height, near, far, physicsClientId=client)
    _, _, rgb, _, seg = pb.getCameraImage(camera.width, camera.height, viewMatrix=view, projectionMatrix=proj,
                                          renderer=renderer, physicsClientId=client,
                                          flags=0 if segment else pb.ER_NO_SEGMENTATION_MASK)
    rgb = np.asarray(rgb, dtype=np.uint8).reshape(camera.height, camera.width, 4)[..., :3]
    return np.ascontiguousarray(rgb), np.asarray(seg).reshape(camera.height, camera.width) if segment else None
