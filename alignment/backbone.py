"""The project's encoder as a robomimic vision backbone, plugged in through robomimic's own extension points.

- ``PoseAwareViTConv`` is a ``ConvBase``: robomimic's ``VisualCore`` builds it from
  ``backbone_class="PoseAwareViTConv"`` and pools its patch-token map with ``SpatialSoftmax`` (its default
  readout), or takes the CLS token (``readout="cls"``, then ``pool_class=None``). It is timm's DeiT with
  PAAB/PAAT (``poseaware.PoseAwareEncoder``), from scratch or from an ``alignment.train`` checkpoint.
- ``PoseImageModality`` (``pose_rgb``) is a robomimic observation modality: an image with one extra binary
  channel per keypoint (``pose_image``), so the keypoints travel with the pixels through robomimic's
  datasets, its ``CropRandomizer`` (a crop moves them with the image) and ``RolloutPolicy``. PAAB reads
  them at training and at rollout; PAAT's loss (``auxiliary_loss``) is added to BC's by ``alignment.pose_bc``.
  ``KeypointCropRandomizer`` is robomimic's crop for such images (its own centre crop takes 1 or 3 channels).

robomimic registers ``Modality`` subclasses by themselves; ``VisualCore`` finds its backbone class by
name in ``robomimic.models.obs_core``'s namespace (where ``R3MConv`` and ``MVPConv`` live), so importing
this module puts the class there.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence

import numpy as np
import robomimic.models.obs_core as obs_core
import robomimic.utils.obs_utils as ObsUtils
import torch
from robomimic.models.base_nets import ConvBase
from timm.layers import resample_abs_pos_embed

from poseaware import PoseAwareEncoder
from poseaware.inputs import normalize_images
from poseaware.runs import read_checkpoint

POSE_MODALITY = "pose_rgb"
POSE_IMAGE = "pose_image"  # obs/<view>_pose_image: (T, H, W, 3 + K) uint8
READOUTS = ("tokens", "cls")


def pose_image(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """``(..., H, W, 3)`` uint8 images and ``(..., K, 2)`` pixel keypoints (x = column; NaN = missing) ->
    ``(..., H, W, 3 + K)`` uint8: channel ``3 + k`` is 255 at keypoint k's pixel and 0 elsewhere."""
    image, keypoints = np.asarray(image), np.asarray(keypoints, dtype=np.float64)
    if image.shape[-1] != 3 or keypoints.shape[-1] != 2 or image.shape[:-3] != keypoints.shape[:-2]:
        raise ValueError(f"pose_image needs (..., H, W, 3) images and (..., K, 2) keypoints with the same leading "
                         f"shape, got {image.shape} and {keypoints.shape}")
    height, width = image.shape[-3:-1]
    k = keypoints.shape[-2]
    maps = np.zeros(image.shape[:-1] + (k,), np.uint8)
    with np.errstate(invalid="ignore"):
        col, row = np.floor(keypoints[..., 0]), np.floor(keypoints[..., 1])
        inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    lead, joint = np.nonzero(inside.reshape(-1, k))
    flat = maps.reshape(-1, height, width, k)
    flat[lead, row.reshape(-1, k)[lead, joint].astype(int), col.reshape(-1, k)[lead, joint].astype(int), joint] = 255
    return np.concatenate([image, maps], axis=-1)


def keypoints_from_maps(maps: torch.Tensor) -> torch.Tensor:
    """``(B, K, H, W)`` keypoint channels (after any crop) -> ``(B, K, 2)`` pixel centres, NaN where a
    keypoint's channel is empty (it was missing, or cropped away)."""
    b, k, h, w = maps.shape
    flat = maps.reshape(b, k, h * w)
    value, index = flat.max(-1)
    xy = torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], -1).to(maps.dtype) + 0.5
    return torch.where((value > 0)[..., None], xy, torch.full_like(xy, float("nan")))


class PoseImageModality(ObsUtils.Modality):
    """An RGB image with one binary channel per keypoint; every channel scaled from [0, 255] to [0, 1]."""

    name = POSE_MODALITY

    @classmethod
    def _default_obs_processor(cls, obs):
        return ObsUtils.process_frame(frame=obs, channel_dim=obs.shape[-1], scale=255.0)

    @classmethod
    def _default_obs_unprocessor(cls, obs):
        from robomimic.utils import tensor_utils as TensorUtils

        return TensorUtils.to_uint8(ObsUtils.unprocess_frame(frame=obs, channel_dim=obs.shape[-3], scale=255.0))


class KeypointCropRandomizer(obs_core.CropRandomizer):
    """robomimic's ``CropRandomizer`` for ``pose_rgb`` images: the same random crops in training (every
    channel, so keypoints move with the pixels), and a centre crop at evaluation that takes any number of
    channels (robomimic's asserts 1 or 3). Registered with robomimic by subclassing."""

    def _forward_in_eval(self, inputs: torch.Tensor) -> torch.Tensor:
        height, width = inputs.shape[-2:]
        top, left = (height - self.crop_height) // 2, (width - self.crop_width) // 2
        return inputs[..., top:top + self.crop_height, left:left + self.crop_width]


