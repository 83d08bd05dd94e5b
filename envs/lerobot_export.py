"""An episode file (robomimic HDF5, ``envs/dataset_io.py``) -> a LeRobotDataset v3.0 folder (``lerobot_layout``).

What goes where::

    obs/<view>_image                  -> observation.images.<view>     video, one mp4 stream per camera
    obs/<view>_keypoints              -> annotation.<view>.keypoints   (K, 2) float32 pixels, NaN where unseen
    obs/<view>_extrinsics             -> annotation.<view>.extrinsics  (4, 4) world -> camera
    obs/<view>_embedding              -> annotation.<view>.embedding
    obs/<view>_robot_mask, _object_mask -> annotations/masks.npz       (bool, lossless; see MASKS_PATH)
    obs/<low-dim key>                 -> annotation.obs.<key>, and the ``state_keys`` concatenated as
                                         observation.state (names "<key>.<i>")
    actions                           -> action (float32)
    states, rewards, dones            -> annotation.sim_state, next.reward, next.done
    settings, seeds, cameras, ...     -> meta/poseaware.json

so lerobot's policies see the cameras, the proprioception and the action, and nothing privileged.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np
import pyarrow.parquet as pq
from tqdm import tqdm

from . import lerobot_layout as layout
from .dataset_io import VIEW_KINDS, EpisodeFile, land_dir, obs_key, remove_stale_temps, temp_dir_for
from .lerobot_video import VideoFileWriter, VideoSettings, video_info
from .output_lock import exclusive_output

# robomimic's proprioception for image policies (its default image configs' low-dim keys)
DEFAULT_STATE_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
# Every per-view array but the images (videos) and the masks (annotations/masks.npz) is a frame feature.
ANNOTATED_KINDS = tuple(k for k in VIEW_KINDS if k != "image" and k not in layout.MASK_KINDS)


def _feature_names(key: str, shape: Sequence[int], keypoint_names: Sequence[str]) -> Optional[object]:
    if key.endswith(".keypoints"):
        return {"keypoints": list(keypoint_names), "coordinates": ["x", "y"]} if len(keypoint_names) == shape[0] \
            else ["keypoints", "coordinates"]
    if key.endswith(".extrinsics"):
        return ["row", "column"]
    return None


class _Plan:
    """The features of one file, read from its first demo; every demo is checked against it."""

    def __init__(self, f: EpisodeFile, state_keys: Optional[Sequence[str]], views: Optional[Sequence[str]]) -> None:
        first = f.demos[0]
        if not f.views:
            raise ValueError(f"{f.path!r} has no camera images (obs/<view>_image), so nothing for a LeRobot video "
                             f"feature; a robomimic raw file gets them with envs.rerender first")
        unknown = [v for v in views or () if v not in f.views]
        if unknown:
            raise ValueError(f"views {unknown} are not in {f.path!r}; it has {f.views}")
        self.views = list(views) if views else list(f.views)
        self.view_kinds = {v: [k for k in ANNOTATED_KINDS if f.has_view_obs(first, v, k)] for v in self.views}
        self.mask_kinds = {v: [k for k in layout.MASK_KINDS if f.has_view_obs(first, v, k)] for v in self.views}
        self.low_dim = f.low_dim_obs(first)
        unknown = [k for k in state_keys or () if k not in self.low_dim]
        if unknown:
            raise ValueError(f"state_keys {unknown} are not low-dim observations of {f.path!r}; "
                             f"it has {sorted(self.low_dim)}")
        # The default keys are the robosuite/pybullet arm's; a file without them has no observation.state.
        self.state_keys = list(state_keys) if state_keys is not None else \
            [k for k in DEFAULT_STATE_KEYS if k in self.low_dim]
        self.image_shape = f.view_obs(first, self.views[0], "image", 0).shape
        for view in self.views:
            shape = f.view_obs(first, view, "image", 0).shape
            if shape != self.image_shape:
                raise ValueError(f"{f.path!r}: view {view} has {shape} images and {self.views[0]} "
                                 f"{self.image_shape}; one size per dataset is expected")

    def check(self, f: EpisodeFile, name: str) -> None:
        for view in self.views:
            for kind in ["image"] + self.view_kinds[view] + self.mask_kinds[view]:
                if not f.has_view_obs(name, view, kind):
                    raise ValueError(f"{f.path!r}: {name} has no obs/{obs_key(view, kind)} though the first demo "
                                     f"has; every demo needs the same observations")
        missing = sorted(set(self.low_dim) - set(f.low_dim_obs(name)))
        if missing:
            raise ValueError(f"{f.path!r}: {name} lacks low-dim observations {missing}")


def _final_obs(f: EpisodeFile, name: str, low_dim: Dict[str, np.ndarray]) -> Dict[str, list]:
    """The observation after the last action, the one thing of robomimic's ``next_obs`` not in ``obs``."""
    nxt = f.low_dim_obs(name, "next_obs")
    final = {}
    for key, value in low_dim.items():
        if key not in nxt:
            continue
        if not np.array_equal(nxt[key][:-1], value[1:]):
            raise ValueError(f"{f.path!r}: {name}/next_obs/{key} is not obs/{key} one step on; such a file "
                             f"cannot be carried over exactly")
        final[key] = nxt[key][-1].tolist()
    return final


