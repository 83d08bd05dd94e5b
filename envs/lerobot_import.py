"""A LeRobotDataset v3.0 folder -> an episode file (robomimic HDF5), written through ``envs/dataset_io``.

Any v3.0 dataset with cameras is read: each camera feature (``dtype`` video or image) becomes a view,
``observation.images.<view>`` -> ``obs/<view>_image``; ``action`` -> ``actions``; the other ``observation.*``
features -> low-dim observations (``observation.state`` -> ``obs/state``); ``annotation.<view>.keypoints``
(K, 2) pixels -> ``obs/<view>_keypoints``, which PAAB and PAAT need. A dataset the project exported
(``envs/lerobot_export.py``) comes back as it went out, masks, settings and seeds included, with the
video codec's loss on the images only.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import av
import imageio.v2 as imageio
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from . import lerobot_layout as layout
from .dataset_io import (VIEW_KINDS, Episode, EpisodeWriter, demo_index, is_view_key, land, obs_key,
                         remove_stale_temps, temp_path_for)
from .lerobot_video import VideoFileReader
from .output_lock import exclusive_output

# The demo's arrays, besides the frames' observations.
_ARRAYS = ("action", layout.REWARD_KEY, layout.DONE_KEY, layout.SIM_STATE_KEY)
TOLERANCE_S = 1e-4  # lerobot's own tolerance between a frame's timestamp and the video frame it reads
_PER_VIEW = re.compile(rf"^{re.escape(layout.ANNOTATION_PREFIX)}(.+)\.({'|'.join(VIEW_KINDS)})$")


def view_name(key: str) -> str:
    """``observation.images.front`` -> ``front``; another camera key, e.g. ``observation.image``, -> ``image``."""
    name = key[len(layout.IMAGES_PREFIX):] if key.startswith(layout.IMAGES_PREFIX) else key.split(".", 1)[-1]
    return name.replace(".", "_").replace("/", "_")


@dataclass
class LeRobotSource:
    """What a v3.0 folder holds, checked before anything is written."""
    root: str
    info: dict
    cameras: Dict[str, str]                         # feature key -> view
    episodes: List[dict]                            # meta/episodes rows (no stats), by episode_index
    sidecar: Optional[dict]                         # meta/poseaware.json of the project's own exports
    targets: Dict[str, Tuple[str, Optional[str]]] = field(default_factory=dict)  # feature -> (obs key, view
    skipped: List[str] = field(default_factory=list)                             # of keypoints to rescale)

    @property
    def features(self) -> Dict[str, dict]:
        return self.info["features"]


def _read_episodes(root: str) -> List[dict]:
    paths = sorted(glob.glob(os.path.join(root, layout.EPISODES_DIR, "*", "*.parquet")))
    if not paths:
        raise FileNotFoundError(f"{root!r} has no {layout.EPISODES_DIR}/chunk-*/file-*.parquet; the LeRobot "
                                f"dataset is incomplete (download it again)")
    rows = []
    for path in paths:
        table = pq.read_table(path)
        rows += table.select([c for c in table.column_names if not c.startswith("stats/")]).to_pylist()
    return sorted(rows, key=lambda r: r["episode_index"])


def inspect_dataset(root: str) -> LeRobotSource:
    """Read and check a v3.0 folder: its version, cameras, episodes, and that every file they name exists."""
    info = layout.read_info(root)
    features = info["features"]
    cameras = {k: view_name(k) for k, ft in features.items() if ft.get("dtype") in layout.CAMERA_DTYPES
               and not (ft.get("info") or {}).get("is_depth_map") and 3 in list(ft.get("shape", []))}
    if not cameras:
        raise ValueError(f"{root!r} has no RGB camera features (dtype video or image); alignment learns from "
                         f"several cameras of the same demos")
    if "action" not in features:
        raise ValueError(f"{root!r} has no 'action' feature; an episode file needs the demos' actions")
    episodes = _read_episodes(root)
    needed = ["episode_index", "length", "data/chunk_index", "data/file_index"]
    for key, ft in features.items():
        if key in cameras and ft["dtype"] == "video":
            needed += [f"videos/{key}/chunk_index", f"videos/{key}/file_index", f"videos/{key}/from_timestamp"]
    missing = [c for c in needed if c not in episodes[0]]
    if missing:
        raise ValueError(f"{root!r}: meta/episodes lacks columns {missing}; it is not a complete v3.0 episodes table")
    for row in episodes:  # every file an episode names, before anything is written
        data = os.path.join(root, layout.file_path(info["data_path"], row["data/chunk_index"], row["data/file_index"]))
        if not os.path.exists(data):
            raise FileNotFoundError(f"{root!r}: episode {row['episode_index']}'s frames {os.path.relpath(data, root)} "
                                    f"are missing; the dataset is incomplete (download or export it again)")
        for key in cameras:
            if features[key]["dtype"] != "video":
                continue
            video = os.path.join(root, _video_path(info, key, row))
            if not os.path.exists(video):
                raise FileNotFoundError(
                    f"{root!r}: camera {key}'s video {os.path.relpath(video, root)} (episode {row['episode_index']}) "
                    f"is missing; the dataset is incomplete (download or export it again)")
    sidecar = None
    sidecar_path = os.path.join(root, layout.SIDECAR_PATH)
    if os.path.exists(sidecar_path):
        with open(sidecar_path) as f:
            sidecar = json.load(f)
        if sidecar.get("format") != layout.SIDECAR_FORMAT or len(sidecar.get("episodes", [])) != len(episodes):
            raise ValueError(f"{sidecar_path!r} does not describe this dataset's {len(episodes)} episodes "
                             f"(format {sidecar.get('format')!r}); remove it to read the folder as any LeRobot dataset")
    source = LeRobotSource(root, info, cameras, episodes, sidecar)
    views = set(cameras.values())
    for key, ft in features.items():
        if key in cameras or key in layout.DEFAULT_FEATURES or key in _ARRAYS:
            continue
        match = _PER_VIEW.match(key)
        if match and match.group(1) in views:
            view, kind = match.groups()
            source.targets[key] = (obs_key(view, kind), view if kind == "keypoints" else None)
        elif key.startswith(layout.LOW_DIM_PREFIX):
            source.targets[key] = (key[len(layout.LOW_DIM_PREFIX):], None)
        elif sidecar and key == layout.STATE_KEY:
            continue  # an export's state is its annotation.obs.* again
        elif key.startswith("observation.") and ft["dtype"] not in layout.CAMERA_DTYPES:
            source.targets[key] = (key[len("observation."):].replace(".", "_"), None)
        else:
            source.skipped.append(key)
    return source


def _video_path(info: dict, key: str, row: dict) -> str:
    return layout.file_path(info["video_path"], row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"],
                            video_key=key)


def _resize(image: np.ndarray, size: Optional[Tuple[int, int]]) -> np.ndarray:
    if size is None or image.shape[:2] == size:
        return image
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    return frame.reformat(width=size[1], height=size[0], format="rgb24", interpolation="AREA").to_ndarray()


def _resize_masks(masks: np.ndarray, size: Optional[Tuple[int, int]]) -> np.ndarray:
    if size is None or masks.shape[1:] == size:
        return masks
    rows = (np.arange(size[0]) + 0.5) * masks.shape[1] / size[0]
    cols = (np.arange(size[1]) + 0.5) * masks.shape[2] / size[1]
    return masks[:, rows.astype(int)][:, :, cols.astype(int)]  # nearest, as the model resizes masks


class _Frames:
    """Each episode's frame rows, read file by file (an episode's rows are one parquet file's)."""

    def __init__(self, source: LeRobotSource) -> None:
        self.source, self._path, self._table = source, None, None

    def episode(self, row: dict) -> pa.Table:
        path = os.path.join(self.source.root, layout.file_path(self.source.info["data_path"], row["data/chunk_index"],
                                                               row["data/file_index"]))
        if path != self._path:
            self._path, self._table = path, pq.read_table(path)
        rows = self._table.filter(pc.equal(self._table.column("episode_index"), row["episode_index"]))
        rows = rows.sort_by("frame_index") if "frame_index" in rows.column_names else rows
        if rows.num_rows != row["length"]:
            raise ValueError(f"{path!r} holds {rows.num_rows} frames of episode {row['episode_index']}, and "
                             f"meta/episodes says {row['length']}")
        return rows


