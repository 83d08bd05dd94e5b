"""Multi-view frames for alignment, read through ``envs.dataset_io`` and turned into model inputs:
whole trajectories (validation, test, embedding) and seeded training batches of frame pairs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from envs.dataset_io import EpisodeFile
from poseaware.inputs import normalize_images

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


def split_demos(f: EpisodeFile, split: str, views: Sequence[str], keypoints: bool) -> List[str]:
    """The demos of ``split``, after checking that they have what the model will read."""
    demos = f.split(split)
    if not demos:
        raise ValueError(f"the {split!r} split of {f.path!r} is empty; generate more episodes "
                         f"(splits are 70/10/20 by episode index) or choose another split")
    missing = [v for v in views if v not in f.views]
    if missing:
        raise ValueError(f"{f.path!r} has no images for views {missing}; it has {f.views}")
    kinds = ("image", "keypoints") if keypoints else ("image",)
    for kind in kinds:  # every demo of the split, not only the first
        lacking = sorted({v for d in demos for v in views if not f.has_view_obs(d, v, kind)})
        if lacking and kind == "keypoints":
            raise ValueError(f"{f.path!r} has no keypoints for views {lacking} in its {split!r} split "
                             f"(obs/<view>_keypoints); PAAB and PAAT need them: generate the data with "
                             f"envs.generate, or use method=baseline")
        if lacking:
            raise ValueError(f"{f.path!r} has no images for views {lacking} in its {split!r} split; "
                             f"the file is partial")
    return demos


def read_trajectory(f: EpisodeFile, demo: str, views: Sequence[str], keypoints: bool):
    return {v: (f.view_obs(demo, v, "image"), f.view_obs(demo, v, "keypoints") if keypoints else None)
            for v in views}


def load_frames(path: str, split: str, views: Sequence[str], keypoints: bool) -> Frames:
    with EpisodeFile(path) as f:
        return {d: read_trajectory(f, d, views, keypoints) for d in split_demos(f, split, views, keypoints)}


class Trajectories(Dataset):
    """One item per demo of a split: ``(demo, {view: (images, keypoints)})``, read when asked for."""

    def __init__(self, path: str, split: str, views: Sequence[str], keypoints: bool) -> None:
        self.path, self.views, self.keypoints = path, list(views), keypoints
        with EpisodeFile(path) as f:
            self.demos = split_demos(f, split, self.views, keypoints)

    def __len__(self) -> int:
        return len(self.demos)

    def __getitem__(self, index: int):
        with EpisodeFile(self.path) as f:
            return self.demos[index], read_trajectory(f, self.demos[index], self.views, self.keypoints)


class PairBatches(Dataset):
    """``steps`` training batches per epoch (see ``sample_pair``), each drawn from a generator seeded by
    (seed, rank, epoch, step), so a run is reproducible and a resumed epoch sees the same batches."""

    def __init__(self, frames: Frames, views: Sequence[str], batch_frames: int, steps: int, seed: int,
                 rank: int = 0) -> None:
        self.frames, self.views, self.batch_frames, self.steps = frames, list(views), batch_frames, steps
        self.seed, self.rank, self.epoch = seed, rank, 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, self.epoch, step])
        a, b, times = sample_pair(self.frames, self.views, self.batch_frames, rng)
        return {"a": a, "b": b, "times": times, "augment_seed": int(rng.integers(2**31))}


def image_size_of(path: str) -> int:
    with EpisodeFile(path) as f:
        if not f.demos or not f.views:
            raise ValueError(f"{path!r} holds no demos with images")
        return int(f.view_obs(f.demos[0], f.views[0], "image", 0).shape[0])


def to_model_input(images: np.ndarray, keypoints: Optional[np.ndarray], size: int,
                   device: torch.device) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """uint8 ``(N,H,W,3)`` -> normalised ``(N,3,size,size)``; keypoints scaled with the resize."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    x = normalize_images(x)
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