def load_alignment_weights(encoder: PoseAwareEncoder, path: str) -> None:
    """Every weight of an ``alignment.train`` checkpoint (a PAAT head too, to train on) into ``encoder``;
    DeiT's position embeddings are resampled to the encoder's patch grid when the image size differs, as
    timm does when a checkpoint is fine-tuned at another resolution."""
    ckpt = read_checkpoint(path)
    if ckpt["model_config"]["method"] != encoder.method:
        raise ValueError(f"{path} holds a {ckpt['model_config']['method']!r} encoder, not {encoder.method!r}; give a "
                         f"checkpoint trained with method={encoder.method}, or backbone={ckpt['model_config']['method']}")
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    grid = tuple(s // encoder.patch_size for s in encoder.image_size)
    state["vit.pos_embed"] = resample_abs_pos_embed(state["vit.pos_embed"], grid,
                                                    num_prefix_tokens=encoder.vit.num_prefix_tokens)
    encoder.load_state_dict(state)


class PoseAwareViTConv(ConvBase):
    """DeiT (+ PAAB/PAAT) as a robomimic backbone: ``(B, 3 [+ K], H, W)`` in [0, 1] -> the final-norm
    patch tokens as a ``(B, D, H/p, W/p)`` feature map (timm's row-major token order), or the CLS token as
    ``(B, D, 1, 1)``. Channels after the first three are keypoint maps (``pose_rgb``).

    ``encoder_config``: ``PoseAwareEncoder``'s arguments (``img_size`` is the image after any crop).
    ``init_checkpoint``: an ``alignment.train`` checkpoint whose weights it starts from (fine-tuning).
    ``freeze``: no gradients reach it, and it runs as deployed (PAAT off).
    """

    def __init__(self, input_channel: int = 3, encoder_config: Optional[Mapping[str, Any]] = None,
                 readout: str = "tokens", init_checkpoint: Optional[str] = None, freeze: bool = False) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; choose one of {', '.join(READOUTS)}")
        encoder = PoseAwareEncoder(**dict(encoder_config or {}))
        if init_checkpoint:
            load_alignment_weights(encoder, init_checkpoint)
        needs = encoder.num_keypoints if (encoder.use_paab or encoder.use_paat) else 0
        if input_channel != 3 + (needs or 0):
            raise ValueError(f"a {encoder.method!r} backbone takes images with {needs or 0} keypoint channels "
                             f"({3 + (needs or 0)} in all{f', the {POSE_MODALITY!r} modality of <camera>_{POSE_IMAGE}' if needs else ''}), "
                             f"got {input_channel} channels")
        self.encoder, self.readout, self.freeze = encoder, readout, freeze
        self.input_channel = input_channel
        self.auxiliary_loss: Optional[torch.Tensor] = None  # PAAT's λ·BCE of the last training forward
        if freeze:
            self.encoder.requires_grad_(False)

    def output_shape(self, input_shape: Sequence[int]) -> List[int]:
        channels, height, width = input_shape
        if (height, width) != self.encoder.image_size:
            raise ValueError(f"the backbone was built for {self.encoder.image_size[0]} px inputs but gets "
                             f"{height}x{width} (the image after any crop); set its img_size to the crop size "
                             f"(policy.crop), or crop the images to {self.encoder.image_size[0]} px")
        if self.readout == "cls":
            return [self.encoder.vit.embed_dim, 1, 1]
        grid = self.encoder.patch_size
        return [self.encoder.vit.embed_dim, height // grid, width // grid]

    def train(self, mode: bool = True) -> "PoseAwareViTConv":
        super().train(mode)
        if self.freeze:
            self.encoder.eval()  # a frozen encoder is deployed as is (PAAT off)
        return self

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[1] != self.input_channel:
            raise ValueError(f"expected {self.input_channel} channels, got {inputs.shape[1]}")
        images = normalize_images(inputs[:, :3])
        keypoints = keypoints_from_maps(inputs[:, 3:]) if inputs.shape[1] > 3 else None
        tokens, aux = self.encoder.forward_features(images, keypoints)
        self.auxiliary_loss = aux
        if self.readout == "cls":
            return tokens[:, 0, :, None, None]
        b, _, d = tokens.shape
        gh, gw = (s // self.encoder.patch_size for s in self.encoder.image_size)
        patches = tokens[:, self.encoder.vit.num_prefix_tokens:]
        return patches.reshape(b, gh, gw, d).permute(0, 3, 1, 2)  # row-major tokens -> (B, D, rows, cols)


# VisualCore evaluates backbone_class in obs_core's namespace (robomimic/models/obs_core.py).
setattr(obs_core, PoseAwareViTConv.__name__, PoseAwareViTConv)
