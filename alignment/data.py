"""Multi-view frames for alignment, read through ``envs.dataset_io`` and turned into model inputs:
whole trajectories (validation, test, embedding) and seeded training batches of frame pairs."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from envs.cameras import FIRST_PERSON, is_heldout_view
from envs.dataset_io import SPLITS, EpisodeFile
from poseaware.inputs import normalize_images


@dataclass
class ViewSplit:
    train: List[str]
    test: List[str]


def split_views(views: Sequence[str], num_train: Optional[int] = None, train: Optional[Sequence[str]] = None,
                test: Optional[Sequence[str]] = None) -> ViewSplit:
    """Training views and unseen test views. By default the training rig's views (``cam<i>``) train
    and the held-out sector's views (``held<i>``) plus the first-person view test; ``num_train`` keeps
    only the first n training-rig views (the paper's fixed rig trains on 2, as in 3DTRL). A file without
    held-out views (made with ``rig.sampling=ring``) trains on its first 2 third-person views by default."""
    third_person = [v for v in views if v != FIRST_PERSON]
    rig = [v for v in third_person if not is_heldout_view(v)]
    if num_train is None:
        num_train = len(rig) if len(rig) < len(third_person) else 2
    train = list(train) if train else rig[:num_train]
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


class ViewFrames(NamedTuple):
    """One view of one demo: images ``(T,H,W,3)`` uint8, and where they are read, keypoints ``(T,K,2)``
    float32, robot masks ``(T,H,W)`` bool (the model's mask prior) and foreground masks ``(T,H,W)`` bool
    (robot or task object: the pixels background augmentation keeps)."""
    images: np.ndarray
    keypoints: Optional[np.ndarray] = None
    masks: Optional[np.ndarray] = None
    foreground: Optional[np.ndarray] = None

    def at(self, index) -> "ViewFrames":
        return ViewFrames(*(None if a is None else a[index] for a in self))


# demo -> view -> frames
Frames = Dict[str, Dict[str, ViewFrames]]
# demo -> (T, d) low-dim targets
States = Dict[str, np.ndarray]


def split_demos(f: EpisodeFile, split: str, views: Sequence[str], keypoints: bool, masks: bool = False,
                foreground: bool = False) -> List[str]:
    """The demos of ``split``, after checking that they have what the model will read."""
    demos = f.split(split)
    if not demos:
        raise ValueError(f"the {split!r} split of {f.path!r} is empty; generate more episodes "
                         f"(splits are 70/10/20 by episode index) or choose another split")
    missing = [v for v in views if v not in f.views]
    if missing:
        raise ValueError(f"{f.path!r} has no images for views {missing}; it has {f.views}")
    kinds = ("image",) + (("keypoints",) if keypoints else ()) + (("robot_mask",) if masks or foreground else ()) \
        + (("object_mask",) if foreground else ())
    for kind in kinds:  # every demo of the split, not only the first
        lacking = sorted({v for d in demos for v in views if not f.has_view_obs(d, v, kind)})
        if lacking and kind == "keypoints":
            raise ValueError(f"{f.path!r} has no keypoints for views {lacking} in its {split!r} split "
                             f"(obs/<view>_keypoints); PAAB and PAAT need them: generate the data with "
                             f"envs.generate, or, for a LeRobot dataset, give each camera an annotation.<view>.keypoints "
                             f"feature ((K, 2) float32 pixel x, y, NaN where unseen) and convert it again with "
                             f"envs.convert (README, 'LeRobot datasets'); or use method=baseline")
        if lacking and kind == "robot_mask":
            raise ValueError(f"{f.path!r} has no robot masks for views {lacking} in its {split!r} split "
                             f"(obs/<view>_robot_mask); mask priors need them: generate the data with "
                             f"envs.generate, or choose a method without them")
        if lacking and kind == "object_mask":
            raise ValueError(f"{f.path!r} has no object masks for views {lacking} in its {split!r} split "
                             f"(obs/<view>_object_mask, written since 2026-11-24); background augmentation "
                             f"keeps the robot's and the object's pixels: regenerate the data with envs.generate "
                             f"or re-render it with envs.rerender")
        if lacking:
            raise ValueError(f"{f.path!r} has no images for views {lacking} in its {split!r} split; "
                             f"the file is partial")
    return demos


def read_trajectory(f: EpisodeFile, demo: str, views: Sequence[str], keypoints: bool, masks: bool = False,
                    foreground: bool = False) -> Dict[str, ViewFrames]:
    def read(v: str) -> ViewFrames:
        robot = f.view_obs(demo, v, "robot_mask").astype(bool) if masks or foreground else None
        return ViewFrames(f.view_obs(demo, v, "image"), f.view_obs(demo, v, "keypoints") if keypoints else None,
                          robot if masks else None,
                          robot | f.view_obs(demo, v, "object_mask").astype(bool) if foreground else None)
    return {v: read(v) for v in views}


def load_frames(path: str, split: str, views: Sequence[str], keypoints: bool, masks: bool = False,
                foreground: bool = False) -> Frames:
    with EpisodeFile(path) as f:
        return {d: read_trajectory(f, d, views, keypoints, masks, foreground)
                for d in split_demos(f, split, views, keypoints, masks, foreground)}


class Trajectories(Dataset):
    """One item per demo of a split: ``(demo, {view: ViewFrames})``, read when asked for."""

    def __init__(self, path: str, split: str, views: Sequence[str], keypoints: bool, masks: bool = False) -> None:
        self.path, self.views, self.keypoints, self.masks = path, list(views), keypoints, masks
        with EpisodeFile(path) as f:
            self.demos = split_demos(f, split, self.views, keypoints, masks)

    def __len__(self) -> int:
        return len(self.demos)

    def __getitem__(self, index: int):
        with EpisodeFile(self.path) as f:
            return self.demos[index], read_trajectory(f, self.demos[index], self.views, self.keypoints, self.masks)


def load_states(path: str, split: str, keys: Sequence[str]) -> States:
    """Each demo of ``split``: its low-dim observations ``keys`` (e.g. ``cube_pos``), concatenated per
    frame into ``(T, d)`` float32; the privileged targets of ``loss.state_keys``."""
    with EpisodeFile(path) as f:
        states = {}
        for demo in f.split(split):
            available = f.low_dim_obs(demo)
            missing = [k for k in keys if k not in available]
            if missing:
                raise ValueError(f"loss.state_keys {missing} are not low-dim observations of {path!r} "
                                 f"(data/{demo}/obs has {sorted(available)}); choose among those")
            states[demo] = np.concatenate([available[k].reshape(len(available[k]), -1) for k in keys],
                                          axis=1).astype(np.float32)
    return states


class ViewBatches(Dataset):
    """``steps`` training batches per epoch (see ``sample_views``), each drawn from a generator seeded by
    (seed, rank, epoch, step), so a run is reproducible and a resumed epoch sees the same batches.
    With ``states``, a batch also holds each time step's low-dim targets (``"states"``, ``(B, d)``)."""

    def __init__(self, frames: Frames, views: Sequence[str], views_per_batch: int, batch_frames: int, steps: int,
                 seed: int, rank: int = 0, episodes_per_batch: int = 1, shared_times: bool = False,
                 states: Optional[States] = None) -> None:
        if views_per_batch < 2:
            raise ValueError(f"train.views_per_batch must be >= 2 (positives come from other views), "
                             f"got {views_per_batch}")
        self.frames, self.views, self.batch_frames, self.steps = frames, list(views), batch_frames, steps
        self.views_per_batch = min(views_per_batch, len(self.views))
        self.seed, self.rank, self.epoch = seed, rank, 0
        self.episodes_per_batch, self.shared_times, self.states = episodes_per_batch, shared_times, states

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, self.epoch, step])
        sample = sample_views(self.frames, self.views, self.views_per_batch, self.batch_frames, rng,
                              self.episodes_per_batch, self.shared_times)
        batch = {"views": sample.views, "times": sample.times, "episodes": sample.episodes,
                 "augment_seed": int(rng.integers(2**31))}
        if self.states is not None:
            batch["states"] = np.stack([self.states[d][t] for d, t in zip(sample.demos, sample.times)])
        return batch


