"""Multi-view time-contrastive (TCN) losses.

Anchor: view i at time t of an episode. Positives: every other view at time t of that episode (and,
optionally, their frames within ``window``). Negatives: frames of any view more than ``window`` frames
away, and every frame of the batch's other episodes.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

LOSSES = ("triplet", "infonce")


def _masks(times: torch.Tensor, window: int, episodes: Optional[torch.Tensor]):
    """(far, near) between every two frames; frames of different episodes are always far."""
    gap = (times[:, None] - times[None, :]).abs()
    same = torch.ones_like(gap, dtype=torch.bool) if episodes is None else episodes[:, None] == episodes[None, :]
    return (gap > window) | ~same, (gap <= window) & same


def tcn_triplet_loss(anchor: torch.Tensor, other: torch.Tensor, times: torch.Tensor,
                     window: int, margin: float, episodes: Optional[torch.Tensor] = None) -> torch.Tensor:
    """3DTRL/TCN triplet form: squared distances between L2-normalised embeddings (as TCN does;
    unnormalised ones can collapse to a point where every distance and gradient is 0), hinge at
    ``margin``, averaged over valid triplets."""
    anchor, other = F.normalize(anchor, dim=-1), F.normalize(other, dim=-1)
    candidates = torch.cat([anchor, other])  # (2B, D): view i frames, then view j frames
    d = torch.cdist(anchor, candidates).pow(2)  # (B, 2B)
    far, _ = _masks(times, window, episodes)
    negative = torch.cat([far, far], dim=1)
    positive = (anchor - other).pow(2).sum(-1)  # exact, not via cdist's matmul shortcut
    hinge = F.relu(positive[:, None] - d + margin)
    count = negative.sum().clamp(min=1)
    return (hinge * negative).sum() / count


def tcn_infonce_loss(views: torch.Tensor, times: torch.Tensor, window: int, temperature: float,
                     near_positives: bool = False, episodes: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Multi-positive InfoNCE over ``(V, B, D)`` embeddings, V views of the same B time steps, on cosine
    similarity. Every frame is an anchor; its positives are the other views at the same time (with
    ``near_positives``, also their frames within the window); its negatives are the frames of every view
    more than ``window`` steps away and of other ``episodes``. Frames within the window that are not
    positives are ignored."""
    v, b, _ = views.shape
    z = F.normalize(views.reshape(v * b, -1), dim=-1)
    logits = z @ z.T / temperature
    t = times.repeat(v)
    view = torch.arange(v, device=times.device).repeat_interleave(b)
    far, near = _masks(t, window, None if episodes is None else episodes.repeat(v))
    other_view = view[:, None] != view[None, :]
    positive = other_view & near & (near_positives | (t[:, None] == t[None, :]))
    logits = logits.masked_fill(~(positive | far), float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -(log_prob.masked_fill(~positive, 0).sum(1) / positive.sum(1)).mean()


def tcn_loss(name: str, views: torch.Tensor, times: torch.Tensor, window: int, margin: float = 1.0,
             temperature: float = 0.1, near_positives: bool = False, center_views: bool = False,
             episodes: Optional[torch.Tensor] = None) -> torch.Tensor:
    """TCN loss over ``(V, B, D)`` embeddings: V >= 2 views of the same B time steps ``times`` (of the
    episodes ``episodes``, one id per step; None: one episode).

    ``center_views`` subtracts each view's batch mean first, which removes what is constant within a
    view (its static background) and otherwise dominates the similarities and drives training to
    collapse. The mean runs over every episode of the batch, so what tells episodes apart (where the
    object lies) stays for the cross-episode negatives to train. The alignment metric scores in the
    centred geometry (``alignment.metrics``)."""
    if views.ndim != 3 or views.shape[0] < 2 or views.shape[1] != len(times):
        raise ValueError(f"the TCN loss takes (V >= 2 views, B = {len(times)} times, D) embeddings, "
                         f"got {tuple(views.shape)}")
    if episodes is not None and episodes.shape != times.shape:
        raise ValueError(f"episodes must give one id per time step: {tuple(episodes.shape)} against "
                         f"{tuple(times.shape)} times")
    if center_views:
        views = views - views.mean(1, keepdim=True)
    if name == "triplet":  # averaged over ordered view pairs, as 3DTRL's pairwise form
        pairs = [(i, j) for i in range(len(views)) for j in range(len(views)) if i != j]
        return torch.stack([tcn_triplet_loss(views[i], views[j], times, window, margin, episodes) for i, j in pairs]).mean()
    if name == "infonce":
        return tcn_infonce_loss(views, times, window, temperature, near_positives, episodes)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