def _array(rows: pa.Table, key: str, feature: dict) -> np.ndarray:
    return layout.column_array(rows, key, feature["shape"], feature["dtype"])


def import_lerobot(root: str, out: str, image_size: Optional[int] = None, tolerance_s: float = TOLERANCE_S,
                   overwrite: bool = False, progress: bool = True) -> dict:
    """Write the v3.0 dataset at ``root`` as an episode file ``out``; returns a summary (views, keypoints,
    what was not carried over). ``image_size`` resizes every camera to that square size (keypoints and masks
    follow). ``out`` appears only once every episode is written."""
    out = os.path.abspath(out)
    with exclusive_output(out):
        if os.path.lexists(out) and not overwrite:
            raise ValueError(f"{out!r} exists; pass overwrite=true to replace it, or choose another out")
        source = inspect_dataset(root)
        size = (image_size, image_size) if image_size else None
        settings, attrs, env_args, keypoint_names = _file_metadata(source, image_size)
        remove_stale_temps(out)
        work = temp_path_for(out)
        os.remove(work)  # EpisodeWriter makes it; ``out`` is touched only by the final rename
        try:
            with EpisodeWriter(work, settings, attrs, commit_seconds=float("inf")) as writer:
                writer.set_env_args(env_args)
                readers: Dict[str, VideoFileReader] = {}
                frames = _Frames(source)
                masks = np.load(os.path.join(root, source.sidecar["masks"])) \
                    if source.sidecar and source.sidecar.get("masks") else None
                try:
                    for i, row in enumerate(tqdm(source.episodes, desc="import", disable=not progress)):
                        meta = source.sidecar["episodes"][i] if source.sidecar else {}
                        index = demo_index(meta["demo"]) if "demo" in meta else int(row["episode_index"])
                        episode = _episode(source, row, frames.episode(row), readers, meta, masks, size, tolerance_s)
                        writer.add(index, episode)
                finally:
                    for reader in readers.values():
                        reader.close()
                    if masks is not None:
                        masks.close()
            land(work, out)
        finally:
            if os.path.exists(work):
                os.remove(work)
    views = list(source.cameras.values())
    with_keypoints = [v for v in views if layout.annotation_key(v, "keypoints") in source.features]
    return {"out": out, "episodes": len(source.episodes), "views": views, "keypoint_views": with_keypoints,
            "keypoints": len(keypoint_names), "skipped": source.skipped}


