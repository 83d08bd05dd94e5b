"""PAAT: the pose-aware auxiliary task, a patch-keypoint classifier trained with BCE.

It reads the patch tokens after one backbone block and predicts, for every token, which
keypoints fall inside it. It exists only for training; the deployed encoder drops it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PAAT_TARGETS = ("p3d", "p2d")


class PatchKeypointClassifier(nn.Module):
    """Linear(D, bottleneck) -> Linear(bottleneck, K) on patch tokens, scored with λ·BCE."""

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
        outputs = num_keypoints if target == "p3d" else 1
        self.reduce = nn.Linear(dim, bottleneck)
        self.classify = nn.Linear(bottleneck, outputs)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., N, K)`` (or ``(..., N, 1)`` for the p2d target) from patch tokens ``(..., N, D)``."""
        return self.classify(self.reduce(patches))

    def loss(self, patches: torch.Tensor, p2d: torch.Tensor, p3d: torch.Tensor) -> torch.Tensor:
        """λ·BCE, averaged over tokens and keypoints, against the undilated pose maps."""
        target = p3d if self.target == "p3d" else p2d.unsqueeze(-1)
        logits = self(patches)
        if logits.shape != target.shape:
            raise ValueError(
                f"PAAT expected targets of shape {tuple(logits.shape)}, got {tuple(target.shape)}; "
                f"check num_keypoints against the keypoints passed in"
            )
        return self.loss_weight * F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
