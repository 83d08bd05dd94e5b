"""Action-recognition datasets in their real on-disk formats, looked up by name."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Dict, List

from . import ntu, nucla, smarthome
from .records import DatasetSplit, VideoRecord

# train_holdout (default): validation is carved out of the training side, from held-out training
# subjects, so the best checkpoint is never chosen on test data. test_side: each dataset's own
# "valid" (NTU and N-UCLA: the test side; Smarthome CS: the test subjects' first repetition), as
# papers often do; the test figure is then optimistic.
VALIDATION = ("train_holdout", "test_side")

LOADERS: Dict[str, Callable[[str, str, str], DatasetSplit]] = {
    "smarthome": smarthome.load_split,
    "mocap": smarthome.load_split,  # written in the Smarthome layout
    "ntu": ntu.load_split,
    "nucla": nucla.load_split,
}


def held_out_subjects(records: List[VideoRecord]) -> set:
    """Every k-th training subject (k = 5, or the number of subjects when fewer): about a fifth."""
    subjects = sorted({r.meta["subject"] for r in records})
    k = min(5, len(subjects))
    return {s for i, s in enumerate(subjects) if k > 1 and i % k == k - 1}


def load_split(dataset: str, root: str, protocol: str, split: str, validation: str = "train_holdout") -> DatasetSplit:
    if dataset not in LOADERS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(LOADERS)}")
    if validation not in VALIDATION:
        raise ValueError(f"unknown validation {validation!r}; choose one of {', '.join(VALIDATION)}")
    if split == "test" or validation == "test_side":
        return LOADERS[dataset](root, protocol, split)
    side = LOADERS[dataset](root, protocol, "train")
    held_out = held_out_subjects(side.records)
    if not held_out:
        raise ValueError(f"{side.name} has one training subject, so no subject can be held out for validation; "
                         f"use validation=test_side")
    records = [r for r in side.records if (r.meta["subject"] in held_out) == (split == "valid")]
    return replace(side, name=f"{dataset}/{protocol}/{split}", records=records)


__all__ = ["DatasetSplit", "LOADERS", "VALIDATION", "VideoRecord", "load_split"]
