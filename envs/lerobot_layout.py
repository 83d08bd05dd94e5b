"""The LeRobotDataset v3.0 layout, read and written with pyarrow alone (no lerobot, no torch).

Mirrors lerobot 0.6.1 (``lerobot/datasets/utils.py``, ``io_utils.py``, ``compute_stats.py`` and what its
``LeRobotDataset.create``/``save_episode``/``finalize`` write)::

    meta/info.json                                  codebase_version "v3.0", fps, features, totals, path templates
    meta/stats.json                                 per feature: min, max, mean, std, count, q01 q10 q50 q90 q99
    meta/tasks.parquet                              task (the pandas index) -> task_index
    meta/episodes/chunk-000/file-000.parquet        one row per episode: length, tasks, data and video offsets, stats/*
    data/chunk-000/file-000.parquet                 one row per frame, one row group per episode
    videos/<video key>/chunk-000/file-000.mp4       one stream per camera, episodes one after another

How the project's arrays are named in it (``envs/lerobot_export.py`` writes them, ``envs/lerobot_import.py``
reads them back) is defined here too, once.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_SIZE_IN_MB = 100
VIDEO_FILE_SIZE_IN_MB = 200
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
# v2.x files; their presence without a v3.0 info.json means the old, per-episode layout.
LEGACY_PATHS = ("meta/episodes.jsonl", "meta/tasks.jsonl", "meta/episodes_stats.jsonl")
# Every frame row ends with these (lerobot's DEFAULT_FEATURES, in its order).
DEFAULT_FEATURES: Dict[str, dict] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
STAT_NAMES = ("min", "max", "mean", "std", "count") + tuple(f"q{round(q * 100):02d}" for q in QUANTILES)
CAMERA_DTYPES = ("video", "image")

# -- the project's names ----------------------------------------------------------------------------------
# lerobot feeds every image feature and every non-image ``observation.*`` feature to its policies, so what a
# policy should not read by default (per-camera poses, the simulator's state) lives under ``annotation.``.
IMAGES_PREFIX = "observation.images."
STATE_KEY = "observation.state"
ANNOTATION_PREFIX = "annotation."
LOW_DIM_PREFIX = ANNOTATION_PREFIX + "obs."       # every robomimic low-dim observation, under its own name
SIM_STATE_KEY = ANNOTATION_PREFIX + "sim_state"   # the demo's ``states`` (simulator state, for replay)
REWARD_KEY, DONE_KEY = "next.reward", "next.done"  # the names lerobot's simulated datasets (pusht, aloha) use
SIDECAR_PATH = "meta/poseaware.json"               # what the HDF5 holds beyond frames (settings, seeds, ...)
MASKS_PATH = "annotations/masks.npz"               # robot/object masks, member "<view>_<kind>/episode_<i>"
MASK_KINDS = ("robot_mask", "object_mask")           # bool, kept lossless there (not video, not features)
SIDECAR_FORMAT = "poseaware-lerobot/1"


def video_key(view: str) -> str:
    return IMAGES_PREFIX + view


def annotation_key(view: str, kind: str) -> str:
    """``annotation.<view>.<kind>``, e.g. ``annotation.cam0.keypoints``."""
    return f"{ANNOTATION_PREFIX}{view}.{kind}"


def mask_member(obs_key: str, episode_index: int) -> str:
    return f"{obs_key}/episode_{episode_index:06d}"


def file_path(template: str, chunk_index: int, file_index: int, **keys: str) -> str:
    return template.format(chunk_index=chunk_index, file_index=file_index, **keys)


def next_file(chunk_index: int, file_index: int, chunks_size: int = CHUNKS_SIZE) -> Tuple[int, int]:
    """The (chunk, file) after this one (lerobot's ``update_chunk_file_indices``)."""
    return (chunk_index + 1, 0) if file_index == chunks_size - 1 else (chunk_index, file_index + 1)


# -- meta/info.json ---------------------------------------------------------------------------------------
def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=4)


