"""TimeSformer with divided space-time attention, and PAAB/PAAT from ``poseaware`` on video tokens.

Follows facebookresearch/TimeSformer ("divided_space_time"): each block runs temporal attention
over the same patch across frames, then ``temporal_fc`` (zero-initialised), then spatial attention
within each frame with a per-frame copy of CLS (the copies are averaged back), then the MLP.
Tokens are patch-major, time-minor: token ``1 + n * T + t`` is patch n of frame t. Parameter names
follow timm's ViT (``blocks.i.attn``, ``norm1``, ``mlp``...) so ViT/DeiT weights seed the spatial path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import Attention, DropPath, Mlp, PatchEmbed, trunc_normal_
from timm.models.vision_transformer import resample_abs_pos_embed

from poseaware import PatchKeypointClassifier, PoseAwareAttentionBlock, dilate_token_mask, patch_grid, pose_maps
from poseaware.methods import check_method, deployed_method, uses_paab, uses_paat
from poseaware.runs import load_matching, load_tensors

PRESETS: Dict[str, dict] = {
    "base": dict(embed_dim=768, depth=12, num_heads=12),  # the paper's: 8 x 224 x 224
    "small": dict(embed_dim=384, depth=12, num_heads=6),
    "tiny": dict(embed_dim=192, depth=12, num_heads=3),
    "micro": dict(embed_dim=96, depth=4, num_heads=3),  # CPU tests and benchmarks
}


def frames_to_tokens(patches: torch.Tensor) -> torch.Tensor:
    """``(B, T, N, D)`` -> patch-major, time-minor ``(B, N*T, D)``."""
    b, t, n, d = patches.shape
    return patches.transpose(1, 2).reshape(b, n * t, d)


def tokens_to_frames(tokens: torch.Tensor, frames: int) -> torch.Tensor:
    """Patch-major, time-minor ``(B, N*T, D)`` -> ``(B, T, N, D)``."""
    b, nt, d = tokens.shape
    return tokens.reshape(b, nt // frames, frames, d).transpose(1, 2)


class DividedSpaceTimeBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.temporal_norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.temporal_attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.temporal_fc = nn.Linear(dim, dim)
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        b, length, d = x.shape
        n = (length - 1) // frames
        cls, tokens = x[:, :1], x[:, 1:]
        # Temporal attention: the same patch across frames.
        seq = tokens.reshape(b * n, frames, d)
        res = self.drop_path(self.temporal_attn(self.temporal_norm1(seq))).reshape(b, n * frames, d)
        tokens = tokens + self.temporal_fc(res)
        # Spatial attention: within each frame, with a per-frame copy of CLS.
        per_frame = tokens_to_frames(tokens, frames).reshape(b * frames, n, d)
        seq = torch.cat([cls.expand(b, frames, d).reshape(b * frames, 1, d), per_frame], dim=1)
        res = self.drop_path(self.attn(self.norm1(seq)))
        cls_res = res[:, 0].reshape(b, frames, d).mean(1, keepdim=True)
        tok_res = frames_to_tokens(res[:, 1:].reshape(b, frames, n, d))
        x = torch.cat([cls, tokens], dim=1) + torch.cat([cls_res, tok_res], dim=1)
        return x + self.drop_path(self.mlp(self.norm2(x)))


@dataclass
class VideoOutput:
    logits: torch.Tensor  # (B, num_classes), or features when num_classes == 0
    features: torch.Tensor  # (B, D) final-norm CLS
    aux_loss: Optional[torch.Tensor]


class PoseAwareTimeSformer(nn.Module):
    """TimeSformer for clips ``(B, T, 3, H, W)`` with the shared PAAB/PAAT layers of ``poseaware``."""

    def __init__(self, method: str = "baseline", num_classes: int = 0, num_frames: int = 8, img_size: int = 224,
                 patch_size: int = 16, preset: str = "base", num_keypoints: Optional[int] = None,
                 paab_variant: str = "spatial", paab_after: Optional[int] = None, paab_count: int = 1,
                 paab_dilation: int = 1, paat_after: int = 1, paat_bottleneck: int = 256, paat_lambda: float = 1.6,
                 paat_target: str = "p3d", drop_path_rate: float = 0.0, pretrained_path: Optional[str] = None) -> None:
        super().__init__()
        check_method(method)
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        if paab_count < 1:
            raise ValueError(f"paab_count must be >= 1, got {paab_count}")
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__", "pretrained_path")}
        self.method, self.num_frames, self.patch_size = method, num_frames, patch_size
        self.image_size = (img_size, img_size)
        rows, cols = patch_grid(self.image_size, patch_size)
        spec = PRESETS[preset]
        dim, depth, heads = spec["embed_dim"], spec["depth"], spec["num_heads"]
        self.use_paab, self.use_paat = uses_paab(method), uses_paat(method)
        if (self.use_paab or self.use_paat) and not num_keypoints:
            raise ValueError(f"method {method!r} needs num_keypoints")
        self.num_keypoints = num_keypoints
        self.patch_embed = PatchEmbed(img_size, patch_size, 3, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + rows * cols, dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, dim))
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(DividedSpaceTimeBlock(dim, heads, drop_path=r) for r in rates)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes) if num_classes else nn.Identity()
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        self.paab_after = depth if paab_after is None else paab_after
        self.paab_dilation = paab_dilation
        self.paab = nn.ModuleList(PoseAwareAttentionBlock(dim, heads, variant=paab_variant)
                                  for _ in range(paab_count if self.use_paab else 0))
        self.paat_after = paat_after
        self.paat = PatchKeypointClassifier(dim, num_keypoints, paat_bottleneck, paat_target, paat_lambda) \
            if self.use_paat else None
        if pretrained_path:
            self.load_pretrained(pretrained_path)

    def _embed(self, video: torch.Tensor) -> torch.Tensor:
        b, t = video.shape[:2]
        x = self.patch_embed(video.flatten(0, 1))  # (B*T, N, D)
        x = x + self.pos_embed[:, 1:]
        n, d = x.shape[1], x.shape[2]
        x = x.reshape(b, t, n, d) + self.time_embed[:, :t].unsqueeze(2)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(b, 1, d)
        return torch.cat([cls, frames_to_tokens(x)], dim=1)

    def _check(self, video: torch.Tensor, keypoints: Optional[torch.Tensor], need: bool) -> None:
        if video.ndim != 5 or video.shape[2] != 3:
            raise ValueError(f"video must be (B, T, 3, H, W), got {tuple(video.shape)}")
        if video.shape[1] != self.num_frames or tuple(video.shape[-2:]) != self.image_size:
            raise ValueError(f"video is {tuple(video.shape[1:])}; the model takes "
                             f"{self.num_frames} frames of {self.image_size}")
        if keypoints is None:
            if need:
                raise ValueError(f"method {self.method!r} needs keypoints (B, T, K, 2) in this mode")
            return
        expected = (video.shape[0], self.num_frames, self.num_keypoints, 2)
        if tuple(keypoints.shape) != expected:
            raise ValueError(f"keypoints must be (B, T, K, 2) = {expected}, got {tuple(keypoints.shape)}")

    def forward(self, video: torch.Tensor, keypoints: Optional[torch.Tensor] = None) -> VideoOutput:
        train_paat = self.use_paat and self.training
        self._check(video, keypoints, self.use_paab or train_paat)
        frames = video.shape[1]
        p2d = p3d = pose = None
        if keypoints is not None and (self.use_paab or train_paat):
            p2d, p3d = pose_maps(keypoints, self.image_size, self.patch_size)  # (B,T,N), (B,T,N,K)
            pose = dilate_token_mask(p2d, patch_grid(self.image_size, self.patch_size), self.paab_dilation)
        x = self._embed(video)
        aux = None
        for index, block in enumerate(self.blocks, start=1):
            x = block(x, frames)
            if train_paat and index == self.paat_after:
                aux = self.paat.loss(tokens_to_frames(x[:, 1:], frames), p2d, p3d)
            if self.use_paab and index == self.paab_after:
                x = self.apply_paab(x, pose, frames)
        features = self.norm(x)[:, 0]
        return VideoOutput(logits=self.head(features), features=features, aux_loss=aux)

    def apply_paab(self, x: torch.Tensor, pose: torch.Tensor, frames: int) -> torch.Tensor:
        """PAAB on video tokens: patch-major tokens are viewed per frame, and mapped back."""
        cls, patches = x[:, 0], tokens_to_frames(x[:, 1:], frames)
        for block in self.paab:
            cls, patches = block(cls, patches, pose)
        return torch.cat([cls.unsqueeze(1), frames_to_tokens(patches)], dim=1)

    def export(self) -> Dict[str, torch.Tensor]:
        """State dict of the deployed model: the PAAT head is dropped."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("paat.")}

    def export_config(self) -> Dict[str, object]:
        """Constructor arguments of the deployed model that ``export()`` weights load into."""
        return dict(self.config, method=deployed_method(self.method),
                    num_keypoints=self.num_keypoints if self.use_paab else None)

    def load_pretrained(self, path: str) -> Tuple[list, list]:
        """Initialise from a local ViT/DeiT state dict or a facebookresearch TimeSformer ``.pyth``.

        ViT attention weights also seed the temporal attention. Nothing is downloaded. Prints how many of
        the backbone's tensors loaded; weights that match too few of them are refused. Returns the backbone
        tensors that kept their initialisation and the file's tensors that were not used.
        """
        raw = load_tensors(path, "pretrained weights", "give a local ViT/DeiT state dict or a TimeSformer .pyth")
        state = raw.get("model_state", raw.get("model", raw.get("state_dict", raw))) if isinstance(raw, dict) else raw
        if not isinstance(state, dict) or not state:
            raise ValueError(f"{path} holds no state dict of tensors; give a local ViT/DeiT or TimeSformer checkpoint")
        state = {k.removeprefix("model."): v for k, v in state.items()}
        if "pos_embed" in state and state["pos_embed"].shape != self.pos_embed.shape:
            rows, cols = patch_grid(self.image_size, self.patch_size)
            state["pos_embed"] = resample_abs_pos_embed(state["pos_embed"], (rows, cols), num_prefix_tokens=1)
        if "time_embed" in state and state["time_embed"].shape != self.time_embed.shape:
            state["time_embed"] = nn.functional.interpolate(
                state["time_embed"].transpose(1, 2), size=self.num_frames, mode="nearest").transpose(1, 2)
        if not any(".temporal_attn." in k for k in state):  # image ViT: seed temporal attention
            for k in list(state):
                if ".attn." in k and k.startswith("blocks."):
                    state[k.replace(".attn.", ".temporal_attn.")] = state[k].clone()
        backbone = [k for k in self.state_dict() if not k.startswith(("head.", "paab.", "paat."))]
        return load_matching(self, state, path, backbone)
