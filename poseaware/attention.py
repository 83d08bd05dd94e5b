"""PAAB: the pose-aware attention block.

A timm ``Block`` whose self-attention may only connect pose tokens with each other and with
CLS. Tokens are passed in frame-structured form (``cls (B, D)``, ``patches (B, T, N, D)``,
``pose (B, T, N)``) so that every backbone maps its own token order exactly once, at its
boundary, and the block never has to guess a layout.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn
from timm.models.vision_transformer import Block

PAAB_VARIANTS = ("spatial", "joint", "factorized")


def pose_attention_mask(pose: torch.Tensor) -> torch.Tensor:
    """Boolean SDPA mask ``(B, 1, 1+L, 1+L)`` letting CLS and pose tokens see each other.

    ``pose`` is ``(B, L)``. Every token may always attend to itself, so no row is ever fully
    masked: a frame with no pose token leaves CLS attending only to itself, never NaN.
    """
    batch, length = pose.shape
    allowed = torch.cat([pose.new_ones(batch, 1), pose], dim=1)  # CLS always takes part
    mask = allowed.unsqueeze(2) & allowed.unsqueeze(1)
    mask = mask | torch.eye(length + 1, dtype=torch.bool, device=pose.device)
    return mask.unsqueeze(1)


class PoseAwareAttentionBlock(nn.Module):
    """Pose-aware attention block (PAAB) with the PA-SA, joint PA-STA and factorised PA-STA variants.

    Non-pose tokens leave the block unchanged (the factorised variant's ordinary temporal
    attention is the one exception, by design). Only pose tokens and CLS are updated.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        variant: str = "spatial",
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if variant not in PAAB_VARIANTS:
            raise ValueError(f"unknown PAAB variant {variant!r}; choose one of {', '.join(PAAB_VARIANTS)}")
        self.variant = variant
        self.block = Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=drop_path)
        self.block.attn.fused_attn = True  # scaled_dot_product_attention with a boolean mask
        self.temporal = None
        if variant == "factorized":
            self.temporal = Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=drop_path)

    def _masked(self, tokens: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Run the block on CLS + pose tokens of ``(B', 1+L, D)``; the other tokens stay as they were.

        Masked-out tokens neither attend nor are attended, and LayerNorm and MLP act per token, so
        running the block on the gathered CLS + pose tokens alone (padded to the longest row, padding
        masked) is the same computation as masking the full sequence, at a fraction of the cost.
        """
        keep = torch.cat([pose.new_ones(pose.shape[0], 1), pose], dim=1)  # (B', 1+L)
        counts = keep.sum(1)
        width = int(counts.max())
        index = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]  # kept tokens first
        valid = torch.arange(width, device=pose.device) < counts.unsqueeze(1)
        picked = tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        out = self.block(picked, attn_mask=pose_attention_mask(valid[:, 1:]))
        out = torch.where(valid.unsqueeze(-1), out, picked)  # padding rows write back what they read
        return tokens.scatter(1, index.unsqueeze(-1).expand_as(out), out)

    def forward(
        self, cls: torch.Tensor, patches: torch.Tensor, pose: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Update ``cls (B, D)`` and ``patches (B, T, N, D)`` given the pose map ``pose (B, T, N)``."""
        if patches.ndim != 4:
            raise ValueError(f"patches must be (B, T, N, D), got {tuple(patches.shape)}")
        batch, frames, tokens, dim = patches.shape
        if pose.shape != (batch, frames, tokens):
            raise ValueError(
                f"pose map must be (B, T, N) = {(batch, frames, tokens)} to match the patches, "
                f"got {tuple(pose.shape)}"
            )
        pose = pose.bool()
        if self.temporal is not None:
            # Ordinary temporal attention over every patch position, across frames.
            seq = patches.permute(0, 2, 1, 3).reshape(batch * tokens, frames, dim)
            seq = self.temporal(seq)
            patches = seq.reshape(batch, tokens, frames, dim).permute(0, 2, 1, 3)
        if self.variant == "joint":
            seq = torch.cat([cls.unsqueeze(1), patches.reshape(batch, frames * tokens, dim)], dim=1)
            seq = self._masked(seq, pose.reshape(batch, frames * tokens))
            return seq[:, 0], seq[:, 1:].reshape(batch, frames, tokens, dim)
        # Spatial: each frame gets its own copy of CLS; the copies are averaged back.
        frame_cls = cls.unsqueeze(1).expand(batch, frames, dim).reshape(batch * frames, 1, dim)
        seq = torch.cat([frame_cls, patches.reshape(batch * frames, tokens, dim)], dim=1)
        seq = self._masked(seq, pose.reshape(batch * frames, tokens))
        new_cls = seq[:, 0].reshape(batch, frames, dim).mean(1)
        return new_cls, seq[:, 1:].reshape(batch, frames, tokens, dim)