def _file_metadata(source: LeRobotSource, image_size: Optional[int]) -> Tuple[dict, dict, str, List[str]]:
    """Generation settings, file attributes, env_args and keypoint names of the episode file."""
    info, sidecar = source.info, source.sidecar
    origin = {"format": f"LeRobotDataset {layout.CODEBASE_VERSION}", "path": os.path.abspath(source.root),
              "fps": info["fps"], "video": {k: (source.features[k].get("info") or {}).get("video.codec")
                                            for k in source.cameras}}
    if sidecar:  # the project's own export: its settings and attributes, as they were
        settings = dict(sidecar["generation"])
        if image_size and "image_size" in settings:
            settings["image_size"] = image_size
        attrs = dict(sidecar["file_attrs"])
        attrs["converted_from"] = json.dumps(origin)
        return settings, attrs, sidecar["env_args"], json.loads(attrs.get("keypoint_names", "[]"))
    names: List[str] = []
    for key, view in source.cameras.items():
        feature = source.features.get(layout.annotation_key(view, "keypoints"))
        if feature is None:
            continue
        if len(feature["shape"]) != 2 or feature["shape"][1] != 2:
            raise ValueError(f"{layout.annotation_key(view, 'keypoints')} must be (K, 2) pixel x, y; "
                             f"it is {feature['shape']}")
        given = feature["names"]["keypoints"] if isinstance(feature.get("names"), dict) and \
            "keypoints" in feature["names"] else [f"keypoint_{k}" for k in range(feature["shape"][0])]
        if names and len(given) != len(names):
            raise ValueError(f"every camera needs the same keypoints; {view} has {len(given)}, another {len(names)}")
        names = names or list(given)
    settings = {"source": "lerobot", "codebase_version": layout.CODEBASE_VERSION, "fps": info["fps"],
                "robot_type": info.get("robot_type"), "image_size": image_size}
    attrs = {"keypoint_names": json.dumps(names), "views": json.dumps(list(source.cameras.values())),
             "converted_from": json.dumps(origin)}
    env_args = json.dumps({"env_name": info.get("robot_type") or "lerobot", "type": 2,
                           "env_kwargs": {"control_freq": info["fps"]}})
    return settings, attrs, env_args, names


