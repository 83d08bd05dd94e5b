"""PAAT: the pose-aware auxiliary task, a patch-keypoint classifier trained with BCE.

It reads the patch tokens after one backbone block and predicts, for every token, which
keypoints fall inside it. It exists only for training; the deployed encoder drops it.

Targets: ``p3d`` (the paper's: per token and keypoint, one bit, BCE), ``p2d`` (per token, any keypoint), and
``p3d_softmax``: per keypoint, which token holds it, a softmax over the tokens scored by cross-entropy (the
usual keypoint-heatmap loss). With one positive token in dozens, BCE is met by predicting "nowhere"; the
softmax must put each seen keypoint somewhere, so it trains a head that finds keypoints (a detector,
``alignment.keypoint_detector``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PAAT_TARGETS = ("p3d", "p2d", "p3d_softmax")


class PatchKeypointClassifier(nn.Module):
    """Linear(D, bottleneck) -> Linear(bottleneck, K) on patch tokens, scored with λ·BCE (or λ·cross-entropy
    over the tokens, ``p3d_softmax``)."""

    def __init__(
        self,
        dim: int,
        num_keypoints: int,
        bottleneck: int = 256,
        target: str = "p3d",
        loss_weight: float = 1.6,
    ) -> None:
        super().__init__()
        if target not in PAAT_TARGETS:
            raise ValueError(f"unknown PAAT target {target!r}; choose one of {', '.join(PAAT_TARGETS)}")
        if num_keypoints <= 0:
            raise ValueError(f"PAAT needs num_keypoints > 0, got {num_keypoints}")
        self.target = target
        self.loss_weight = float(loss_weight)
        outputs = num_keypoints if self.per_keypoint else 1
        self.reduce = nn.Linear(dim, bottleneck)
        self.classify = nn.Linear(bottleneck, outputs)

    @property
    def per_keypoint(self) -> bool:
        """Whether the head says where each keypoint is (``p3d`` targets), not only where any is."""
        return self.target != "p2d"

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., N, K)`` (or ``(..., N, 1)`` for the p2d target) from patch tokens ``(..., N, D)``."""
        return self.classify(self.reduce(patches))

    def token_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(..., N, K)`` logits -> the probability that token n holds keypoint k: a sigmoid per entry (BCE
        targets), or a softmax over the tokens (``p3d_softmax``: each keypoint's probabilities sum to 1)."""
        return logits.softmax(-2) if self.target == "p3d_softmax" else torch.sigmoid(logits)

    def loss(self, patches: torch.Tensor, p2d: torch.Tensor, p3d: torch.Tensor) -> torch.Tensor:
        """λ·BCE, averaged over tokens and keypoints, against the undilated pose maps (``p3d_softmax``:
        λ·``token_cross_entropy``)."""
        target = p3d if self.per_keypoint else p2d.unsqueeze(-1)
        logits = self(patches)
        if logits.shape != target.shape:
            raise ValueError(
                f"PAAT expected targets of shape {tuple(logits.shape)}, got {tuple(target.shape)}; "
                f"check num_keypoints against the keypoints passed in"
            )
        if self.target == "p3d_softmax":
            return self.loss_weight * token_cross_entropy(logits, target.to(logits.dtype))
        return self.loss_weight * F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))


def token_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a softmax over the tokens (axis -2) against each keypoint's token map, averaged over
    the keypoints seen (a map with a positive token); 0, with gradients, when none is seen."""
    counts = target.sum(-2)  # (..., K)
    seen = counts > 0
    nll = -(logits.log_softmax(-2) * target).sum(-2) / counts.clamp_min(1)
    return nll[seen].mean() if seen.any() else logits.sum() * 0.0