def read_info(root: str) -> dict:
    """``meta/info.json`` of a v3.0 dataset; a missing file, a v2.x or an unknown version is refused."""
    path = os.path.join(root, INFO_PATH)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"LeRobot dataset folder not found: {root!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{root!r} is not a LeRobot dataset: it has no {INFO_PATH}")
    with open(path) as f:
        info = json.load(f)
    version = str(info.get("codebase_version", ""))
    if version.startswith("v2") or (not version and any(os.path.exists(os.path.join(root, p)) for p in LEGACY_PATHS)):
        raise ValueError(
            f"{root!r} is a LeRobotDataset {version or 'v2.x'} (per-episode files); only v3.0 is read. Convert it "
            f"with lerobot's own converter first: `python -m lerobot.scripts.convert_dataset_v21_to_v30 "
            f"--repo-id=<repo id> --root={root} --push-to-hub=false`")
    if version != CODEBASE_VERSION:
        raise ValueError(f"{root!r} has codebase_version {version!r} in {INFO_PATH}; this reader knows "
                         f"{CODEBASE_VERSION!r} only")
    missing = [k for k in ("fps", "features", "total_episodes", "total_frames", "data_path") if k not in info]
    if missing:
        raise ValueError(f"{path!r} lacks {missing}; it is not a complete LeRobot v3.0 info.json")
    return info


def dataset_info(fps: int, features: Dict[str, dict], total_episodes: int, total_frames: int,
                 total_tasks: int, robot_type: Optional[str], has_video: bool) -> dict:
    """``meta/info.json`` with lerobot's keys, in its order (``DatasetInfo.to_dict``)."""
    return {
        "codebase_version": CODEBASE_VERSION, "fps": int(fps), "features": features,
        "total_episodes": total_episodes, "total_frames": total_frames, "total_tasks": total_tasks,
        "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILE_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILE_SIZE_IN_MB, "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None, "robot_type": robot_type,
        "splits": {"train": f"0:{total_episodes}"},
    }


def numeric_feature(array: np.ndarray, names=None) -> dict:
    """The feature of per-frame values ``array`` (frames first), e.g. ``(T, 11, 2)`` float32 -> shape [11, 2]."""
    shape = list(array.shape[1:]) or [1]
    return {"dtype": np.dtype(array.dtype).name, "shape": shape, "names": names}


# -- parquet ----------------------------------------------------------------------------------------------
def _arrow_value(dtype: str) -> pa.DataType:
    return pa.bool_() if dtype == "bool" else pa.from_numpy_dtype(np.dtype(dtype))


def _hf_feature(feature: dict) -> dict:
    """The ``datasets`` type lerobot gives a feature (``get_hf_features_from_features``), as JSON."""
    value = {"dtype": feature["dtype"], "_type": "Value"}
    shape = list(feature["shape"])
    if shape == [1]:
        return value
    if len(shape) == 1:
        return {"feature": value, "length": shape[0], "_type": "List"}
    return {"shape": shape, "dtype": feature["dtype"], "_type": f"Array{len(shape)}D"}


def frames_table(columns: Dict[str, np.ndarray], features: Dict[str, dict]) -> pa.Table:
    """Frame rows as lerobot writes them: ``(1,)`` features as scalars, vectors as fixed-size lists, arrays of
    2-5 axes as nested lists (the storage of ``datasets``' ArrayND), and ``datasets``' schema metadata."""
    arrays, fields = [], []
    for key, values in columns.items():
        feature = features[key]
        shape = list(feature["shape"])
        flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=_arrow_value(feature["dtype"]))
        if shape == [1]:
            array = flat
        elif len(shape) == 1:
            array = pa.FixedSizeListArray.from_arrays(flat, shape[0])
        else:
            array = flat
            for size in reversed(shape):
                offsets = pa.array(np.arange(0, len(array) + 1, size, dtype=np.int32))
                array = pa.ListArray.from_arrays(offsets, array)
        arrays.append(array)
        fields.append(pa.field(key, array.type))
    hf = {"info": {"features": {key: _hf_feature(features[key]) for key in columns}}}
    schema = pa.schema(fields, metadata={"huggingface": json.dumps(hf)})
    return pa.Table.from_arrays(arrays, schema=schema)


def write_parquet(tables: Sequence[pa.Table], path: str) -> None:
    """One row group per table (lerobot writes one per episode, so an episode is one read)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with pq.ParquetWriter(path, tables[0].schema, compression="snappy", use_dictionary=True) as writer:
        for table in tables:
            writer.write_table(table)


def column_array(table: pa.Table, key: str, shape: Sequence[int], dtype: str) -> np.ndarray:
    """A frame column back as ``(rows, *shape)`` of ``dtype`` (scalars, fixed-size or nested lists)."""
    column = table.column(key).combine_chunks()
    while pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or \
            pa.types.is_fixed_size_list(column.type):
        column = column.flatten()
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.dtype(dtype))
    return values.reshape((table.num_rows,) + (() if list(shape) == [1] else tuple(shape)))


def tasks_table(tasks: Sequence[str]) -> pa.Table:
    """``meta/tasks.parquet`` as pandas writes lerobot's frame (the task string is the index), so that
    ``pd.read_parquet`` gives lerobot the task strings back as its index."""
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                            "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                     "metadata": None}],
        "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.3.3",
    }
    schema = pa.schema([pa.field("task_index", pa.int64()), pa.field("task", pa.string())],
                       metadata={"pandas": json.dumps(pandas_meta)})
    return pa.Table.from_arrays([pa.array(range(len(tasks)), pa.int64()), pa.array(list(tasks), pa.string())],
                                schema=schema)


def read_tasks(root: str) -> Dict[int, str]:
    """task_index -> task; the task string is the ``task`` column, or pandas' unnamed index column."""
    table = pq.read_table(os.path.join(root, TASKS_PATH))
    name = "task" if "task" in table.column_names else "__index_level_0__"
    return dict(zip(table.column("task_index").to_pylist(), table.column(name).to_pylist()))


