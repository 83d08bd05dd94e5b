"""What a dataset loader produces: one record per video, with its label and skeleton reader."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence

import numpy as np

from envs.skeletons import Skeleton


@dataclass
class VideoRecord:
    video: str  # path
    label: int
    skeleton_file: str
    meta: Dict[str, int] = field(default_factory=dict)  # subject, camera, ...


@dataclass
class DatasetSplit:
    """The records of one protocol split, the class names, and how to read their skeletons."""

    name: str
    records: List[VideoRecord]
    classes: Sequence[str]
    skeleton: Skeleton
    read_keypoints: Callable[[str], np.ndarray]  # file -> (T, K, 2) pixels, NaN where missing
    metric: str  # "mca" (mean class accuracy) or "top1"


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
