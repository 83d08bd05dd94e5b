"""The deployed recognition model: load it from a checkpoint, build test clips, predict, score.

``evaluate``, ``retrieve`` and the training task import from here; nothing here imports training code.
"""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from poseaware.runs import load_deployed

from .clips import ClipDataset
from .datasets import DatasetSplit, load_split, splits_fingerprint
from .metrics import mean_class_accuracy, top1_accuracy
from .timesformer import PoseAwareTimeSformer


def load_model(checkpoint: str, device: torch.device) -> Tuple[PoseAwareTimeSformer, dict]:
    """The deployed model (PAAT head dropped) and the checkpoint's metadata."""
    return load_deployed(checkpoint, PoseAwareTimeSformer, device)


def clip_dataset(records: DatasetSplit, dataset_cfg: Mapping, train: bool, seed: int = 0) -> ClipDataset:
    """Clips as the ``dataset`` config group describes them (a DictConfig or a checkpoint's dict)."""
    return ClipDataset(records, dataset_cfg["num_frames"], dataset_cfg["img_size"], train=train,
                       num_clips=dataset_cfg["test_clips"], seed=seed, sampling_rate=dataset_cfg["sampling_rate"])


def split_for(ckpt_data: dict, dataset: str, protocol: str, split: str, data_root: Optional[str]) -> DatasetSplit:
    """A dataset split as a checkpoint of ``ckpt_data`` (its ``data`` entry) reads it: its data root by default,
    its validation choice."""
    return load_split(dataset, data_root or ckpt_data["data_root"], protocol, split,
                      ckpt_data.get("validation", "train_holdout"))


def clips_for(ckpt: dict, dataset: str, protocol: str, split: str, data_root: Optional[str]) -> ClipDataset:
    """Test clips of any dataset split, sampled as the checkpoint's training config says."""
    return clip_dataset(split_for(ckpt["data"], dataset, protocol, split, data_root), ckpt["config"]["dataset"],
                        train=False)


def data_record(ckpt_data: dict, dataset: str, protocol: str, split: str, data_root: Optional[str]) -> dict:
    """What an output records of the split it scored: dataset, protocol, split, absolute data root and the
    videos' fingerprint (``splits_fingerprint``)."""
    root = data_root or ckpt_data["data_root"]
    records = split_for(ckpt_data, dataset, protocol, split, root)
    return {"dataset": dataset, "protocol": protocol, "split": split, "data_root": os.path.abspath(root),
            "fingerprint": splits_fingerprint(root, {split: records})}


class VideoScores:
    """Per-video logits and features, averaged over each video's test clips (ensembling)."""

    def __init__(self, clips: ClipDataset) -> None:
        self.num_videos, self.num_clips = len(clips.split.records), clips.num_clips
        self.logits = self.features = None
        self.labels = np.zeros(self.num_videos, dtype=np.int64)

    def add(self, batch: dict, logits: torch.Tensor, features: torch.Tensor) -> None:
        if self.logits is None:
            self.logits = np.zeros((self.num_videos, logits.shape[1]), np.float64)
            self.features = np.zeros((self.num_videos, features.shape[1]), np.float64)
        idx = batch["index"].cpu().numpy()
        np.add.at(self.logits, idx, logits.float().cpu().numpy() / self.num_clips)
        np.add.at(self.features, idx, features.float().cpu().numpy() / self.num_clips)
        self.labels[idx] = batch["label"].cpu().numpy()


@torch.no_grad()
def predict(model: PoseAwareTimeSformer, clips: ClipDataset, device: torch.device, batch_size: int,
            workers: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits, features, labels) per video."""
    model.eval()
    scores = VideoScores(clips)
    for batch in DataLoader(clips, batch_size=batch_size, num_workers=workers):
        kp = batch["keypoints"].to(device) if model.use_paab else None
        out = model(batch["video"].to(device), kp)
        scores.add(batch, out.logits, out.features)
    return scores.logits, scores.features, scores.labels


def score(logits: np.ndarray, labels: np.ndarray, split: DatasetSplit) -> Dict[str, float]:
    pred = logits.argmax(1)
    result = {"top1": top1_accuracy(labels, pred), "mca": mean_class_accuracy(labels, pred, len(split.classes))}
    result["metric"] = result[split.metric]
    return result