def episodes_table(rows: List[dict]) -> pa.Table:
    """``meta/episodes`` rows (plain Python values) with lerobot's column types: integers int64, offsets and
    statistics float64 (``count`` int64), tasks a list of strings."""
    def arrow_type(key: str, value) -> Optional[pa.DataType]:
        if key == "tasks":
            return pa.list_(pa.string())
        if key.startswith("stats/"):
            element = pa.int64() if key.endswith("/count") else pa.float64()
            depth = np.ndim(value)
            for _ in range(depth):
                element = pa.list_(element)
            return element
        if isinstance(value, float):
            return pa.float64()
        if isinstance(value, (bool, np.bool_)):
            return pa.bool_()
        if isinstance(value, (int, np.integer)):
            return pa.int64()
        return None  # let pyarrow infer (strings)
    keys = list(rows[0])
    return pa.table({k: pa.array([r[k] for r in rows], type=arrow_type(k, rows[0][k])) for k in keys})


# -- statistics -------------------------------------------------------------------------------------------
def array_stats(values: np.ndarray) -> Dict[str, np.ndarray]:
    """lerobot's statistics of a numeric feature over frames: the last axis is kept, every other axis is
    pooled (a ``(T, K, 2)`` feature gets ``(2,)`` statistics, a scalar ``(1,)``), and count is the frame count.
    NaN (an unseen keypoint) is left out; a value never seen gets 0, so stats.json stays plain JSON."""
    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(len(x), -1) if x.ndim <= 2 else x.reshape(-1, x.shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        stats = {"min": np.nanmin(x, axis=0), "max": np.nanmax(x, axis=0), "mean": np.nanmean(x, axis=0),
                 "std": np.nanstd(x, axis=0)}
        for name, q in zip(STAT_NAMES[5:], QUANTILES):
            stats[name] = np.nanquantile(x, q, axis=0)
    stats = {k: np.nan_to_num(v, nan=0.0) for k, v in stats.items()}
    stats["count"] = np.array([len(values)])
    return {name: stats[name] for name in STAT_NAMES}


def pixel_histogram(frames: np.ndarray) -> np.ndarray:
    """Per-channel counts of each grey level of ``(T, H, W, 3)`` uint8 frames: ``(3, 256)``; histograms add up
    across episodes, so the dataset's image statistics are exact without holding every frame."""
    return np.stack([np.bincount(frames[..., c].reshape(-1), minlength=256) for c in range(frames.shape[-1])])


def image_stats(histogram: np.ndarray, frames: int) -> Dict[str, np.ndarray]:
    """lerobot's per-channel image statistics, in [0, 1], each of shape ``(3, 1, 1)``, from ``pixel_histogram``."""
    levels = np.arange(256) / 255.0
    total = histogram.sum(axis=1)
    mean = histogram @ levels / total
    std = np.sqrt(np.maximum(histogram @ levels ** 2 / total - mean ** 2, 0.0))
    seen = histogram > 0
    first = levels[np.argmax(seen, axis=1)]
    last = levels[255 - np.argmax(seen[:, ::-1], axis=1)]
    cumulative = np.cumsum(histogram, axis=1) / total[:, None]
    stats = {"min": first, "max": last, "mean": mean, "std": std}
    for name, q in zip(STAT_NAMES[5:], QUANTILES):
        stats[name] = levels[np.argmax(cumulative >= q, axis=1)]
    stats = {k: v.reshape(-1, 1, 1) for k, v in stats.items()}
    stats["count"] = np.array([frames])
    return {name: stats[name] for name in STAT_NAMES}


def stats_to_json(stats: Dict[str, Dict[str, np.ndarray]]) -> dict:
    return {key: {name: np.asarray(v).tolist() for name, v in s.items()} for key, s in stats.items()}
