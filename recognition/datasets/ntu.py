"""NTU RGB+D: ``SsssCcccPpppRrrrAaaa_rgb.avi`` videos with ``SsssCcccPpppRrrrAaaa.skeleton`` files."""
from __future__ import annotations

import glob
import os
import re
from typing import Dict, List

from envs.skeletons import NTU25, read_ntu_skeleton

from .records import DatasetSplit, VideoRecord, require

CLASSES = tuple(f"A{i:03d}" for i in range(1, 61))
CS_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
CV_TRAIN_CAMERAS = (2, 3)
PROTOCOLS = ("CS", "CV", "CVS1", "CVS2", "CVS3")
_NAME = re.compile(r"^S(?P<setup>\d{3})C(?P<camera>\d{3})P(?P<subject>\d{3})R(?P<rep>\d{3})A(?P<action>\d{3})$")


def parse_name(stem: str) -> Dict[str, int]:
    match = _NAME.match(stem.removesuffix("_rgb"))
    if not match:
        raise ValueError(f"{stem!r} is not an NTU name SsssCcccPpppRrrrAaaa")
    return {k: int(v) for k, v in match.groupdict().items()}


def view_angle(camera: int, rep: int) -> int:
    """Degrees between the subject's facing and the camera (Varol et al.'s CVS protocols)."""
    if camera == 1:
        return 45
    return 0 if (camera, rep) in ((2, 2), (3, 1)) else 90


def in_split(info: Dict[str, int], protocol: str, split: str) -> bool:
    train_subject = info["subject"] in CS_TRAIN_SUBJECTS
    if protocol == "CS":
        return train_subject == (split == "train")
    if protocol == "CV":
        return (info["camera"] in CV_TRAIN_CAMERAS) == (split == "train")
    angle = view_angle(info["camera"], info["rep"])  # CVS: train 0 deg of CS-train, test 0/45/90 of CS-test
    if split == "train":
        return train_subject and angle == 0
    return not train_subject and angle == {"CVS1": 0, "CVS2": 45, "CVS3": 90}[protocol]


def load_split(root: str, protocol: str, split: str) -> DatasetSplit:
    require(protocol in PROTOCOLS, f"unknown NTU protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    videos = sorted(glob.glob(os.path.join(root, "**", "*_rgb.avi"), recursive=True))
    require(bool(videos), f"no *_rgb.avi videos under {root!r}; point data_root at the NTU RGB+D folder")
    records: List[VideoRecord] = []
    for path in videos:
        stem = os.path.basename(path)[: -len("_rgb.avi")]
        info = parse_name(stem)
        if info["action"] > len(CLASSES):
            raise ValueError(f"{path!r}: action A{info['action']:03d} is outside NTU RGB+D 60's classes")
        # NTU defines no validation split: "valid" reads the test side of the protocol.
        if not in_split(info, protocol, "train" if split == "train" else "test"):
            continue
        skeleton = os.path.join(os.path.dirname(path), f"{stem}.skeleton")
        records.append(VideoRecord(path, info["action"] - 1, skeleton, info))
    return DatasetSplit(f"ntu/{protocol}/{split}", records, CLASSES, NTU25, read_ntu_skeleton, "top1")
