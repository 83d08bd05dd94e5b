"""A video grid of every view of one demo with its keypoints drawn: ``python -m envs.preview file=... demo=0``."""
from __future__ import annotations

import math
import os
from typing import List

import hydra
import imageio.v2 as imageio
import numpy as np
from matplotlib import colormaps
from omegaconf import DictConfig

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
    with EpisodeFile(path) as f:
        name = demo_name(demo)
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
    stem, ext = os.path.splitext(out)
    if ext.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video out must end in .mp4 or .gif, got {out!r}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f"{stem}.tmp{ext}"  # the writer picks the format from the extension
    if ext.lower() == ".mp4":
        imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimsave(tmp, frames, duration=1000 / fps, loop=0)
    os.replace(tmp, out)
    return out


def write_preview(path: str, demo: int, out: str, fps: int = 10) -> str:
    return write_video(preview_frames(path, demo), out, fps)


@hydra.main(config_path="pkg://configs", config_name="preview", version_base="1.3")
def main(cfg: DictConfig) -> None:
    print(f"wrote {write_preview(cfg.file, cfg.demo, cfg.out, cfg.fps)}")


if __name__ == "__main__":
    main()
