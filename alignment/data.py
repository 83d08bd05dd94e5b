"""Multi-view frames for alignment, read through ``envs.dataset_io`` and turned into model inputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from envs.dataset_io import EpisodeFile

FIRST_PERSON = "first_person"


@dataclass
class ViewSplit:
    train: List[str]
    test: List[str]


def split_views(views: Sequence[str], num_train: int = 2, train: Optional[Sequence[str]] = None,
                test: Optional[Sequence[str]] = None) -> ViewSplit:
    """Training views and unseen test views; by default the first ``num_train`` third-person views
    train, and the other third-person views plus the first-person view test (as in 3DTRL)."""
    third_person = [v for v in views if v != FIRST_PERSON]
    train = list(train) if train else third_person[:num_train]
    test = list(test) if test else [v for v in views if v not in train]
    unknown = [v for v in train + test if v not in views]
    if unknown:
        raise ValueError(f"views {unknown} are not in the dataset; it has {list(views)}")
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise ValueError(f"train views overlap test views: {overlap}; unseen-view scores need disjoint views")
    if not train or not test:
        raise ValueError(f"need at least one train and one test view, got train={train} test={test}")
    return ViewSplit(train, test)


# demo -> view -> (images (T,H,W,3) uint8, keypoints (T,K,2) float32 or None)
Frames = Dict[str, Dict[str, Tuple[np.ndarray, Optional[np.ndarray]]]]


def load_frames(path: str, split: str, views: Sequence[str], keypoints: bool) -> Frames:
    with EpisodeFile(path) as f:
        demos = f.split(split)
        if not demos:
            raise ValueError(f"the {split!r} split of {path!r} is empty; generate more episodes "
                             f"(splits are 70/10/20 by episode index) or choose another split")
        missing = [v for v in views if v not in f.views]
        if missing:
            raise ValueError(f"{path!r} has no images for views {missing}; it has {f.views}")
        if keypoints:
            lacking = [v for v in views if not f.has_keypoints(v)]
            if lacking:
                raise ValueError(f"{path!r} has no keypoints for views {lacking} (obs/<view>_keypoints); "
                                 f"PAAB and PAAT need them: generate the data with envs.generate, "
                                 f"or use method=baseline")
        return {d: {v: (f.obs(d, f"{v}_image"), f.obs(d, f"{v}_keypoints") if keypoints else None)
                    for v in views} for d in demos}


def image_size_of(path: str) -> int:
    with EpisodeFile(path) as f:
        if not f.demos or not f.views:
            raise ValueError(f"{path!r} holds no demos with images")
        return int(f.obs(f.demos[0], f"{f.views[0]}_image", 0).shape[0])


def to_model_input(images: np.ndarray, keypoints: Optional[np.ndarray], size: int,
                   device: torch.device) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """uint8 ``(N,H,W,3)`` -> normalised ``(N,3,size,size)``; keypoints scaled with the resize."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    kp = None
    if keypoints is not None:
        kp = torch.from_numpy(np.asarray(keypoints, np.float32)).to(device)
        kp = kp * torch.tensor([size / w, size / h], device=device)
    return x, kp


def augment(images: torch.Tensor, keypoints: Optional[torch.Tensor], generator: torch.Generator,
            min_scale: float = 0.85, jitter: float = 0.2) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Colour jitter and a small random resized crop of one view's frames; keypoints move with the crop."""
    n, _, h, w = images.shape
    u = torch.rand(4, generator=generator).tolist()
    images = images * (1 + jitter * (2 * u[0] - 1)) + jitter * (2 * u[1] - 1)
    scale = min_scale + (1 - min_scale) * u[2]
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = int(u[3] * (h - ch)), int(torch.rand(1, generator=generator).item() * (w - cw))
    crop = images[:, :, top:top + ch, left:left + cw]
    images = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)
    if keypoints is not None:
        keypoints = (keypoints - torch.tensor([left, top], device=keypoints.device)) * torch.tensor(
            [w / cw, h / ch], device=keypoints.device)
    return images, keypoints


def sample_pair(frames: Frames, views: Sequence[str], batch: int, rng: np.random.Generator):
    """A training batch: one demo, two different training views, ``batch`` distinct time steps."""
    demo = list(frames)[rng.integers(len(frames))]
    vi, vj = rng.choice(len(views), size=2, replace=False)
    length = len(frames[demo][views[vi]][0])
    times = np.sort(rng.choice(length, size=min(batch, length), replace=False))
    pick = lambda v: (frames[demo][v][0][times], None if frames[demo][v][1] is None else frames[demo][v][1][times])
    return pick(views[vi]), pick(views[vj]), times