def camera_views(f: EpisodeFile) -> List[str]:
    """The file's camera views; a file without demos or without images is refused, naming the fix."""
    if not f.demos:
        raise ValueError(f"{f.path!r} holds no demos; generate episodes into it with `python -m envs.generate`")
    if not f.views:
        raise ValueError(f"{f.path!r} holds no camera images (data/<demo>/obs/<view>_image): it is in robomimic's "
                         f"raw layout (states and actions only); render camera views into a copy with "
                         f"`python -m envs.rerender input={f.path} out=<new file>` and use that")
    return f.views


def image_size_of(path: str) -> int:
    with EpisodeFile(path) as f:
        return int(f.view_obs(f.demos[0], camera_views(f)[0], "image", 0).shape[0])


def data_fingerprint(path: str) -> Dict[str, Any]:
    """What identifies a dataset file's contents, cheaply (no video is read whole): its generation settings,
    demos, frames, splits, views and image size, and a hash of every demo's name, length and actions, each
    view's first frame, and the split lists. A resumed run refuses data whose fingerprint changed."""
    with EpisodeFile(path) as f:
        views = camera_views(f)
        digest, frames = hashlib.sha256(), 0
        for demo in f.demos:
            length = f.num_samples(demo)
            frames += length
            digest.update(f"{demo}:{length}".encode())
            actions = f.array(demo, "actions")
            digest.update(np.ascontiguousarray(actions).tobytes())
            for view in views:
                if f.has_view_obs(demo, view, "image"):
                    digest.update(np.ascontiguousarray(f.view_obs(demo, view, "image", 0)).tobytes())
        splits = {name: f.split(name) for name in SPLITS}
        for name, demos in splits.items():
            digest.update(f"{name}:{','.join(demos)}".encode())
        return {"settings": f.settings, "demos": len(f.demos), "frames": frames,
                "splits": {name: len(demos) for name, demos in splits.items()}, "views": views,
                "image_size": int(f.view_obs(f.demos[0], views[0], "image", 0).shape[0]),
                "content": digest.hexdigest()[:16]}


