"""Camera streams of a LeRobot v3.0 dataset, written and read with PyAV: one mp4 per camera and file, the
episodes one after another, frame ``i`` of a file at ``i / fps`` seconds (so an episode's frame ``t`` is at
its ``from_timestamp + t / fps``, which is how lerobot looks it up).

The encoder settings default to lerobot 0.6.1's own (``lerobot/configs/video.py``: SVT-AV1, yuv420p, a key
frame every 2 frames, crf 30, preset 12), so an export decodes like a dataset lerobot recorded.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Dict, Optional, Tuple

# SVT-AV1 prints its whole configuration to stderr for every stream unless told to report errors only.
os.environ.setdefault("SVT_LOG", "1")

import av  # noqa: E402
import numpy as np  # noqa: E402

CODECS = ("libsvtav1", "h264", "hevc")  # lerobot's software encoders (its VALID_VIDEO_CODECS, less hardware)


@dataclass
class VideoSettings:
    """Encoder settings; recorded in each video feature's ``info`` as lerobot records them (``video.<field>``)."""
    vcodec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int = 2
    crf: int = 30
    preset: Optional[int] = 12
    fast_decode: int = 0
    video_backend: str = "pyav"
    extra_options: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vcodec not in CODECS:
            raise ValueError(f"video codec {self.vcodec!r} is not one lerobot decodes by default; choose one of "
                             f"{', '.join(CODECS)}")
        if self.vcodec != "libsvtav1" and self.preset == 12:
            self.preset = None  # 12 is SVT-AV1's preset scale; x264/x265 keep their default

    def codec_options(self) -> Dict[str, str]:
        """The options lerobot passes to the encoder (``VideoEncoderConfig.get_codec_options``)."""
        options = {"g": str(self.g), "crf": str(self.crf)}
        if self.preset is not None:
            options["preset"] = str(self.preset)
        if self.vcodec == "libsvtav1":
            options["svtav1-params"] = f"fast-decode={max(0, min(2, self.fast_decode))}"
        elif self.fast_decode:
            options["tune"] = "fastdecode"
        return {**{k: str(v) for k, v in self.extra_options.items()}, **options}

    def info(self) -> dict:
        return {f"video.{k}": v for k, v in asdict(self).items() if k not in ("vcodec", "pix_fmt")}


class VideoFileWriter:
    """Appends episodes' frames to one camera's mp4; ``add`` returns the episode's (from, to) timestamps."""

    def __init__(self, path: str, fps: int, height: int, width: int, settings: VideoSettings) -> None:
        if height % 2 or width % 2:
            raise ValueError(f"{settings.pix_fmt} video needs even image sizes, got {height}x{width}; "
                             f"re-render the views at an even image_size")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.fps, self.frames, self._bytes = path, fps, 0, 0
        # faststart puts the index first, as lerobot writes its files (seeks without reading to the end)
        self._container = av.open(path, "w", options={"movflags": "faststart"})
        self._stream = self._container.add_stream(settings.vcodec, rate=fps, options=settings.codec_options())
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, settings.pix_fmt

    def add(self, frames: np.ndarray) -> Tuple[float, float]:
        start = self.frames
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self.frames
            self._mux(self._stream.encode(frame))
            self.frames += 1
        return start / self.fps, self.frames / self.fps

    def _mux(self, packets) -> None:
        for packet in packets:
            self._bytes += packet.size
            self._container.mux(packet)

    def size_mb(self) -> float:
        """Encoded so far (the encoder holds a few frames back, and the file appears with its first packet)."""
        return self._bytes / 1024 ** 2

    def close(self) -> None:
        self._mux(self._stream.encode())
        self._container.close()


def video_info(path: str, settings: VideoSettings) -> dict:
    """A video feature's ``info`` as lerobot's ``get_video_info`` builds it from the file and the encoder."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        info = {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec_context.codec.canonical_name, "video.pix_fmt": stream.pix_fmt,
                "video.fps": int(stream.base_rate), "video.channels": len(av.VideoFormat(stream.pix_fmt).components),
                "has_audio": bool(container.streams.audio)}
    return {**info, **settings.info(), "is_depth_map": False}


class VideoFileReader:
    """Frames of one mp4 at given times, read forward (an episode after the one before it costs no seek);
    ``size=(height, width)`` resizes them as they are decoded."""

    def __init__(self, path: str, size: Optional[Tuple[int, int]] = None) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"video not found: {path!r}")
        self.path, self.size = path, size
        self._container = av.open(path)
        self._stream = self._container.streams.video[0]
        self._decoded = None    # the decoder's frame iterator
        self._pending = None    # a frame read ahead of the last request: (time, image)
        self._last_time = -np.inf

    def close(self) -> None:
        self._container.close()

    def _image(self, frame: av.VideoFrame) -> np.ndarray:
        if self.size is not None:
            frame = frame.reformat(width=self.size[1], height=self.size[0], format="rgb24", interpolation="AREA")
        return frame.to_ndarray(format="rgb24")

    def _next(self) -> Optional[Tuple[float, np.ndarray]]:
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        for frame in self._decoded:
            if frame.pts is not None:
                return float(frame.pts * self._stream.time_base), self._image(frame)
        return None

    def frames(self, times: np.ndarray, tolerance_s: float) -> np.ndarray:
        """The frames at ``times`` (seconds into this file, increasing), each within ``tolerance_s``."""
        times = np.asarray(times, dtype=np.float64)
        if self._decoded is None or times[0] < self._last_time - tolerance_s:
            # Back to the key frame at or before the first time (the same seek as lerobot's PyAV decoder).
            self._container.seek(max(0, round(times[0] / self._stream.time_base) - 1), backward=True,
                                 any_frame=False, stream=self._stream)
            self._decoded, self._pending = self._container.decode(self._stream), None
        out, j = [None] * len(times), 0
        while j < len(times):
            item = self._next()
            if item is None:
                break
            when, image = item
            if when < times[j] - tolerance_s:
                continue
            if when > times[j] + tolerance_s:
                self._pending = item
                break
            out[j], self._last_time = image, when
            j += 1
        if j < len(times):
            raise ValueError(f"{self.path!r} has no frame within {tolerance_s} s of {times[j]:.4f} s (the episode's "
                             f"from_timestamp + timestamp); the video is shorter than its episodes or its frame times "
                             f"are off the dataset's fps")
        return np.stack(out)
