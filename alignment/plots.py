"""Plots people look at: a frame distance matrix with its nearest-neighbour path, and matched frames."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .data import Frames, ViewSplit  # noqa: E402
from .inference import embed_video  # noqa: E402
from .metrics import nearest_frames  # noqa: E402


def plot_alignment(encoder, frames: Frames, views: ViewSplit, device: torch.device, out_dir: str) -> None:
    """For the first test trajectory: a seen view against the first unseen view."""
    os.makedirs(out_dir, exist_ok=True)
    demo = next(iter(frames))
    va, vb = views.train[0], views.test[0]
    (im_a, kp_a), (im_b, kp_b) = frames[demo][va], frames[demo][vb]
    ea, eb = embed_video(encoder, im_a, kp_a, device), embed_video(encoder, im_b, kp_b, device)
    dist = np.linalg.norm(ea[:, None] - eb[None], axis=-1)
    nn = nearest_frames(ea, eb)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(dist, cmap="viridis")
    ax.plot(nn, np.arange(len(nn)), "r.-", lw=1, ms=3, label="nearest frame")
    ax.plot([0, len(eb) - 1], [0, len(ea) - 1], "w--", lw=1, label="ideal")
    ax.set(xlabel=f"{vb} frame (unseen)", ylabel=f"{va} frame", title=f"{demo}: embedding distance")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "distance_matrix.png"), dpi=120)
    plt.close(fig)

    picks = np.linspace(0, len(im_a) - 1, num=min(8, len(im_a))).astype(int)
    strip = np.concatenate([np.concatenate([im_a[i], im_b[nn[i]]], axis=0) for i in picks], axis=1)
    fig, ax = plt.subplots(figsize=(2 * len(picks), 4.4))
    ax.imshow(strip)
    ax.set_axis_off()
    ax.set_title(f"top: {va} frames {picks.tolist()}; bottom: matched {vb} frames {nn[picks].tolist()}", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "matched_frames.png"), dpi=120)
    plt.close(fig)
