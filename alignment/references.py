"""Reference rows for every alignment table, so a reader sees what learning adds: the same encoder
with random weights, and raw pixels (each frame's downsampled pixels as its embedding). Both are
scored exactly as a trained encoder is (``alignment.metrics``)."""
from __future__ import annotations

from typing import Callable, Dict, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from poseaware import PoseAwareEncoder

from .data import Frames
from .inference import embed_views
from .metrics import score_trajectories

PIXEL_SIZE = 16  # raw pixels are compared at 16 x 16 x 3: fine enough for the arm, coarse enough for noise


def pixel_embeddings(images: np.ndarray, size: int = PIXEL_SIZE) -> np.ndarray:
    """uint8 ``(T,H,W,3)`` -> ``(T, size*size*3)`` float32, area-downsampled pixels in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    return F.adaptive_avg_pool2d(x, size).flatten(1).numpy()


def reference_scores(frames: Frames, seen_views: Iterable[str], make_random_encoder: Callable[[], PoseAwareEncoder],
                     device: torch.device) -> Dict[str, Dict[str, float]]:
    """``{"random_init": scores, "raw_pixels": scores}`` on ``frames`` (one split)."""
    seen = list(seen_views)
    encoder = make_random_encoder().to(device)
    random_init = {d: embed_views(encoder, views, device) for d, views in frames.items()}
    pixels = {d: {v: pixel_embeddings(f.images) for v, f in views.items()} for d, views in frames.items()}
    return {"random_init": score_trajectories(random_init, seen), "raw_pixels": score_trajectories(pixels, seen)}
