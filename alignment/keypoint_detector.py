"""The arm's keypoints read from images by a PAAT encoder's head: a detector for deployment without a
simulator's projection (the camera is then found from the arm with nothing but the image and the joints)."""
from __future__ import annotations

from typing import List

import numpy as np
import torch

from poseaware import PoseAwareEncoder
from poseaware.pose_maps import keypoints_from_token_logits, patch_grid
from poseaware.runs import read_checkpoint

from .data import ViewFrames, to_model_input


class PaatKeypointDetector:
    """``detector(images)``: uint8 ``(B, H, W, 3)`` -> ``(B, K, 2)`` float32 pixel keypoints (x, y) in the
    images' own size, NaN where the head sees no keypoint. Built from an ``alignment.train`` checkpoint of a
    PAAT encoder (method paat or paab+paat); its head is what the deployed encoder drops."""

    def __init__(self, checkpoint: str, device: torch.device = torch.device("cpu"), threshold: float = 0.5,
                 batch_size: int = 64) -> None:
        ckpt = read_checkpoint(checkpoint)
        config = ckpt.get("model_config", {})
        if "paat_after" not in config:
            raise ValueError(f"{checkpoint} is not an alignment.train checkpoint (no encoder config with a PAAT "
                             f"head); give a checkpoint trained with method=paat or paab+paat")
        self.model = PoseAwareEncoder(**config)
        self.model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()
                                    if k.startswith("model.")})
        self.model.to(device).eval()
        if self.model.paat is None:
            raise ValueError(f"{checkpoint} holds a {config['method']!r} encoder, which has no PAAT head to read "
                             f"keypoints from; train one with method=paat")
        self.keypoint_names: List[str] = list(ckpt["data"]["keypoint_names"])
        self.size = self.model.image_size[0]
        self.grid = patch_grid(self.model.image_size, self.model.patch_size)
        self.device, self.threshold, self.batch_size = device, threshold, batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (B, H, W, 3), got {images.dtype} {images.shape}")
        height, width = images.shape[1:3]
        out = []
        for start in range(0, len(images), self.batch_size):
            x = to_model_input(ViewFrames(images[start:start + self.batch_size]), self.size, self.device).images
            kp = keypoints_from_token_logits(self.model.keypoint_logits(x), self.grid, self.model.patch_size,
                                             self.threshold)
            out.append((kp * torch.tensor([width / self.size, height / self.size], device=kp.device)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)
