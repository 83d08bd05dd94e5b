"""The deployed encoder: load it from a checkpoint, embed videos, score alignment.

The CLIs (``evaluate``, ``embed``), the plots and the training task import from here; nothing here
imports training code.
"""
from __future__ import annotations

import warnings
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import torch

from poseaware import PoseAwareEncoder
from poseaware.runs import load_deployed

from .data import Frames, to_model_input
from .metrics import score_trajectories


def warn_if_resized(checkpoint: str, ckpt: dict, data: str, data_size: int) -> None:
    """Frames of another size are resized to the encoder's; say so, since it changes what it sees."""
    trained = ckpt["data"]["image_size"]
    if data_size != trained:
        warnings.warn(f"{checkpoint} was trained on {trained} px images, {data} holds {data_size} px: frames are "
                      f"resized to {trained} px", stacklevel=2)


def load_encoder(checkpoint: str, device: torch.device) -> Tuple[PoseAwareEncoder, dict]:
    """The encoder as deployed (PAAT heads dropped; keypoints needed only for PAAB) and its checkpoint."""
    return load_deployed(checkpoint, PoseAwareEncoder, device)


@torch.no_grad()
def embed_video(encoder: PoseAwareEncoder, images: np.ndarray, keypoints: Optional[np.ndarray],
                device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Embed every frame of one view: uint8 ``(T,H,W,3)`` -> ``(T,D)`` float32 (encoder in eval mode)."""
    was_training = encoder.training
    encoder.eval()
    size = encoder.image_size[0]
    out = []
    for s in range(0, len(images), batch_size):
        kp = None if keypoints is None or not encoder.needs_keypoints_at_inference else keypoints[s:s + batch_size]
        x, k = to_model_input(images[s:s + batch_size], kp, size, device)
        out.append(encoder(x, k).embedding.float().cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(out)


def embed_views(encoder: PoseAwareEncoder, views: Dict[str, Tuple[np.ndarray, Optional[np.ndarray]]],
                device: torch.device) -> Dict[str, np.ndarray]:
    """One trajectory: ``{view: (images, keypoints)}`` -> ``{view: (T, D) embeddings}``."""
    return {v: embed_video(encoder, im, kp, device) for v, (im, kp) in views.items()}


def evaluate(encoder: PoseAwareEncoder, frames: Frames, seen_views: Iterable[str],
             device: torch.device) -> Dict[str, float]:
    """Alignment metrics over every trajectory of ``frames`` (see ``alignment.metrics``)."""
    embeddings = {demo: embed_views(encoder, views, device) for demo, views in frames.items()}
    return score_trajectories(embeddings, seen_views)


def format_table(metrics: Dict[str, float]) -> str:
    rows = ["| views | alignment error | cycle error | Kendall tau |", "| --- | --- | --- | --- |"]
    for group in ("seen", "unseen"):
        if f"{group}/alignment_error" in metrics:
            rows.append(f"| {group} | {metrics[f'{group}/alignment_error']:.4f} | "
                        f"{metrics[f'{group}/cycle_error']:.4f} | {metrics[f'{group}/kendall_tau']:.4f} |")
    return "\n".join(rows)
