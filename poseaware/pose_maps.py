"""Pose maps: which ViT patch tokens contain which keypoints.

Token order is row-major over the patch grid (``n = row * (W // p) + col``),
exactly the order timm's ``PatchEmbed`` flattens a conv feature map into.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = Union[np.ndarray, torch.Tensor]


def patch_grid(image_size: Sequence[int], patch_size: int) -> Tuple[int, int]:
    """Return the (rows, cols) patch grid, or raise if ``patch_size`` does not divide the image."""
    if len(image_size) != 2:
        raise ValueError(f"image_size must be (H, W), got {tuple(image_size)!r}")
    height, width = int(image_size[0]), int(image_size[1])
    if patch_size <= 0 or height % patch_size or width % patch_size:
        raise ValueError(
            f"image size {height}x{width} is not divisible by patch size {patch_size}; "
            f"resize the images or choose a patch size that divides both sides"
        )
    return height // patch_size, width // patch_size


def dilate_token_mask(mask: torch.Tensor, grid: Tuple[int, int], dilation: int) -> torch.Tensor:
    """Grow a row-major token mask ``(..., N)`` by ``dilation`` patches in every direction."""
    if dilation <= 0:
        return mask
    rows, cols = grid
    lead = mask.shape[:-1]
    img = mask.reshape(-1, 1, rows, cols).float()
    # max_pool pads with -inf, so the border is handled without wrap-around.
    grown = F.max_pool2d(img, kernel_size=2 * dilation + 1, stride=1, padding=dilation)
    return grown.reshape(*lead, rows * cols) > 0


def pose_maps(
    keypoints: ArrayLike,
    image_size: Sequence[int],
    patch_size: int = 16,
    dilation: int = 0,
) -> Tuple[ArrayLike, ArrayLike]:
    """Turn pixel keypoints into per-token pose maps.

    Args:
        keypoints: ``(..., K, 2)`` pixel coordinates ``(x, y)``; x is the column, y the row,
            origin at the top-left. NaN marks a missing point; points outside the image are ignored.
        image_size: ``(H, W)`` of the image the keypoints live in.
        patch_size: ViT patch size; must divide H and W.
        dilation: grow ``p2d`` by this many patches in each direction (PAAB's released code used 1).

    Returns:
        ``p2d`` bool ``(..., N)`` (any keypoint in the token) and ``p3d`` bool ``(..., N, K)``
        (keypoint k in the token), ``N = (H // p) * (W // p)``. NumPy in, NumPy out; tensors stay
        on their device.
    """
    rows, cols = patch_grid(image_size, patch_size)
    if dilation < 0:
        raise ValueError(f"dilation must be >= 0, got {dilation}")
    as_numpy = isinstance(keypoints, np.ndarray)
    kp = torch.from_numpy(np.asarray(keypoints, dtype=np.float32)) if as_numpy else keypoints
    if not torch.is_tensor(kp):
        raise ValueError(f"keypoints must be a numpy array or torch tensor, got {type(keypoints).__name__}")
    if kp.ndim < 2 or kp.shape[-1] != 2:
        raise ValueError(
            f"keypoints must have shape (..., K, 2) holding (x, y) pixels, got {tuple(kp.shape)}"
        )
    kp = kp.float()
    height, width = rows * patch_size, cols * patch_size
    x, y = kp[..., 0], kp[..., 1]
    visible = torch.isfinite(x) & torch.isfinite(y) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    col = torch.nan_to_num(x / patch_size, nan=0.0).floor().clamp(0, cols - 1).long()
    row = torch.nan_to_num(y / patch_size, nan=0.0).floor().clamp(0, rows - 1).long()
    token = (row * cols + col).unsqueeze(-2)  # (..., 1, K)
    p3d = torch.zeros(*kp.shape[:-2], rows * cols, kp.shape[-2], dtype=torch.bool, device=kp.device)
    # Each keypoint writes only its own column, so invalid points (parked at token 0) stay False.
    p3d.scatter_(-2, token, visible.unsqueeze(-2))
    p2d = dilate_token_mask(p3d.any(-1), (rows, cols), dilation)
    if as_numpy:
        return p2d.numpy(), p3d.numpy()
    return p2d, p3d


def mask_token_map(masks: torch.Tensor, patch_size: int, min_fraction: float = 0.0) -> torch.Tensor:
    """Row-major token map ``(B, N)`` of the patches a pixel mask ``(B, H, W)`` covers: a patch is a pose
    token when more than ``min_fraction`` of its pixels are in the mask (the mask prior of PAAB)."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be (B, H, W), got {tuple(masks.shape)}")
    patch_grid(masks.shape[-2:], patch_size)
    covered = F.avg_pool2d(masks[:, None].float(), kernel_size=patch_size, stride=patch_size)
    return (covered > min_fraction).flatten(1)


def keypoints_from_token_probabilities(probabilities: torch.Tensor, grid: Tuple[int, int], patch_size: int,
                                       threshold: float = 0.5) -> torch.Tensor:
    """Pixel keypoints ``(..., K, 2)`` (x, y) from per-token keypoint probabilities ``(..., N, K)`` (PAAT's
    per-keypoint head, ``token_probabilities``; row-major tokens): the most probable token's centre, refined
    by the probability-weighted centre of its 3x3 neighbourhood. NaN where no token's probability reaches
    ``threshold`` (not seen). The inverse of ``pose_maps`` to within a patch."""
    rows, cols = grid
    if probabilities.shape[-2] != rows * cols:
        raise ValueError(f"probabilities hold {probabilities.shape[-2]} tokens, but a {rows}x{cols} grid has "
                         f"{rows * cols}")
    prob = probabilities.float().movedim(-1, -2)  # (..., K, N)
    lead = prob.shape[:-1]
    prob = prob.reshape(-1, rows, cols)
    best = prob.flatten(1).argmax(1)
    row, col = best // cols, best % cols
    # the 3x3 window around the best token, clipped at the border
    offsets = torch.arange(-1, 2, device=prob.device)
    rr = (row[:, None] + offsets).clamp(0, rows - 1)  # (M, 3)
    cc = (col[:, None] + offsets).clamp(0, cols - 1)
    window = prob[torch.arange(len(prob), device=prob.device)[:, None, None], rr[:, :, None], cc[:, None, :]]
    # border clipping repeats a row or column; count each token once
    window = window * _unique(rr)[:, :, None] * _unique(cc)[:, None, :]
    weight = window.sum((1, 2)).clamp_min(1e-12)
    y = ((window.sum(2) * (rr.float() + 0.5)).sum(1) / weight) * patch_size
    x = ((window.sum(1) * (cc.float() + 0.5)).sum(1) / weight) * patch_size
    points = torch.stack([x, y], -1)
    seen = prob.flatten(1).amax(1) >= threshold
    points[~seen] = float("nan")
    return points.reshape(*lead, 2)


def _unique(index: torch.Tensor) -> torch.Tensor:
    """1 for the first of repeated indices along the last axis, 0 for the repeats."""
    first = torch.ones_like(index, dtype=torch.float32)
    first[:, 1:] = (index[:, 1:] != index[:, :-1]).float()
    return first