def to_model_input(frames: ViewFrames, size: int, device: torch.device) -> ViewFrames:
    """uint8 ``(N,H,W,3)`` images -> normalised ``(N,3,size,size)`` tensors; keypoints scaled and masks
    resized (nearest) with the images."""
    x = torch.from_numpy(np.ascontiguousarray(frames.images)).to(device).permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    kp = None
    if frames.keypoints is not None:
        kp = torch.from_numpy(np.asarray(frames.keypoints, np.float32)).to(device)
        kp = kp * torch.tensor([size / w, size / h], device=device)

    def resize(mask: Optional[np.ndarray]) -> Optional[torch.Tensor]:
        if mask is None:
            return None
        m = torch.from_numpy(np.ascontiguousarray(mask)).to(device)[:, None].float()
        return F.interpolate(m, size=(size, size), mode="nearest")[:, 0] > 0.5
    return ViewFrames(normalize_images(x), kp, resize(frames.masks), resize(frames.foreground))


def augment(frames: ViewFrames, generator: torch.Generator, min_scale: float = 0.85, jitter: float = 0.2,
            background: float = 0.0) -> ViewFrames:
    """Colour jitter and a small random resized crop of one view's frames; keypoints and masks move with
    the crop. ``background`` (a strength; 0 is off) also perturbs every pixel outside the foreground
    (robot or task object) with a random per-channel gain (up to ±0.8 × strength) and offset (±1.5 ×
    strength, in normalised units) and pixel noise (0.3 × strength), so a view's static background
    stops being a cue."""
    images, keypoints, masks, foreground = frames
    n, _, h, w = images.shape
    u = torch.rand(4, generator=generator).tolist()
    images = images * (1 + jitter * (2 * u[0] - 1)) + jitter * (2 * u[1] - 1)
    if background:
        if foreground is None:
            raise ValueError("background augmentation needs the foreground masks (obs/<view>_robot_mask and "
                             "obs/<view>_object_mask; read with foreground=True)")
        gain = 1 + 0.8 * background * (2 * torch.rand(1, 3, 1, 1, generator=generator) - 1)
        offset = 1.5 * background * (2 * torch.rand(1, 3, 1, 1, generator=generator) - 1)
        noise = 0.3 * background * torch.randn(images.shape, generator=generator)
        perturbed = images * gain.to(images.device) + offset.to(images.device) + noise.to(images.device)
        images = torch.where(foreground[:, None], images, perturbed)
    scale = min_scale + (1 - min_scale) * u[2]
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = int(u[3] * (h - ch)), int(torch.rand(1, generator=generator).item() * (w - cw))
    images = F.interpolate(images[:, :, top:top + ch, left:left + cw], size=(h, w), mode="bilinear",
                           align_corners=False)

    def crop(mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if mask is None:
            return None
        return F.interpolate(mask[:, None, top:top + ch, left:left + cw].float(), size=(h, w), mode="nearest")[:, 0] > 0.5
    if keypoints is not None:
        keypoints = (keypoints - torch.tensor([left, top], device=keypoints.device)) * torch.tensor(
            [w / cw, h / ch], device=keypoints.device)
    return ViewFrames(images, keypoints, crop(masks), crop(foreground))


class ViewSample(NamedTuple):
    """A training batch: the chosen views' frames (demo after demo), and per time step its index in its
    demo, its demo's index in the batch and its demo's name."""
    views: List[ViewFrames]
    times: np.ndarray
    episodes: np.ndarray
    demos: List[str]


def sample_views(frames: Frames, views: Sequence[str], count: int, batch: int, rng: np.random.Generator,
                 episodes: int = 1, shared_times: bool = False) -> ViewSample:
    """A training batch: ``episodes`` different demos and ``count`` different training views; in each
    demo, the same ``batch`` distinct time steps in every view. ``shared_times`` uses the same steps in
    every demo too, so the other demos' frames at the same phase of the task are negatives: only where
    the object lies (and the arm's path to it) tells them apart."""
    if episodes > len(frames):
        raise ValueError(f"train.episodes_per_batch={episodes} but the training split holds {len(frames)} demos")
    names = list(frames)
    demos = [names[i] for i in rng.choice(len(names), size=episodes, replace=False)]
    chosen = [views[i] for i in rng.choice(len(views), size=count, replace=False)]
    lengths = [min(len(frames[demo][v].images) for v in chosen) for demo in demos]
    if shared_times:
        shared = np.sort(rng.choice(min(lengths), size=min(batch, min(lengths)), replace=False))
        picks = [shared] * len(demos)
    else:
        picks = [np.sort(rng.choice(length, size=min(batch, length), replace=False)) for length in lengths]
    stacked = [ViewFrames(*(None if parts[0] is None else np.concatenate(parts) for parts in
                            zip(*(frames[demo][v].at(t) for demo, t in zip(demos, picks)))))
               for v in chosen]
    ids = np.concatenate([np.full(len(t), i) for i, t in enumerate(picks)])
    return ViewSample(stacked, np.concatenate(picks), ids, [demos[i] for i in ids])