def _episode(source: LeRobotSource, row: dict, rows: pa.Table, readers: Dict[str, VideoFileReader], meta: dict,
             masks, size: Optional[Tuple[int, int]], tolerance_s: float) -> Episode:
    features, fps = source.features, source.info["fps"]
    length = int(row["length"])
    timestamps = _array(rows, "timestamp", features["timestamp"]).astype(np.float64) if "timestamp" in rows.column_names \
        else np.arange(length) / fps
    obs: Dict[str, np.ndarray] = {}
    scale: Dict[str, Tuple[float, float]] = {}
    for key, view in source.cameras.items():
        if features[key]["dtype"] == "video":
            path = os.path.join(source.root, _video_path(source.info, key, row))
            if key not in readers or readers[key].path != path:
                if key in readers:
                    readers[key].close()
                readers[key] = VideoFileReader(path, size)
            images = readers[key].frames(row[f"videos/{key}/from_timestamp"] + timestamps, tolerance_s)
        else:  # PNG bytes in the frame rows
            images = np.stack([_resize(imageio.imread(cell["bytes"])[..., :3], size)
                               for cell in rows.column(key).to_pylist()])
        obs[obs_key(view, "image")] = images
        shape = features[key]["shape"]
        h, w = shape[:2] if shape[-1] == 3 else shape[1:]  # lerobot's (H, W, C), or channels first
        scale[view] = (images.shape[2] / w, images.shape[1] / h)
    for key, (name, keypoints_of) in source.targets.items():
        values = _array(rows, key, features[key])
        if keypoints_of is not None and scale[keypoints_of] != (1.0, 1.0):
            values = (values * np.array(scale[keypoints_of], np.float32)).astype(values.dtype)
        obs[name] = values
    if masks is not None:
        for view in scale:
            for kind in layout.MASK_KINDS:
                member = layout.mask_member(obs_key(view, kind), int(row["episode_index"]))
                if member in masks.files:
                    obs[obs_key(view, kind)] = _resize_masks(masks[member], size)
    actions = _array(rows, "action", features["action"]).reshape(length, -1).astype(np.float32)
    rewards = _array(rows, layout.REWARD_KEY, features[layout.REWARD_KEY]).astype(np.float32) \
        if layout.REWARD_KEY in features else np.zeros(length, np.float32)
    if layout.DONE_KEY in features:
        dones = _array(rows, layout.DONE_KEY, features[layout.DONE_KEY]).astype(np.int64)
    else:  # robomimic's convention: done at the last step
        dones = np.zeros(length, np.int64)
        dones[-1] = 1
    states = _array(rows, layout.SIM_STATE_KEY, features[layout.SIM_STATE_KEY]) \
        if layout.SIM_STATE_KEY in features else np.zeros((length, 0))
    low_dim = [k for k in obs if not is_view_key(k)]
    final = meta.get("final_obs", {})
    # robomimic's next_obs: the next step's observation; after the last action the recorded one, else the
    # last repeated (its done is 1, so offline RL masks it)
    next_obs = {k: np.concatenate([obs[k][1:], np.asarray(final[k], obs[k].dtype)[None] if k in final
                                   else obs[k][-1:]]) for k in low_dim}
    return Episode(seed=int(meta.get("seed", row["episode_index"])), success=bool(meta.get("success", False)),
                   actions=actions, states=states, rewards=rewards, dones=dones, obs=obs,
                   cameras=meta.get("cameras", {}), model_file=meta.get("model_file"), next_obs=next_obs)
