"""A video grid of every view of one demo with its keypoints drawn: ``python -m envs.preview file=... demo=0``."""
from __future__ import annotations

import math
import os
import tempfile
from typing import List

import hydra
import imageio.v2 as imageio
import numpy as np
from matplotlib import colormaps
from omegaconf import DictConfig

from .commands import one_line_reports, whole_number
from .dataset_io import EpisodeFile, demo_name


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, radius: int = 1) -> np.ndarray:
    """Dots in a fixed colour per keypoint id (so left/right mix-ups are visible)."""
    out = image.copy()
    colours = (np.array(colormaps["tab20"](np.linspace(0, 1, max(len(keypoints), 2)))[:, :3]) * 255).astype(np.uint8)
    h, w = image.shape[:2]
    for k, (x, y) in enumerate(keypoints):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        xi, yi = int(x), int(y)
        out[max(yi - radius, 0): min(yi + radius + 1, h), max(xi - radius, 0): min(xi + radius + 1, w)] = colours[k]
    return out


def tile(images: List[np.ndarray]) -> np.ndarray:
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    h, w = images[0].shape[:2]
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


def preview_frames(path: str, demo: int, min_size: int = 128) -> List[np.ndarray]:
    """Every step of ``demo`` as one grid of its views, upscaled to at least ``min_size`` pixels a view."""
    with EpisodeFile(path) as f:
        name = demo_name(whole_number("demo", demo))
        if name not in f.demos:
            raise ValueError(f"{path} has no {name}; it holds {len(f.demos)} demos "
                             f"({', '.join(f.demos[:3])}{', ...' if len(f.demos) > 3 else ''})")
        if not f.views:
            raise ValueError(f"{path} holds no camera images (written with store_views=false?); render its views "
                             f"with envs.rerender first")
        images = {v: f.view_obs(name, v, "image") for v in f.views}
        kps = {v: f.view_obs(name, v, "keypoints") if f.has_keypoints(v) else None for v in f.views}
    scale = max(1, math.ceil(min_size / next(iter(images.values())).shape[1]))
    frames = []
    for t in range(len(next(iter(images.values())))):
        views = []
        for v in images:
            img = np.repeat(np.repeat(images[v][t], scale, 0), scale, 1)
            if kps[v] is not None:
                img = draw_keypoints(img, kps[v][t] * scale, radius=max(1, scale))
            views.append(img)
        frames.append(tile(views))
    return frames


def write_video(frames, out: str, fps: int = 10) -> str:
    """An .mp4 or .gif of ``(H, W, 3)`` uint8 frames, written beside ``out`` and renamed into place."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".mp4", ".gif"):
        raise ValueError(f"video out must end in .mp4 or .gif, got {out!r}")
    if ext == ".mp4":  # H.264 (yuv420p) takes only even sizes; an odd one failed as "Broken pipe"
        frames = [np.pad(f, ((0, f.shape[0] % 2), (0, f.shape[1] % 2), (0, 0))) for f in frames]
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    # a unique temp name that ends in the extension: imageio picks the format from it
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(out)}.{os.getpid()}.", suffix=f".tmp{ext}")
    os.close(fd)
    try:
        if ext == ".mp4":
            imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
        else:
            imageio.mimsave(tmp, frames, duration=1000 / fps, loop=0)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def write_preview(path: str, demo: int, out: str, fps: int = 10) -> str:
    return write_video(preview_frames(path, demo), out, fps)


@hydra.main(config_path="pkg://configs", config_name="preview", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_reports():
        out = write_preview(cfg.file, cfg.demo, cfg.out, cfg.fps)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
