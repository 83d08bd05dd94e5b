"""Plots people look at, all in the geometry the metric scores (``alignment.metrics``): a frame distance
matrix with its nearest-neighbour path, matched frames, and the error of every view pair."""
from __future__ import annotations

import os
from typing import Dict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .data import Frames, ViewSplit  # noqa: E402
from .inference import embed_views  # noqa: E402
from .metrics import frame_distances, nearest_frames, pair_matrix, to_geometry  # noqa: E402


def plot_alignment(encoder, frames: Frames, views: ViewSplit, device: torch.device, out_dir: str) -> None:
    """For the first test trajectory: a seen view against the farthest unseen third-person view (or the
    first unseen view), and the per-view-pair error matrix."""
    os.makedirs(out_dir, exist_ok=True)
    demo = next(iter(frames))
    embeddings = embed_views(encoder, frames[demo], device)
    third_person = [v for v in views.test if v != "first_person"]
    va, vb = views.train[0], (third_person or views.test)[-1]
    plot_distance_matrix(embeddings, va, vb, demo, os.path.join(out_dir, "distance_matrix.png"))
    plot_matched_frames(frames[demo][va].images, frames[demo][vb].images, embeddings[va], embeddings[vb], va, vb,
                        os.path.join(out_dir, "matched_frames.png"))
    plot_pair_matrix(embeddings, views, demo, os.path.join(out_dir, "view_pair_errors.png"))


def plot_distance_matrix(embeddings: Dict[str, np.ndarray], va: str, vb: str, demo: str, path: str) -> None:
    ea, eb = to_geometry(embeddings[va]), to_geometry(embeddings[vb])
    nn = nearest_frames(ea, eb)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(np.sqrt(frame_distances(ea, eb)), cmap="viridis")
    ax.plot(nn, np.arange(len(nn)), "r.-", lw=1, ms=3, label="nearest frame")
    ax.plot([0, len(eb) - 1], [0, len(ea) - 1], "w--", lw=1, label="ideal")
    ax.set(xlabel=f"{vb} frame (unseen)", ylabel=f"{va} frame (seen)", title=f"{demo}: centred embedding distance")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_matched_frames(im_a: np.ndarray, im_b: np.ndarray, ea: np.ndarray, eb: np.ndarray, va: str, vb: str,
                        path: str) -> None:
    nn = nearest_frames(to_geometry(ea), to_geometry(eb))
    picks = np.linspace(0, len(im_a) - 1, num=min(8, len(im_a))).astype(int)
    strip = np.concatenate([np.concatenate([im_a[i], im_b[nn[i]]], axis=0) for i in picks], axis=1)
    fig, ax = plt.subplots(figsize=(2 * len(picks), 4.4))
    ax.imshow(strip)
    ax.set_axis_off()
    ax.set_title(f"top: {va} frames {picks.tolist()}; bottom: matched {vb} frames {nn[picks].tolist()}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pair_matrix(embeddings: Dict[str, np.ndarray], views: ViewSplit, demo: str, path: str) -> None:
    names, matrix = pair_matrix({v: embeddings[v] for v in views.train + views.test})
    labels = [f"{v}{'' if v in views.train else ' *'}" for v in names]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 0.8 + 0.7 * len(names)))
    image = ax.imshow(matrix, cmap="magma_r", vmin=0, vmax=0.5)
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j:
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > 0.3 else "black")
    ax.set_xticks(range(len(names)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.set_title(f"{demo}: alignment error per view pair (* unseen; chance ≈ 0.33)", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