def _attrs_as_text(attrs) -> Dict[str, str]:
    return {k: v if isinstance(v, str) else v.decode() if isinstance(v, bytes) else json.dumps(np.asarray(v).tolist())
            for k, v in attrs.items() if k not in ("format", "generation")}


def export_lerobot(source: str, out: str, fps: Optional[int] = None, task: Optional[str] = None,
                   state_keys: Optional[Sequence[str]] = None, views: Optional[Sequence[str]] = None,
                   video: Optional[VideoSettings] = None, overwrite: bool = False, progress: bool = True) -> dict:
    """Write ``source``'s demos as a LeRobotDataset v3.0 at folder ``out``; returns a summary.

    ``fps`` defaults to the env's control frequency (``env_args``); ``task`` to the env's name; ``state_keys``
    (the low-dim keys concatenated as observation.state) to those of ``DEFAULT_STATE_KEYS`` the file has;
    ``views`` (the cameras written, each a policy input in lerobot) to all. The folder is built beside ``out``
    and renamed into place at the end, under ``out``'s lock.
    """
    video = video or VideoSettings()
    out = os.path.abspath(out.rstrip(os.sep))
    with exclusive_output(out), EpisodeFile(source) as f:
        if os.path.lexists(out) and not overwrite:
            raise ValueError(f"{out!r} exists; pass overwrite=true to replace it, or choose another out")
        if not f.demos:
            raise ValueError(f"{source!r} holds no demos")
        env_args = json.loads(f.file["data"].attrs.get("env_args", "{}") or "{}")
        fps = fps or env_args.get("env_kwargs", {}).get("control_freq")
        if not fps or int(fps) != fps or fps <= 0:
            raise ValueError(f"fps must be a positive integer; {source!r} records no control frequency, so pass "
                             f"fps=<the rate its actions were taken at>")
        plan = _Plan(f, state_keys, views)
        for name in f.demos:
            plan.check(f, name)
        task = task or f.settings.get("env") or env_args.get("env_name") or "demonstration"
        remove_stale_temps(out)
        tmp = temp_dir_for(out)
        try:
            writer = _DatasetWriter(f, plan, tmp, int(fps), task, video)
            try:
                for e, name in enumerate(tqdm(f.demos, desc="export", disable=not progress)):
                    writer.add(e, name)
            finally:
                writer.close()
            summary = writer.finish()
            land_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return {"out": out, **summary}


