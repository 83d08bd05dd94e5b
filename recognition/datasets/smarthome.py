"""Toyota Smarthome: ``<Activity>_pNN_rNN_vNN_cNN.mp4`` with LCR-Net ``<stem>_pose3d.json`` skeletons.

Also reads the offline mocap set (``envs.generate env=mocap``), which is written in this layout.
"""
from __future__ import annotations

import glob
import os
import re
from typing import Dict, List, Sequence, Tuple

from envs.skeletons import LCRNET13, MOCAP_CLASSES, read_lcrnet

from .records import DatasetSplit, VideoRecord, require

CLASS_LIST_VERSION = "smarthome-v1"  # the official CS (31) and CV (19) lists
CS_CLASSES: Tuple[str, ...] = (
    "Cook.Cleandishes", "Cook.Cleanup", "Cook.Cut", "Cook.Stir", "Cook.Usestove", "Cutbread", "Drink.Frombottle",
    "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable", "Eat.Snack", "Enter", "Getup", "Laydown",
    "Leave", "Makecoffee.Pourgrains", "Makecoffee.Pourwater", "Maketea.Boilwater", "Maketea.Insertteabag",
    "Pour.Frombottle", "Pour.Fromcan", "Pour.Fromkettle", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetablet", "Usetelephone", "Walk", "WatchTV",
)
CV_CLASSES: Tuple[str, ...] = (
    "Cutbread", "Drink.Frombottle", "Drink.Fromcan", "Drink.Fromcup", "Drink.Fromglass", "Eat.Attable", "Eat.Snack",
    "Enter", "Getup", "Leave", "Pour.Frombottle", "Pour.Fromcan", "Readbook", "Sitdown", "Takepills", "Uselaptop",
    "Usetablet", "Usetelephone", "Walk",
)
CS_TRAIN_SUBJECTS = (3, 4, 6, 7, 9, 12, 13, 15, 17, 19, 25)
CS_TEST_SUBJECTS = (2, 10, 11, 14, 16, 18, 20)
# protocol -> split -> cameras; CS splits by subject instead
CV_CAMERAS = {
    "CV1": {"train": (1,), "valid": (5,), "test": (2,)},
    "CV2": {"train": (1, 3, 4, 6, 7), "valid": (5,), "test": (2,)},
}
MOCAP_CAMERAS = {"train": (1, 2), "valid": (3,), "test": (3, 4)}  # train on two views, test on unseen ones
PROTOCOLS = ("CS", "CV1", "CV2", "mocap")
_NAME = re.compile(r"^(?P<activity>.+)_p(?P<subject>\d+)_r(?P<rep>\d+)_v(?P<video>\d+)_c(?P<camera>\d+)$")


def parse_name(stem: str) -> Dict[str, object]:
    match = _NAME.match(stem)
    if not match:
        raise ValueError(f"{stem!r} is not a Smarthome name <Activity>_pNN_rNN_vNN_cNN")
    info = match.groupdict()
    return {"activity": info["activity"], **{k: int(info[k]) for k in ("subject", "rep", "video", "camera")}}


def classes_for(protocol: str) -> Sequence[str]:
    if protocol == "mocap":
        return MOCAP_CLASSES
    return CS_CLASSES if protocol == "CS" else CV_CLASSES


def in_split(info: Dict[str, object], protocol: str, split: str) -> bool:
    if protocol == "CS":  # no official CS validation split: validation is the test subjects' first repetition
        subjects = CS_TRAIN_SUBJECTS if split == "train" else CS_TEST_SUBJECTS
        return info["subject"] in subjects and (split != "valid" or info["rep"] == 1)
    cameras = MOCAP_CAMERAS if protocol == "mocap" else CV_CAMERAS[protocol]
    return info["camera"] in cameras[split]


def load_split(root: str, protocol: str, split: str) -> DatasetSplit:
    require(protocol in PROTOCOLS, f"unknown Smarthome protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    require(split in ("train", "valid", "test"), f"unknown split {split!r}; choose train, valid or test")
    videos = sorted(glob.glob(os.path.join(root, "**", "*.mp4"), recursive=True))
    require(bool(videos), f"no .mp4 videos under {root!r}; point data_root at the Smarthome mp4 folder")
    classes = classes_for(protocol)
    index = {c: i for i, c in enumerate(classes)}
    records: List[VideoRecord] = []
    for path in videos:
        stem = os.path.splitext(os.path.basename(path))[0]
        info = parse_name(stem)
        if not in_split(info, protocol, split):
            continue
        if info["activity"] not in index:
            if protocol.startswith("CV") and info["activity"] in CS_CLASSES:
                continue  # CS-only activities are not part of the cross-view protocols
            raise ValueError(f"{path!r}: unknown activity {info['activity']!r} for protocol {protocol} "
                             f"(class list {CLASS_LIST_VERSION})")
        skeleton = os.path.join(os.path.dirname(path), f"{stem}_pose3d.json")
        records.append(VideoRecord(path, index[info["activity"]], skeleton,
                                   {k: v for k, v in info.items() if k != "activity"}))
    return DatasetSplit(f"smarthome/{protocol}/{split}", records, classes, LCRNET13, read_lcrnet, "mca")
