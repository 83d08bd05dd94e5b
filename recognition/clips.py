"""Clips for training and testing: frame sampling, a person crop from the keypoints, resize, flip.

Keypoints go through every geometric step with the frames; a horizontal flip also swaps left and
right joint ids with the skeleton's own table (``envs.skeletons.flip_keypoints``).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from envs.skeletons import flip_keypoints
from poseaware.inputs import normalize_images

from .datasets import DatasetSplit
from .datasets.video import read_video, video_length


def sample_indices(length: int, num_frames: int, train: bool, rng: np.random.Generator,
                   clip: int = 0, num_clips: int = 1, sampling_rate: Optional[int] = None) -> np.ndarray:
    """Frame indices of one clip.

    ``sampling_rate=None``: segment sampling, one frame per equal segment of the whole video (random
    in training, evenly offset per test clip). An integer: TimeSformer's dense sampling, ``num_frames``
    frames every ``sampling_rate`` frames from a random start (training) or evenly spaced starts (test);
    indices past the end repeat the last frame.
    """
    if sampling_rate:
        span = (num_frames - 1) * sampling_rate + 1
        room = max(length - span, 0)
        start = rng.integers(room + 1) if train else int(round(room * (clip + 0.5) / num_clips))
        return np.minimum(start + np.arange(num_frames) * sampling_rate, length - 1)
    edges = np.linspace(0, length, num_frames + 1)
    if train:
        offsets = rng.random(num_frames)
    else:
        offsets = np.full(num_frames, (clip + 0.5) / num_clips)
    return np.minimum((edges[:-1] + offsets * np.diff(edges)).astype(int), length - 1)


def person_box(keypoints: np.ndarray, height: int, width: int, margin: float) -> Tuple[int, int, int]:
    """Square crop (top, left, side) around all visible keypoints of the clip, inside the image."""
    valid = np.isfinite(keypoints).all(-1)
    if not valid.any():  # no skeleton at all: a centred square
        side = min(height, width)
        return (height - side) // 2, (width - side) // 2, side
    pts = keypoints[valid]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = int(np.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * margin))) + 1
    side = min(max(side, 16), height, width)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    return top, left, side


class ClipDataset(Dataset):
    """Items: ``video (T,3,S,S)`` normalised, ``keypoints (T,K,2)`` in that crop's pixels, ``label``."""

    def __init__(self, split: DatasetSplit, num_frames: int = 8, img_size: int = 224, train: bool = True,
                 num_clips: int = 1, flip_prob: float = 0.5, crop_margin: float = 0.15, seed: int = 0,
                 sampling_rate: Optional[int] = None) -> None:
        if not split.records:
            raise ValueError(f"{split.name} has no videos; check data_root and the protocol")
        self.split, self.num_frames, self.size, self.train = split, num_frames, img_size, train
        self.num_clips = 1 if train else num_clips
        self.flip_prob, self.margin, self.seed = flip_prob, crop_margin, seed
        self.sampling_rate = sampling_rate
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.split.records) * self.num_clips

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        video_index, clip = divmod(index, self.num_clips)
        record = self.split.records[video_index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        keypoints = self.split.read_keypoints(record.skeleton_file)
        length = min(len(keypoints), video_length(record.video) or len(keypoints))
        if length == 0:
            raise ValueError(f"{record.video!r}: the video or its skeleton has no frames")
        picks = sample_indices(length, self.num_frames, self.train, rng, clip, self.num_clips, self.sampling_rate)
        frames, keypoints = read_video(record.video, picks), keypoints[picks].copy()
        height, width = frames.shape[1:3]
        top, left, side = person_box(keypoints, height, width, self.margin)
        crop = torch.from_numpy(np.ascontiguousarray(frames[:, top:top + side, left:left + side]))
        video = F.interpolate(crop.permute(0, 3, 1, 2).float() / 255.0, size=(self.size, self.size),
                              mode="bilinear", antialias=True, align_corners=False)
        keypoints = (keypoints - np.array([left, top], np.float32)) * (self.size / side)
        if self.train and rng.random() < self.flip_prob:
            video = video.flip(-1)
            keypoints = flip_keypoints(keypoints, self.size, self.split.skeleton)
        return {"video": normalize_images(video), "keypoints": torch.from_numpy(keypoints.astype(np.float32)),
                "label": torch.tensor(record.label), "index": torch.tensor(video_index)}
