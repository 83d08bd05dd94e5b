"""PoseAwareEncoder: a timm DeiT with PAAB and/or PAAT inserted between its blocks.

The backbone is timm's own ``VisionTransformer``; the pose-aware modules run between
``blocks[i]`` and never replace timm code. ``forward_features``/``forward_head`` mirror timm.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import timm
import torch
import torch.nn as nn
from timm.models.vision_transformer import checkpoint_filter_fn, init_weights_vit_timm

from .attention import PoseAwareAttentionBlock
from .auxiliary import PatchKeypointClassifier
from .methods import check_method, deployed_method, uses_paab, uses_paat
from .pose_maps import dilate_token_mask, mask_token_map, patch_grid, pose_maps
from .runs import load_matching, load_tensors
from .stem import STEMS, conv_stem

PAAB_TOKENS = ("keypoints", "mask")

PRESETS: Dict[str, str] = {
    "tiny": "deit_tiny_patch16_224",
    "small": "deit_small_patch16_224",
    "base": "deit_base_patch16_224",
}
POOLS = ("cls", "mean")


@dataclass
class EncoderOutput:
    embedding: torch.Tensor  # (B, D) or (B, proj_dim)
    aux_loss: Optional[torch.Tensor]  # PAAT's λ·BCE in training mode, else None


def _choice(name: str, value: str, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


class PoseAwareEncoder(nn.Module):
    """Frame encoder: DeiT backbone plus the pose-aware modules selected by ``method``.

    ``paab_after`` and ``paat_after`` count backbone blocks from 1: ``paat_after=1`` reads the
    tokens right after the first block; ``paab_after=depth`` (the default) puts PAAB after the last.
    ``paab_tokens`` chooses PAAB's pose tokens: the patches holding keypoints (the paper), or the
    patches the robot's segmentation mask covers (the mask prior; the encoder then takes ``masks``).
    ``stem`` is the patch embedding: timm's ``patch`` convolution, or a ``conv`` stem (``poseaware.stem``).
    """

    def __init__(
        self,
        method: str = "baseline",
        img_size: int = 224,
        patch_size: int = 16,
        preset: str = "tiny",
        num_keypoints: Optional[int] = None,
        depth: Optional[int] = None,
        paab_variant: str = "spatial",
        paab_after: Optional[int] = None,
        paab_count: int = 1,
        paab_dilation: int = 1,
        paab_tokens: str = "keypoints",
        paat_after: int = 1,
        paat_bottleneck: int = 256,
        paat_lambda: float = 1.6,
        paat_target: str = "p3d",
        pool: str = "cls",
        proj_dim: Optional[int] = None,
        drop_path_rate: float = 0.0,
        stem: str = "patch",
        pretrained_path: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.config: Dict[str, Any] = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config.pop("pretrained_path")
        self.method = check_method(method)
        _choice("preset", preset, tuple(PRESETS))
        self.pool = _choice("pool", pool, POOLS)
        self.image_size = (img_size, img_size)
        self.patch_size = patch_size
        patch_grid(self.image_size, patch_size)
        self.use_paab = uses_paab(method)
        self.use_paat = uses_paat(method)
        self.paab_tokens = _choice("paab_tokens", paab_tokens, PAAB_TOKENS)
        keypoint_paab = self.use_paab and paab_tokens == "keypoints"
        if (keypoint_paab or self.use_paat) and not num_keypoints:
            raise ValueError(f"method {method!r} needs num_keypoints (the K of the (B, K, 2) keypoints)")
        self.num_keypoints = num_keypoints

        extra = {"depth": depth} if depth else {}
        self.vit = timm.create_model(
            PRESETS[preset], pretrained=False, img_size=img_size, patch_size=patch_size,
            num_classes=0, drop_path_rate=drop_path_rate, **extra,
        )
        self.depth = len(self.vit.blocks)
        dim = self.vit.embed_dim
        if _choice("stem", stem, STEMS) == "conv":
            self.vit.patch_embed.proj = conv_stem(patch_size, dim)
        self.embed_dim = proj_dim or dim

        self.paab_after = self.depth if paab_after is None else int(paab_after)
        self.paab_dilation = int(paab_dilation)
        self.paab = nn.ModuleList()
        if self.use_paab:
            _choice("PAAB variant", paab_variant, ("spatial", "joint", "factorized"))
            if not 0 <= self.paab_after <= self.depth:
                raise ValueError(f"paab_after must be in 0..{self.depth} (blocks), got {paab_after}")
            if paab_count < 1:
                raise ValueError(f"paab_count must be >= 1, got {paab_count}")
            heads = self.vit.blocks[0].attn.num_heads
            mlp_ratio = self.vit.blocks[0].mlp.fc1.out_features / dim
            self.paab.extend(
                PoseAwareAttentionBlock(dim, heads, variant=paab_variant, mlp_ratio=mlp_ratio)
                for _ in range(paab_count)
            )
            self.paab.apply(init_weights_vit_timm)

        self.paat_after = int(paat_after)
        self.paat: Optional[PatchKeypointClassifier] = None
        if self.use_paat:
            if not 1 <= self.paat_after <= self.depth:
                raise ValueError(f"paat_after must be in 1..{self.depth} (blocks), got {paat_after}")
            self.paat = PatchKeypointClassifier(
                dim, num_keypoints, bottleneck=paat_bottleneck, target=paat_target, loss_weight=paat_lambda
            )

        self.head: nn.Module = nn.Linear(dim, proj_dim) if proj_dim else nn.Identity()
        if pretrained_path:
            self.load_backbone(pretrained_path)

    def load_backbone(self, path: str) -> None:
        """Initialise the DeiT backbone from a local timm/DeiT checkpoint; nothing is downloaded. Prints how
        many of the backbone's tensors loaded; weights that match too few of them are refused."""
        state = load_tensors(path, "pretrained weights", "give a local timm/DeiT state dict saved with torch.save")
        state = state.get("model", state) if isinstance(state, dict) else state
        if not isinstance(state, dict) or not state:
            raise ValueError(f"{path} holds no state dict of tensors; give a local timm/DeiT checkpoint")
        if self.config["stem"] == "conv":  # DeiT's patch convolution has no place in a conv stem, which trains anew
            state = {k: v for k, v in state.items() if not k.startswith("patch_embed.proj.")}
        state = checkpoint_filter_fn(state, self.vit)  # resamples position embeddings (and patches) to this size
        load_matching(self.vit, state, path, self.vit.state_dict())

    def _check_inputs(self, images: torch.Tensor, keypoints: Optional[torch.Tensor], need_keypoints: bool,
                      masks: Optional[torch.Tensor], need_masks: bool) -> None:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(
                f"images are {tuple(images.shape[-2:])} but the encoder was built for {self.image_size}; "
                f"resize them or build the encoder with img_size={images.shape[-1]}"
            )
        if need_masks and masks is None:
            raise ValueError("PAAB with paab_tokens='mask' needs the robot masks (B, H, W), got None")
        if masks is not None and tuple(masks.shape) != (images.shape[0], *self.image_size):
            raise ValueError(f"masks must be (B, H, W) = {(images.shape[0], *self.image_size)}, "
                             f"got {tuple(masks.shape)}")
        if keypoints is None:
            if need_keypoints:
                raise ValueError(f"method {self.method!r} needs keypoints (B, K, 2) in this mode, got None")
            return
        expected = (images.shape[0], self.num_keypoints, 2)
        if keypoints.ndim != 3 or keypoints.shape[0] != images.shape[0] or keypoints.shape[-1] != 2 or (
            self.num_keypoints and keypoints.shape[1] != self.num_keypoints
        ):
            raise ValueError(f"keypoints must be (B, K, 2) = {expected}, got {tuple(keypoints.shape)}")

    def forward_features(
        self, images: torch.Tensor, keypoints: Optional[torch.Tensor] = None, masks: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Final-norm tokens ``(B, 1+N, D)`` and PAAT's auxiliary loss (None outside training)."""
        train_paat = self.use_paat and self.training
        self._check_inputs(images, keypoints, self.needs_keypoints_at_inference or train_paat,
                           masks, self.needs_masks_at_inference)
        p2d_pose = p3d = p2d = None
        if keypoints is not None and (self.use_paab or train_paat):
            p2d, p3d = pose_maps(keypoints, self.image_size, self.patch_size)
        if self.use_paab:
            tokens = mask_token_map(masks, self.patch_size) if self.paab_tokens == "mask" else p2d
            p2d_pose = dilate_token_mask(tokens, patch_grid(self.image_size, self.patch_size), self.paab_dilation)
        vit = self.vit
        prefix = vit.num_prefix_tokens
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(images))))
        aux_loss = None
        if self.use_paab and self.paab_after == 0:
            x = self._apply_paab(x, p2d_pose, prefix)
        for index, block in enumerate(vit.blocks, start=1):
            x = block(x)
            if train_paat and index == self.paat_after:
                aux_loss = self.paat.loss(x[:, prefix:], p2d, p3d)
            if self.use_paab and index == self.paab_after:
                x = self._apply_paab(x, p2d_pose, prefix)
        return vit.norm(x), aux_loss

    def keypoint_logits(self, images: torch.Tensor) -> torch.Tensor:
        """PAAT's per-token keypoint logits ``(B, N, K)`` (row-major tokens): where the head sees each
        keypoint, read from the image alone (``paat.token_probabilities`` and
        ``pose_maps.keypoints_from_token_probabilities`` turn them into pixels). Needs the training
        checkpoint's PAAT head (the deployed encoder drops it)."""
        if self.paat is None or not self.paat.per_keypoint:
            raise ValueError(f"a {self.method!r} encoder has no per-keypoint PAAT head; keypoints come from an "
                             f"encoder trained with method=paat_detector, paat or paab+paat (paat_target p3d or "
                             f"p3d_softmax), loaded with its head")
        if self.use_paab and self.paab_after < self.paat_after:
            raise ValueError("PAAB runs before the PAAT head here and needs keypoints; predicting keypoints needs "
                             "paab_after >= paat_after")
        self._check_inputs(images, None, False, None, False)
        vit = self.vit
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(images))))
        for block in vit.blocks[:self.paat_after]:
            x = block(x)
        return self.paat(x[:, vit.num_prefix_tokens:])

    def _apply_paab(self, x: torch.Tensor, pose: torch.Tensor, prefix: int) -> torch.Tensor:
        # Images are single frames: T = 1, so the patches view is (B, 1, N, D).
        cls, patches = x[:, 0], x[:, prefix:].unsqueeze(1)
        for block in self.paab:
            cls, patches = block(cls, patches, pose.unsqueeze(1))
        return torch.cat([cls.unsqueeze(1), x[:, 1:prefix], patches.squeeze(1)], dim=1)

    def forward_head(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pool the tokens (CLS or patch mean) and apply the optional projection."""
        pooled = tokens[:, 0] if self.pool == "cls" else tokens[:, self.vit.num_prefix_tokens:].mean(1)
        return self.head(pooled)

    def forward(self, images: torch.Tensor, keypoints: Optional[torch.Tensor] = None,
                masks: Optional[torch.Tensor] = None) -> EncoderOutput:
        tokens, aux_loss = self.forward_features(images, keypoints, masks)
        return EncoderOutput(embedding=self.forward_head(tokens), aux_loss=aux_loss)

    @property
    def needs_keypoints_at_inference(self) -> bool:
        return self.use_paab and self.paab_tokens == "keypoints"

    @property
    def needs_masks_at_inference(self) -> bool:
        return self.use_paab and self.paab_tokens == "mask"

    def export(self) -> Dict[str, torch.Tensor]:
        """State dict of the deployed encoder: the PAAT head is dropped."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("paat.")}

    def export_config(self) -> Dict[str, Any]:
        """Constructor arguments of the deployed encoder that ``export()`` weights load into."""
        config = dict(self.config)
        config["method"] = deployed_method(self.method)
        return config
