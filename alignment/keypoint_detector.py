"""The arm's keypoints read from images by a PAAT encoder's head: a detector for deployment without a
simulator's projection (the camera is then found from the arm with nothing but the image and the joints)."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch

from poseaware import PoseAwareEncoder
from poseaware.pose_maps import keypoints_from_token_probabilities, patch_grid
from poseaware.runs import load_trained

from .data import ViewFrames, to_model_input


class PaatKeypointDetector:
    """``detector(images)``: uint8 ``(B, H, W, 3)`` -> ``(B, K, 2)`` float32 pixel keypoints (x, y) in the
    images' own size, NaN where the head sees no keypoint. Built from an ``alignment.train`` checkpoint of a
    PAAT encoder (method paat_detector, or paat / paab+paat); its head is what the deployed encoder drops."""

    def __init__(self, checkpoint: str, device: torch.device = torch.device("cpu"), threshold: float = 0.5,
                 batch_size: int = 64) -> None:
        self.model, ckpt = load_trained(checkpoint, PoseAwareEncoder)
        model = self.model
        # refused here, before a run clears its folder, rather than at the first frame
        if model.paat is None or not model.paat.per_keypoint:
            raise ValueError(f"{checkpoint} holds a {model.method!r} encoder, which has no per-keypoint PAAT head "
                             f"to read keypoints from; give a checkpoint trained with method=paat_detector (or "
                             f"method=paat, paat_target=p3d)")
        if model.use_paab and model.paab_after < model.paat_after:
            raise ValueError(f"{checkpoint}: PAAB runs before its PAAT head and needs the very keypoints to be read; "
                             f"use a PAAT encoder whose PAAB comes after the head (paab_after >= paat_after)")
        self.trained_on = ckpt["data"]  # image size and keypoint names, for check_encoder_fits
        self.keypoint_names: List[str] = list(self.trained_on["keypoint_names"])
        model.to(device).eval()
        self.size = model.image_size[0]
        self.grid = patch_grid(model.image_size, model.patch_size)
        self.device, self.threshold, self.batch_size = device, threshold, batch_size

    def token_pixels(self, width: int) -> float:
        """One token's width in the pixels of images ``width`` wide (the detector's resolution)."""
        return self.model.patch_size * width / self.size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.locate(images, self.threshold)[0]

    @torch.no_grad()
    def locate(self, images: np.ndarray, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
        """``(B, K, 2)`` keypoints as ``__call__`` gives them at ``threshold`` (0: always the best token), and
        ``(B, K)`` the head's probability at its best token."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (B, H, W, 3), got {images.dtype} {images.shape}")
        height, width = images.shape[1:3]
        points, probabilities = [], []
        for start in range(0, len(images), self.batch_size):
            x = to_model_input(ViewFrames(images[start:start + self.batch_size]), self.size, self.device).images
            prob = self.model.paat.token_probabilities(self.model.keypoint_logits(x))
            kp = keypoints_from_token_probabilities(prob, self.grid, self.model.patch_size, threshold)
            points.append((kp * torch.tensor([width / self.size, height / self.size], device=kp.device)).cpu().numpy())
            probabilities.append(prob.amax(1).cpu().numpy())
        return np.concatenate(points).astype(np.float32), np.concatenate(probabilities)
