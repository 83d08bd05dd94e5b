"""Action-recognition datasets in their real on-disk formats, looked up by name."""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any, Callable, Dict, List, Mapping, Optional

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


def check_split(split: DatasetSplit) -> None:
    """Every video of ``split`` is on disk and every skeleton file reads: checked before training, so a
    broken file of the test split stops the run before anything is trained, naming the file."""
    if not split.records:
        raise ValueError(f"{split.name} has no videos; check data_root and the protocol")
    for record in split.records:
        if not os.path.exists(record.video):
            raise FileNotFoundError(f"video not found: {record.video!r} ({split.name})")
        try:
            keypoints = split.read_keypoints(record.skeleton_file)
        except FileNotFoundError:
            raise
        except (ValueError, KeyError, TypeError, IndexError) as err:  # json's errors carry no file name
            raise ValueError(f"{record.skeleton_file!r} is not a valid {split.skeleton.name} skeleton file "
                             f"({type(err).__name__}: {err}); replace it (it belongs to {record.video!r})") from None
        if len(keypoints) == 0:
            raise ValueError(f"{record.skeleton_file!r} has no frames; replace it (it belongs to {record.video!r})")


def splits_fingerprint(root: str, splits: Mapping[str, DatasetSplit],
                       settings: Optional[dict] = None) -> Dict[str, Any]:
    """What identifies a dataset's contents, cheaply (no file is read): the generator's settings where it made
    the set, the videos per split, and a hash of every video's and skeleton's name, label and size. A resumed
    run refuses data whose fingerprint changed."""
    digest = hashlib.sha256()
    for name, split in sorted(splits.items()):
        for r in split.records:
            sizes = [os.path.getsize(p) if os.path.exists(p) else -1 for p in (r.video, r.skeleton_file)]
            digest.update(f"{name}:{os.path.relpath(r.video, root)}:{r.label}:{sizes}".encode())
    return {"settings": settings, "videos": {name: len(split.records) for name, split in splits.items()},
            "classes": len(next(iter(splits.values())).classes), "content": digest.hexdigest()[:16]}


__all__ = ["DatasetSplit", "LOADERS", "VALIDATION", "VideoRecord", "check_split", "load_split", "splits_fingerprint"]
