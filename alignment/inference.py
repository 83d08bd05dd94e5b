"""The deployed encoder: load it from a checkpoint, embed videos, score alignment.

The CLIs (``evaluate``, ``embed``), the plots and the training task import from here; nothing here
imports training code.
"""
from __future__ import annotations

import warnings
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np
import torch

from envs.dataset_io import EpisodeFile
from poseaware import PoseAwareEncoder
from poseaware.runs import load_deployed

from .data import Frames, ViewFrames, to_model_input
from .metrics import GROUPS, score_trajectories


def check_encoder_fits(checkpoint: str, ckpt: dict, data: str, image_size: int, keypoint_names: Sequence[str],
                       resize: bool = False) -> None:
    """Refuse an encoder made for another env's data (another env name, where the checkpoint records it: Lift
    and Can share the Panda's keypoints; other keypoints: a PAAB encoder would read the wrong joints); frames
    of another size are resized with a warning when ``resize``, else refused (a live policy renders at the
    data's size, so its encoder must have been trained at that size)."""
    trained = ckpt["data"]
    if trained.get("env_name"):
        with EpisodeFile(data) as f:
            env_name = f.env_args.get("env_name")
        if env_name and env_name != trained["env_name"]:
            raise ValueError(f"{checkpoint} was trained on {trained['env_name']} demos, but {data} holds {env_name} "
                             f"demos: it belongs to another env; use an encoder trained on this env")
    if keypoint_names and list(trained["keypoint_names"]) != list(keypoint_names):
        raise ValueError(f"{checkpoint} was trained with keypoints {trained['keypoint_names']}, but {data} has "
                         f"{list(keypoint_names)}: it belongs to another env; use an encoder trained on this env")
    if image_size == trained["image_size"]:
        return
    if not resize:
        raise ValueError(f"{checkpoint} was trained on {trained['image_size']} px frames, but {data} (and the live "
                         f"env) render {image_size} px; train the encoder on this data or generate the "
                         f"demos at {trained['image_size']} px")
    # Resizing changes what the encoder sees, so say so.
    warnings.warn(f"{checkpoint} was trained on {trained['image_size']} px images, {data} holds {image_size} px: "
                  f"frames are resized to {trained['image_size']} px", stacklevel=2)


def load_encoder(checkpoint: str, device: torch.device) -> Tuple[PoseAwareEncoder, dict]:
    """The encoder as deployed (PAAT heads dropped; keypoints needed only for PAAB) and its checkpoint."""
    return load_deployed(checkpoint, PoseAwareEncoder, device)


@torch.no_grad()
def embed_video(encoder: PoseAwareEncoder, frames: ViewFrames, device: torch.device,
                batch_size: int = 64) -> np.ndarray:
    """Embed every frame of one view: uint8 ``(T,H,W,3)`` images -> ``(T,D)`` float32 raw encoder
    output (encoder in eval mode). Keypoints and masks are read only where the encoder uses them."""
    was_training = encoder.training
    encoder.eval()
    size = encoder.image_size[0]
    frames = ViewFrames(frames.images, frames.keypoints if encoder.needs_keypoints_at_inference else None,
                        frames.masks if encoder.needs_masks_at_inference else None)
    out = []
    for s in range(0, len(frames.images), batch_size):
        x = to_model_input(frames.at(slice(s, s + batch_size)), size, device)
        out.append(encoder(x.images, x.keypoints, x.masks).embedding.float().cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(out)


def embed_views(encoder: PoseAwareEncoder, views: Dict[str, ViewFrames], device: torch.device) -> Dict[str, np.ndarray]:
    """One trajectory: ``{view: frames}`` -> ``{view: (T, D) raw embeddings}``."""
    return {v: embed_video(encoder, frames, device) for v, frames in views.items()}


def evaluate(encoder: PoseAwareEncoder, frames: Frames, seen_views: Iterable[str],
             device: torch.device) -> Dict[str, float]:
    """Alignment metrics over every trajectory of ``frames`` (see ``alignment.metrics``)."""
    embeddings = {demo: embed_views(encoder, views, device) for demo, views in frames.items()}
    return score_trajectories(embeddings, seen_views)


def format_table(metrics: Dict[str, float]) -> str:
    """The metrics as a markdown table: one row per view group, then one per unseen view."""
    rows = ["| views | alignment error | raw-geometry AE | cycle error | Kendall tau |",
            "| --- | --- | --- | --- | --- |"]
    groups = [g for g in GROUPS if f"{g}/alignment_error" in metrics]
    groups += sorted(k[:-len("/alignment_error")] for k in metrics if k.startswith("view/") and k.endswith("/alignment_error"))
    for group in groups:
        raw = metrics.get(f"raw/{group}/alignment_error")
        rows.append(f"| {group} | {metrics[f'{group}/alignment_error']:.4f} | "
                    f"{'' if raw is None else f'{raw:.4f}'} | {metrics[f'{group}/cycle_error']:.4f} | "
                    f"{metrics[f'{group}/kendall_tau']:.4f} |")
    return "\n".join(rows)
