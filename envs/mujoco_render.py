"""Offscreen RGB and geom segmentation of a MuJoCo model's cameras, in a GL context of its own.

robosuite's offscreen contexts are made current only when created and are freed whenever Python
collects them, in whatever GL context is current then; GL object ids repeat across contexts, so
with several simulators in one process (re-rendering, tests, benchmarks) one could delete
another's framebuffer. This renderer makes its context current for every call and frees its
objects inside it, in order.
"""
from __future__ import annotations

import atexit
import importlib
import os
import weakref
from typing import Optional, Tuple

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")  # renders on CPU through Mesa when no GPU is present

import mujoco  # noqa: E402

_OPEN: "weakref.WeakSet[CameraRenderer]" = weakref.WeakSet()


def gl_context_class():
    """The GL context class ``MUJOCO_GL`` names (egl by default), chosen when a renderer is made, so it
    holds even where mujoco was imported before ``MUJOCO_GL`` was set."""
    backend = os.environ.get("MUJOCO_GL", "egl").lower()
    if backend not in ("egl", "osmesa", "glfw"):
        raise ValueError(f"MUJOCO_GL={backend!r}: offscreen rendering needs egl, osmesa or glfw")
    return importlib.import_module(f"mujoco.{backend}").GLContext


def _close_open_renderers() -> None:
    for renderer in list(_OPEN):
        renderer.close()


class CameraRenderer:
    """Renders ``width x height`` views of ``model``'s cameras.

    ``fast``: no multisampling and no mirror reflections (at 64-128 px they cost most of the render
    time and change only edge and reflection pixels). ``full``: the model's own settings, as
    robosuite renders them. Collision geoms are hidden, visual geoms shown, as robosuite does.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int, quality: str = "fast") -> None:
        self.model, self.width, self.height = model, width, height
        self.rect = mujoco.MjrRect(0, 0, width, height)
        self.gl = gl_context_class()(width, height)
        if not _OPEN:
            # mujoco ends EGL at exit with a handler registered when its first context is made; handlers
            # run last-registered first, so renderers nobody closed are freed while EGL still exists.
            atexit.unregister(_close_open_renderers)
            atexit.register(_close_open_renderers)
        self.gl.make_current()
        vis = model.vis
        saved = (vis.global_.offwidth, vis.global_.offheight, vis.quality.offsamples)
        # The buffer's size and multisampling are fixed when the MjrContext is made; the model keeps its own.
        vis.global_.offwidth, vis.global_.offheight = max(width, saved[0]), max(height, saved[1])
        if quality == "fast":
            vis.quality.offsamples = 0
        try:
            self.context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150)
        finally:
            vis.global_.offwidth, vis.global_.offheight, vis.quality.offsamples = saved
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self.context)
        self.scene = mujoco.MjvScene(model, maxgeom=10000)
        if quality == "fast":
            self.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.option = mujoco.MjvOption()
        self.option.geomgroup[0] = 0  # collision meshes hidden, as robosuite renders
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self.rgb = np.empty((height, width, 3), np.uint8)
        self.ids = np.empty((height, width, 3), np.uint8)
        _OPEN.add(self)

    def render(self, data: mujoco.MjData, camera_id: int,
               segment: bool = True) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
        """(RGB ``(H,W,3)`` uint8, object type ``(H,W)``, object id ``(H,W)``; -1 where nothing), top row first.
        The segmentation pass reuses the scene the RGB pass built; ``segment=False`` skips it (type and id
        None), about half the cost of a frame."""
        self.gl.make_current()
        self.camera.fixedcamid = camera_id
        mujoco.mjv_updateScene(self.model, data, self.option, None, self.camera, mujoco.mjtCatBit.mjCAT_ALL,
                               self.scene)
        mujoco.mjr_render(self.rect, self.scene, self.context)
        mujoco.mjr_readPixels(self.rgb, None, self.rect, self.context)
        if not segment:
            return self.rgb[::-1].copy(), None, None
        flags = self.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
        try:
            mujoco.mjr_render(self.rect, self.scene, self.context)
            mujoco.mjr_readPixels(self.ids, None, self.rect, self.context)
        finally:
            flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0
        segid = self.ids[..., 0].astype(np.int64) + (self.ids[..., 1].astype(np.int64) << 8) + \
            (self.ids[..., 2].astype(np.int64) << 16)
        table = np.full((self.scene.ngeom + 1, 2), -1, dtype=np.int64)  # segid 0: background
        for geom in self.scene.geoms[:self.scene.ngeom]:
            if geom.segid != -1:
                table[geom.segid + 1] = (geom.objtype, geom.objid)
        pairs = table[np.where(segid <= self.scene.ngeom, segid, 0)]
        # OpenGL rows run bottom-up; flip so row 0 is the top of the image.
        return self.rgb[::-1].copy(), pairs[::-1, :, 0], pairs[::-1, :, 1]

    def close(self) -> None:
        if self.gl is not None:
            self.gl.make_current()
            self.context.free()
            self.gl.free()
            self.gl = None
