"""Northwestern-UCLA: ``view_{1,2,3}/aAA_sSS_eEE.mp4`` with OpenPose-18 skeletons in Smarthome-style JSON."""
from __future__ import annotations

import glob
import os
import re
from typing import List

from envs.skeletons import OPENPOSE18, read_openpose

from .records import DatasetSplit, VideoRecord, require

ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)  # a01..a06, a08, a09, a11, a12 -> classes 0..9
CLASSES = tuple(f"a{a:02d}" for a in ACTIONS)
PROTOCOLS = ("CV1", "CV2", "CV3")  # CVk: test on view k, train on the other two
_NAME = re.compile(r"^a(?P<action>\d+)_s(?P<subject>\d+)_e(?P<episode>\d+)$")


def load_split(root: str, protocol: str, split: str) -> DatasetSplit:
    require(protocol in PROTOCOLS, f"unknown N-UCLA protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    test_view = int(protocol[-1])
    records: List[VideoRecord] = []
    videos = sorted(glob.glob(os.path.join(root, "view_*", "*.mp4")))
    require(bool(videos), f"no view_*/a*_s*_e*.mp4 videos under {root!r}; point data_root at N-UCLA")
    for path in videos:
        view = int(os.path.basename(os.path.dirname(path)).removeprefix("view_"))
        stem = os.path.splitext(os.path.basename(path))[0]
        match = _NAME.match(stem)
        require(match is not None, f"{path!r} is not an N-UCLA name aAA_sSS_eEE")
        action = int(match.group("action"))
        require(action in ACTIONS, f"{path!r}: unknown N-UCLA action a{action:02d}; classes are {', '.join(CLASSES)}")
        if (view == test_view) != (split != "train"):
            continue
        records.append(VideoRecord(path, ACTIONS.index(action), os.path.join(os.path.dirname(path), f"{stem}.json"),
                                   {"view": view, "subject": int(match.group("subject"))}))
    return DatasetSplit(f"nucla/{protocol}/{split}", records, CLASSES, OPENPOSE18, read_openpose, "top1")
