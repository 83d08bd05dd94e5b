"""Video decoding with PyAV, with errors that name the file."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import av
import numpy as np


def _open(path: str):
    if not os.path.exists(path):
        raise FileNotFoundError(f"video not found: {path!r}")
    try:
        return av.open(path)
    except (av.error.FFmpegError, ValueError) as err:
        raise ValueError(f"cannot decode video {path!r} (corrupt or not a video?): {err}") from None


def video_length(path: str) -> int:
    """Frame count from the container, or 0 where the container does not say."""
    with _open(path) as container:
        return int(container.streams.video[0].frames or 0)


def read_video(path: str, indices: Optional[Sequence[int]] = None) -> np.ndarray:
    """Frames ``(len(indices), H, W, 3)`` uint8 RGB (all frames when ``indices`` is None).

    Decoding stops after the last wanted frame and only wanted frames are kept, so a clip of a
    long video never holds the whole video in memory. Indices past the end repeat the last frame.
    """
    wanted = None if indices is None else {int(i) for i in indices}
    kept, last = {}, None
    try:
        with _open(path) as container:
            for last, decoded in enumerate(container.decode(video=0)):
                if wanted is None or last in wanted:
                    kept[last] = decoded.to_ndarray(format="rgb24")
                if wanted is not None and last >= max(wanted):
                    break
            if last is not None and last not in kept:  # the video ended early: its last frame stands in
                kept[last] = decoded.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, IndexError, ValueError) as err:
        raise ValueError(f"cannot decode video {path!r} (corrupt or not a video?): {err}") from None
    if last is None:
        raise ValueError(f"video {path!r} has no frames")
    order = range(last + 1) if indices is None else (min(int(i), last) for i in indices)
    return np.stack([kept[i] for i in order])