class _Stream:
    """One stream of files (a camera's videos, or the frame parquet): the current (chunk, file) and its writer,
    moved on to the next file before an episode would take it past ``limit_mb``, as lerobot does."""

    def __init__(self, root: str, template: str, limit_mb: int, **keys: str) -> None:
        self.root, self.template, self.limit_mb, self.keys = root, template, limit_mb, keys
        self.chunk, self.file, self.writer = 0, 0, None

    def path(self) -> str:
        return os.path.join(self.root, layout.file_path(self.template, self.chunk, self.file, **self.keys))

    def room_for(self, size_mb: float, episode_mb: float) -> None:
        if self.writer is not None and size_mb + episode_mb >= self.limit_mb:
            self.close()
            self.chunk, self.file = layout.next_file(self.chunk, self.file)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class _DatasetWriter:
    """Writes one episode at a time into the v3.0 folder ``root``, then the metadata that covers them all."""

    def __init__(self, f: EpisodeFile, plan: _Plan, root: str, fps: int, task: str, video: VideoSettings) -> None:
        self.f, self.plan, self.root, self.fps, self.task, self.video = f, plan, root, fps, task, video
        self.features: Dict[str, dict] = {}
        self.episodes: List[dict] = []      # meta/episodes rows
        self.sidecar: List[dict] = []       # meta/poseaware.json's episodes
        self.values: Dict[str, List[np.ndarray]] = {}
        self.histograms: Dict[str, np.ndarray] = {}
        self.cameras = {v: _Stream(root, layout.VIDEO_PATH, layout.VIDEO_FILE_SIZE_IN_MB, video_key=layout.video_key(v))
                        for v in plan.views}
        self.data = _Stream(root, layout.DATA_PATH, layout.DATA_FILE_SIZE_IN_MB)
        self.data_mb, self.total = 0.0, 0
        self.masks = None
        if any(plan.mask_kinds.values()):
            os.makedirs(os.path.dirname(os.path.join(root, layout.MASKS_PATH)), exist_ok=True)
            self.masks = zipfile.ZipFile(os.path.join(root, layout.MASKS_PATH), "w", zipfile.ZIP_DEFLATED)

    def add(self, e: int, name: str) -> None:
        f, length = self.f, self.f.num_samples(name)
        low_dim = f.low_dim_obs(name)
        row = {"episode_index": e, "tasks": [self.task], "length": length}
        stats: Dict[str, dict] = {}
        columns, names = self._columns(e, name, length, low_dim)
        for view in self.plan.views:
            row.update(self._video(view, f.view_obs(name, view, "image"), stats))
            for kind in self.plan.mask_kinds[view]:
                with self.masks.open(layout.mask_member(obs_key(view, kind), e) + ".npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, f.view_obs(name, view, kind).astype(bool), allow_pickle=False)
        self.features = self.features or _features(self.plan, columns, names, f.keypoint_names)
        differ = sorted(set(columns) ^ {k for k, ft in self.features.items() if ft["dtype"] != "video"})
        if differ:
            raise ValueError(f"{f.path!r}: {name} and the first demo differ in {differ}")
        row.update(self._frames(columns))
        for key, values in columns.items():
            self.values.setdefault(key, []).append(values)
            stats[key] = layout.array_stats(values)
        row.update({f"stats/{key}/{stat}": np.asarray(value).tolist()
                    for key in self.features for stat, value in stats[key].items()})
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        self.episodes.append(_lerobot_order(row, self.features))
        self.sidecar.append({"demo": name, "seed": int(f.demo_attr(name, "seed", 0)),
                             "success": bool(f.demo_attr(name, "success", False)),
                             "cameras": json.loads(f.demo_attr(name, "cameras", "{}")),
                             "model_file": f.demo_attr(name, "model_file"),
                             "final_obs": _final_obs(f, name, low_dim)})
        self.total += length

    def _columns(self, e: int, name: str, length: int, low_dim: Dict[str, np.ndarray]):
        """The episode's frame columns (every feature but the videos) and the names of their entries."""
        f, plan = self.f, self.plan
        columns: Dict[str, np.ndarray] = {"action": f.array(name, "actions").astype(np.float32)}
        names: Dict[str, object] = {"action": [f"action_{i}" for i in range(columns["action"].shape[1])]}
        if plan.state_keys:
            columns[layout.STATE_KEY] = np.concatenate(
                [low_dim[k].reshape(length, -1) for k in plan.state_keys], axis=1).astype(np.float32)
            names[layout.STATE_KEY] = [f"{k}.{i}" for k in plan.state_keys
                                       for i in range(int(np.prod(low_dim[k].shape[1:])))]
        for view in plan.views:
            for kind in plan.view_kinds[view]:
                columns[layout.annotation_key(view, kind)] = f.view_obs(name, view, kind)
        for key in plan.low_dim:
            columns[layout.LOW_DIM_PREFIX + key] = low_dim[key]
            if low_dim[key].ndim == 2:
                names[layout.LOW_DIM_PREFIX + key] = [f"{key}.{i}" for i in range(low_dim[key].shape[1])]
        states = f.array(name, "states")
        if states is not None and states.size:
            columns[layout.SIM_STATE_KEY] = states
        columns[layout.REWARD_KEY] = np.asarray(f.array(name, "rewards"), dtype=np.float32).reshape(length)
        columns[layout.DONE_KEY] = np.asarray(f.array(name, "dones")).reshape(length).astype(bool)
        frame_index = np.arange(length, dtype=np.int64)
        columns.update({"timestamp": (frame_index / self.fps).astype(np.float32), "frame_index": frame_index,
                        "episode_index": np.full(length, e, np.int64),
                        "index": np.arange(self.total, self.total + length, dtype=np.int64),
                        "task_index": np.zeros(length, np.int64)})
        return columns, names

    def _video(self, view: str, images: np.ndarray, stats: Dict[str, dict]) -> dict:
        """Appends the episode to its camera's video; its episodes-table columns."""
        key, stream = layout.video_key(view), self.cameras[view]
        if stream.writer is not None:
            size = stream.writer.size_mb()
            stream.room_for(size, size * len(images) / max(stream.writer.frames, 1))
        if stream.writer is None:
            height, width = self.plan.image_shape[:2]
            stream.writer = VideoFileWriter(stream.path(), self.fps, height, width, self.video)
        start, end = stream.writer.add(images)
        histogram = layout.pixel_histogram(images)
        self.histograms[key] = self.histograms.get(key, 0) + histogram
        stats[key] = layout.image_stats(histogram, len(images))
        return {f"videos/{key}/chunk_index": stream.chunk, f"videos/{key}/file_index": stream.file,
                f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": end}

    def _frames(self, columns: Dict[str, np.ndarray]) -> dict:
        """Appends the episode's rows (one row group) to the frame parquet; its episodes-table columns."""
        table = layout.frames_table(columns, self.features)
        table_mb = table.nbytes / 1024 ** 2
        self.data.room_for(self.data_mb, table_mb)
        if self.data.writer is None:
            os.makedirs(os.path.dirname(self.data.path()), exist_ok=True)
            self.data.writer = pq.ParquetWriter(self.data.path(), table.schema, compression="snappy",
                                                use_dictionary=True)
            self.data_mb = 0.0
        self.data.writer.write_table(table)
        self.data_mb += table_mb
        length = table.num_rows
        return {"data/chunk_index": self.data.chunk, "data/file_index": self.data.file,
                "dataset_from_index": self.total, "dataset_to_index": self.total + length}

    def close(self) -> None:
        for stream in list(self.cameras.values()) + [self.data]:
            stream.close()
        if self.masks is not None:
            self.masks.close()

    def _file_attrs(self) -> Dict[str, str]:
        """The source's file attributes as text; with a subset of the cameras, ``views`` and ``cameras`` name theirs."""
        attrs = _attrs_as_text(self.f.file.attrs)
        if len(self.plan.views) < len(self.f.views):
            for key in ("views", "cameras"):
                if key in attrs:
                    value = json.loads(attrs[key])
                    attrs[key] = json.dumps([v for v in value if v in self.plan.views] if isinstance(value, list)
                                            else {v: c for v, c in value.items() if v in self.plan.views})
        return attrs

    def finish(self) -> dict:
        """After ``close``: the metadata that covers every episode (info, stats, tasks, episodes, sidecar)."""
        root, f, features = self.root, self.f, self.features
        for view in self.plan.views:
            key = layout.video_key(view)
            features[key]["info"] = video_info(
                os.path.join(root, layout.file_path(layout.VIDEO_PATH, 0, 0, video_key=key)), self.video)
        stats = {key: layout.image_stats(h, self.total) for key, h in self.histograms.items()}
        stats.update({key: layout.array_stats(np.concatenate(v)) for key, v in self.values.items()})
        layout.write_parquet([layout.tasks_table([self.task])], os.path.join(root, layout.TASKS_PATH))
        layout.write_parquet([layout.episodes_table(self.episodes)],
                             os.path.join(root, layout.file_path(layout.EPISODES_PATH, 0, 0)))
        layout.write_json(os.path.join(root, layout.STATS_PATH), layout.stats_to_json(stats))
        env_args = f.file["data"].attrs.get("env_args", "{}") or "{}"
        robots = json.loads(env_args).get("env_kwargs", {}).get("robots")  # robosuite's, e.g. ["Panda"]
        robot = (robots[0] if isinstance(robots, list) else robots) if robots else None
        layout.write_json(os.path.join(root, layout.INFO_PATH), layout.dataset_info(
            self.fps, features, len(self.episodes), self.total, 1, robot, has_video=True))
        layout.write_json(os.path.join(root, layout.SIDECAR_PATH), {
            "format": layout.SIDECAR_FORMAT, "source": {"path": os.path.abspath(f.path),
                                                        "format": f.file.attrs.get("format")},
            "generation": f.settings, "env_args": env_args, "file_attrs": self._file_attrs(),
            "state_keys": self.plan.state_keys, "masks": layout.MASKS_PATH if self.masks else None,
            "episodes": self.sidecar})
        return {"episodes": len(self.episodes), "frames": self.total, "views": self.plan.views, "fps": self.fps,
                "task": self.task}


def _features(plan: _Plan, columns: Dict[str, np.ndarray], names: Dict[str, object],
              keypoint_names: Sequence[str]) -> Dict[str, dict]:
    """info.json's features in lerobot's order: the action and state, the cameras, the rest, the defaults."""
    features: Dict[str, dict] = {}
    for key in ("action", layout.STATE_KEY):
        if key in columns:
            features[key] = layout.numeric_feature(columns[key], names.get(key))
    for view in plan.views:
        features[layout.video_key(view)] = {"dtype": "video", "shape": list(plan.image_shape[:2]) + [3],
                                            "names": ["height", "width", "channels"]}
    for key, values in columns.items():
        if key not in features and key not in layout.DEFAULT_FEATURES:
            features[key] = layout.numeric_feature(
                values, names.get(key) or _feature_names(key, values.shape[1:], keypoint_names))
    features.update({k: dict(v) for k, v in layout.DEFAULT_FEATURES.items()})
    return features


def _lerobot_order(row: dict, features: Dict[str, dict]) -> dict:
    """The episodes table's columns in lerobot's order: index, tasks, length, data, videos, stats, meta."""
    head = ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index", "dataset_from_index",
            "dataset_to_index"]
    videos = [k for k in row if k.startswith("videos/")]
    stats = [f"stats/{key}/{stat}" for key in features for stat in layout.STAT_NAMES if f"stats/{key}/{stat}" in row]
    return {k: row[k] for k in head + videos + stats + ["meta/episodes/chunk_index", "meta/episodes/file_index"]}
