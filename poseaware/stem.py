"""The DeiT's patch embedding: timm's single strided convolution, or a convolutional stem.

A ViT's patchify stem (one ``patch x patch`` convolution of stride ``patch``) makes it slow to fit on
small data; a stem of stacked stride-2 3x3 convolutions ending in a 1x1 projection fits faster and more
stably at the same token grid and nearly the same cost (Xiao et al. 2021, "Early Convolutions Help
Transformers See Better"; Octo's ``SmallStem`` for robot policies). Only ``patch_embed.proj`` is
replaced, so timm's flattening (row-major tokens), position embeddings and norm stay its own.
"""
from __future__ import annotations

import torch.nn as nn

STEMS = ("patch", "conv")


def conv_stem(patch_size: int, embed_dim: int, in_chans: int = 3) -> nn.Sequential:
    """``log2(patch_size)`` 3x3 stride-2 conv + BatchNorm + ReLU stages, widening to ``embed_dim``, then a
    1x1 convolution: ``(B, in_chans, H, W) -> (B, embed_dim, H / patch, W / patch)`` like timm's
    ``PatchEmbed.proj``. Needs a power-of-two patch (each stage halves the grid)."""
    stages = patch_size.bit_length() - 1
    if patch_size < 2 or 1 << stages != patch_size:
        raise ValueError(f"stem='conv' halves the image per stage, so patch_size must be a power of two "
                         f"(2, 4, 8, 16, ...), got {patch_size}; use stem='patch' for this patch size")
    layers, channels = [], in_chans
    for stage in range(stages):
        width = max(embed_dim >> (stages - 1 - stage), 8)  # ..., D/4, D/2, D
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True)]
        channels = width
    layers.append(nn.Conv2d(channels, embed_dim, 1))
    return nn.Sequential(*layers)
