"""Model inputs shared by every backbone: ImageNet normalisation and the default device."""
from __future__ import annotations

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


def normalize_images(x: torch.Tensor, channel_dim: int = -3) -> torch.Tensor:
    """Float images in [0, 1] -> ImageNet-normalised, channels at ``channel_dim``."""
    shape = [1] * x.ndim
    shape[channel_dim] = 3
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=x.device, dtype=x.dtype).view(shape)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=x.device, dtype=x.dtype).view(shape)
    return (x - mean) / std


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
