"""Action-recognition datasets in their real on-disk formats, looked up by name."""
from __future__ import annotations

from typing import Callable, Dict

from . import ntu, nucla, smarthome
from .records import DatasetSplit, VideoRecord

LOADERS: Dict[str, Callable[[str, str, str], DatasetSplit]] = {
    "smarthome": smarthome.load_split,
    "mocap": smarthome.load_split,  # written in the Smarthome layout
    "ntu": ntu.load_split,
    "nucla": nucla.load_split,
}


def load_split(dataset: str, root: str, protocol: str, split: str) -> DatasetSplit:
    if dataset not in LOADERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[dataset](root, protocol, split)


__all__ = ["DatasetSplit", "LOADERS", "VideoRecord", "load_split"]
