"""Video decoding with PyAV, with errors that name the file."""
from __future__ import annotations

import os

import av
import numpy as np


def read_video(path: str) -> np.ndarray:
    """All frames of a video as ``(T, H, W, 3)`` uint8 RGB."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"video not found: {path!r}")
    try:
        with av.open(path) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.error.FFmpegError, IndexError, ValueError) as err:
        raise ValueError(f"cannot decode video {path!r} (corrupt or not a video?): {err}") from None
    if not frames:
        raise ValueError(f"video {path!r} has no frames")
    return np.stack(frames)
