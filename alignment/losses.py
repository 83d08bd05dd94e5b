"""Multi-view time-contrastive (TCN) losses.

Anchor: view i at time t. Positive: view j at time t (and, optionally, frames of view j within
``window``). Negatives: frames of view i and view j more than ``window`` frames away.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("triplet", "infonce")


def _masks(times: torch.Tensor, window: int):
    gap = (times[:, None] - times[None, :]).abs()
    return gap > window, gap <= window


def tcn_triplet_loss(anchor: torch.Tensor, other: torch.Tensor, times: torch.Tensor,
                     window: int, margin: float) -> torch.Tensor:
    """3DTRL/TCN triplet form: squared distances between L2-normalised embeddings (as TCN does;
    unnormalised ones can collapse to a point where every distance and gradient is 0), hinge at
    ``margin``, averaged over valid triplets."""
    anchor, other = F.normalize(anchor, dim=-1), F.normalize(other, dim=-1)
    candidates = torch.cat([anchor, other])  # (2B, D): view i frames, then view j frames
    d = torch.cdist(anchor, candidates).pow(2)  # (B, 2B)
    far, _ = _masks(times, window)
    negative = torch.cat([far, far], dim=1)
    positive = (anchor - other).pow(2).sum(-1)  # exact, not via cdist's matmul shortcut
    hinge = F.relu(positive[:, None] - d + margin)
    count = negative.sum().clamp(min=1)
    return (hinge * negative).sum() / count


def tcn_infonce_loss(anchor: torch.Tensor, other: torch.Tensor, times: torch.Tensor, window: int,
                     temperature: float, near_positives: bool = False) -> torch.Tensor:
    """Multi-pair InfoNCE on cosine similarity; frames within the window that are not positives are ignored."""
    a = F.normalize(anchor, dim=-1)
    logits = a @ torch.cat([a, F.normalize(other, dim=-1)]).T / temperature  # (B, 2B)
    far, near = _masks(times, window)
    same_time = torch.eye(len(times), dtype=torch.bool, device=times.device)
    pos_other = near if near_positives else same_time
    positive = torch.cat([torch.zeros_like(far), pos_other], dim=1)
    keep = positive | torch.cat([far, far], dim=1)
    logits = logits.masked_fill(~keep, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -(log_prob.masked_fill(~positive, 0).sum(1) / positive.sum(1)).mean()


def tcn_loss(name: str, anchor: torch.Tensor, other: torch.Tensor, times: torch.Tensor, window: int,
             margin: float = 1.0, temperature: float = 0.1, near_positives: bool = False,
             center_views: bool = False) -> torch.Tensor:
    """``center_views`` subtracts each view's batch mean first: both batches hold the same time
    steps of one trajectory, so this removes only what is constant within a view (its static
    background), which otherwise dominates the similarities and drives training to collapse."""
    if center_views:
        anchor, other = anchor - anchor.mean(0, keepdim=True), other - other.mean(0, keepdim=True)
    if name == "triplet":
        return tcn_triplet_loss(anchor, other, times, window, margin)
    if name == "infonce":
        return tcn_infonce_loss(anchor, other, times, window, temperature, near_positives)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
