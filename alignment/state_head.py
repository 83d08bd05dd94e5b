"""Privileged state readout: a linear head that reads low-dim simulator state (``loss.state_keys``, e.g.
the cube's position) off every view's embedding during training, and is dropped with the training code.

Why: the time-contrastive loss makes *time* agree across cameras, but nothing in it asks that where the
object lies be written the same way from every camera, and a policy needs exactly that
(``benchmarks/RESULTS.md``, cross-camera probe). A linear map shared by all training views asks for it
directly, as PAAT uses the simulator's keypoints: privileged at training, absent at inference.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def state_statistics(states: Dict[str, np.ndarray]) -> Dict[str, list]:
    """Per-dimension mean and std over every frame of ``states`` (demo -> ``(T, d)``); a constant
    dimension gets std 1, so it adds nothing instead of dividing by zero."""
    frames = np.concatenate(list(states.values()))
    std = frames.std(0)
    return {"mean": frames.mean(0).tolist(), "std": np.where(std > 1e-8, std, 1.0).tolist()}


class StateHead(nn.Module):
    """``(..., D)`` embeddings -> ``(..., d)`` standardised state; ``loss`` is the MSE against the raw
    state standardised with the training split's statistics.

    The embedding is standardised per dimension first (batch statistics, no learned scale), as linear
    probes of self-supervised encoders do: the raw embedding varies by ~0.02 per dimension around a
    per-camera offset twenty times larger, so a plain linear layer would need weights of ~50 to read a
    unit-variance state, far beyond what the encoder's learning rate moves in a run (measured: the head
    then learned nothing, train MSE ~1). With its running statistics (eval mode) the standardisation is a
    fixed affine map, so the head stays a linear read of the raw embedding."""

    def __init__(self, embed_dim: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f"state statistics need one mean and one std per dimension, got {len(mean)} and {len(std)}")
        self.norm = nn.BatchNorm1d(embed_dim, affine=False)
        self.linear = nn.Linear(embed_dim, len(mean))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        flat = embeddings.reshape(-1, embeddings.shape[-1])
        return self.linear(self.norm(flat)).reshape(*embeddings.shape[:-1], -1)

    def loss(self, embeddings: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """``embeddings`` ``(V, B, D)`` of V views of the same B steps; ``states`` ``(B, d)``: every view
        must read the same state."""
        if states.shape[-1] != self.mean.shape[0] or states.shape[0] != embeddings.shape[-2]:
            raise ValueError(f"states must be (B={embeddings.shape[-2]}, d={self.mean.shape[0]}), "
                             f"got {tuple(states.shape)}")
        target = (states.to(self.mean) - self.mean) / self.std
        prediction = self(embeddings)
        return F.mse_loss(prediction, target.expand_as(prediction))
