"""The one module that reads and writes episode files (robomimic HDF5 layout).

Layout::

    data/ (attrs: env_args JSON, total, ...)
      demo_<i>/ (attrs: num_samples, seed, success, model_file for robosuite)
        actions, states, rewards, dones
        obs/<view>_image (T,H,W,3) uint8, obs/<view>_keypoints (T,K,2) float32,
        obs/<view>_robot_mask (T,H,W) bool, obs/<view>_object_mask (T,H,W) bool,
        obs/<view>_extrinsics (T,4,4), obs/<low-dim keys>
    mask/train, mask/valid, mask/test   (demo names)

Writes go to a temp file in the same folder and land with an atomic rename; an interrupted
writer keeps every finished demo, so re-running with the same output resumes. Finished demos
are committed as often as committing costs at most a tenth of the time (after every demo unless
the file is large), so even a hard kill (SIGKILL) loses only the demos since the last commit.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

import h5py
import numpy as np

from .output_lock import OutputNotWritable, exclusive_output, is_write_error, not_writable, unwritten_input

FORMAT = "poseaware-episodes/1"
SPLITS = ("train", "valid", "test")
_DEMO = re.compile(r"^demo_(\d+)$")
# Per-view observation kinds: obs/<view>_<kind>. Embeddings are added by alignment.embed, images with
# keypoint channels (pose_image) and camera poses (camera_pose) by alignment.policy.
VIEW_KINDS = ("image", "keypoints", "robot_mask", "object_mask", "extrinsics", "embedding", "pose_image", "camera_pose")
LOW_DIM_EXCLUDED = tuple(f"_{kind}" for kind in VIEW_KINDS)


def obs_key(view: str, kind: str) -> str:
    """The observation key of one view, e.g. ``obs_key("cam0", "image") == "cam0_image"``."""
    if kind not in VIEW_KINDS:
        raise ValueError(f"unknown per-view observation {kind!r}; choose one of {', '.join(VIEW_KINDS)}")
    return f"{view}_{kind}"


def is_view_key(key: str) -> bool:
    return key.endswith(LOW_DIM_EXCLUDED)


class DatasetFormatError(ValueError):
    """The file is not a readable robomimic-layout episode file."""


@dataclass
class Episode:
    seed: int
    success: bool
    actions: np.ndarray
    states: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    obs: Dict[str, np.ndarray]
    cameras: Dict[str, dict] = field(default_factory=dict)
    model_file: Optional[str] = None
    next_obs: Dict[str, np.ndarray] = field(default_factory=dict)  # robomimic's s' (low-dim keys)

    @property
    def num_samples(self) -> int:
        return int(len(self.actions))


def demo_name(index: int) -> str:
    return f"demo_{index}"


def demo_index(name: str) -> int:
    match = _DEMO.match(name)
    if not match:
        raise DatasetFormatError(f"unexpected group {name!r} under data/; demos are named demo_<i>")
    return int(match.group(1))


def split_of(index: int) -> str:
    """Split by episode index (70/10/20), stable when a dataset is resumed, extended or sharded."""
    r = index % 10
    return "valid" if r == 1 else "test" if r in (2, 7) else "train"


def open_h5(path: str, mode: str = "r") -> h5py.File:
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset not found: {path!r}")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise DatasetFormatError(
            f"{path!r} is not a readable HDF5 file (corrupt, or a partial write?): {err}. "
            f"Delete it and generate again."
        ) from None


def _check_layout(f: h5py.File, path: str) -> None:
    if "data" not in f or not isinstance(f["data"], h5py.Group):
        raise DatasetFormatError(f"{path!r} is not a robomimic-layout dataset: it has no data/ group")
    for name in f["data"]:
        group = f["data"][name]
        demo_index(name)
        if "actions" not in group:
            raise DatasetFormatError(f"{path!r}: data/{name} has no 'actions'; the file is partial or foreign")


def read_dataset(dataset: h5py.Dataset, path: str, index=slice(None)) -> np.ndarray:
    """``dataset[index]``; a chunk that cannot be read (a checksum or decompression error) is named, with the fix."""
    try:
        return dataset[index]
    except OSError as err:
        raise DatasetFormatError(f"{path}: {dataset.name} cannot be read, the file is corrupt ({err}); "
                                 f"generate it again (or leave this file out)") from None


def _json_attr(group: h5py.Group, key: str, default=None):
    raw = group.attrs.get(key)
    return default if raw is None else json.loads(raw)


class EpisodeFile:
    """Read-only view of an episode file (ours or robomimic's)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = open_h5(path)
        try:
            _check_layout(self.file, path)
        except Exception:
            self.file.close()
            raise
        data = self.file["data"]
        self.demos: List[str] = sorted(data.keys(), key=demo_index)
        self.env_args: dict = _json_attr(data, "env_args", {})
        self.settings: dict = settings_as_made(_json_attr(self.file, "generation", {}))
        self.keypoint_names: List[str] = _json_attr(self.file, "keypoint_names", [])
        self.cameras: Dict[str, dict] = _json_attr(self.file, "cameras", {})
        first = data[self.demos[0]] if self.demos else None
        # robomimic's raw files (states and actions only) have no obs group.
        obs_keys = list(first["obs"].keys()) if first is not None and "obs" in first else []
        self.views: List[str] = [k[: -len("_image")] for k in obs_keys if k.endswith("_image")]
        self.obs_keys = obs_keys

    def __enter__(self) -> "EpisodeFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.file.close()

    def digest(self) -> str:
        """What the demos are, without reading their arrays: how they were made (settings, env), which demos and
        how long each. A file made again in place with other settings or episodes digests otherwise, while the
        same settings make the same demos (generation is seeded), so a resumed training can tell. Cheap."""
        data = self.file["data"]
        made = {"generation": self.file.attrs.get("generation", ""), "env_args": self.env_args,
                "demos": [[n, int(data[n].attrs.get("num_samples", -1))] for n in self.demos]}
        return hashlib.sha256(json.dumps(made, sort_keys=True, default=str).encode()).hexdigest()

    def split(self, name: str) -> List[str]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        if "mask" not in self.file or name not in self.file["mask"]:
            return []
        return sorted((n.decode() if isinstance(n, bytes) else str(n) for n in self.file["mask"][name][()]),
                      key=demo_index)

    def demo(self, name: str) -> h5py.Group:
        if name not in self.file["data"]:
            raise KeyError(f"{self.path!r} has no demo {name!r}; it has {len(self.demos)} demos")
        return self.file["data"][name]

    def num_samples(self, name: str) -> int:
        group = self.demo(name)
        return int(group.attrs.get("num_samples", len(group["actions"])))

    def obs(self, name: str, key: str, index=slice(None)) -> np.ndarray:
        group = self.demo(name)
        obs = group["obs"] if "obs" in group else {}
        if key not in obs:
            raise KeyError(f"{self.path!r}: data/{name}/obs has no {key!r} (it has {sorted(obs.keys())})")
        return read_dataset(obs[key], self.path, index)

    def view_obs(self, name: str, view: str, kind: str, index=slice(None)) -> np.ndarray:
        """One view's observation, e.g. ``view_obs("demo_0", "cam0", "image")`` -> ``(T,H,W,3)`` uint8."""
        return self.obs(name, obs_key(view, kind), index)

    def has_keypoints(self, view: str) -> bool:
        """Whether the first demo has the view's keypoints (``has_view_obs`` checks one demo)."""
        return obs_key(view, "keypoints") in self.obs_keys

    def has_view_obs(self, name: str, view: str, kind: str) -> bool:
        group = self.demo(name)
        return "obs" in group and obs_key(view, kind) in group["obs"]

    def low_dim_obs(self, name: str, group_name: str = "obs") -> Dict[str, np.ndarray]:
        """The demo's observations that belong to no view (proprioception, object state); may be empty.
        ``group_name="next_obs"`` reads robomimic's next observations instead."""
        group = self.demo(name)
        obs = group[group_name] if group_name in group else {}
        return {k: read_dataset(obs[k], self.path, ()) for k in obs if not is_view_key(k)}

    def array(self, name: str, key: str) -> Optional[np.ndarray]:
        """``actions``, ``states``, ``rewards`` or ``dones`` of a demo; None where the file lacks it."""
        group = self.demo(name)
        return read_dataset(group[key], self.path, ()) if key in group else None

    def demo_attr(self, name: str, key: str, default=None):
        return self.demo(name).attrs.get(key, default)


# Room kept free beyond a demo's arrays for what HDF5 writes with them: chunk indexes and checksums,
# attributes (robosuite's model XML is ~0.1 MB), the split masks rewritten at each commit.
HDF5_RECORDS = 4 * 2**20


def temp_path_for(path: str) -> str:
    """A new, unique temp file beside ``path`` whose name records this process (see ``remove_stale_temps``)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                               suffix=".tmp")
    os.close(fd)
    return tmp


def temp_dir_for(path: str) -> str:
    """A new, unique temp folder beside ``path``, named like ``temp_path_for``'s files (for outputs that are folders)."""
    return tempfile.mkdtemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.{os.getpid()}.",
                            suffix=".tmp")


def remove_stale_temps(path: str) -> List[str]:
    """Delete temp files and folders of ``path`` left by writers that no longer run (a hard kill); returns them."""
    folder, name = os.path.dirname(path) or ".", os.path.basename(path)
    pattern = re.compile(rf"^\.{re.escape(name)}\.(\d+)\..*\.tmp$")
    removed = []
    for entry in os.listdir(folder):
        match = pattern.match(entry)
        if match and not _process_alive(int(match.group(1))):
            stale = os.path.join(folder, entry)
            shutil.rmtree(stale) if os.path.isdir(stale) else os.remove(stale)  # temp folders too
            removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def land(tmp: str, path: str) -> None:
    """Atomically put a finished temp file at ``path``, readable like any file the user makes."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def land_dir(tmp: str, path: str) -> None:
    """Put a finished temp folder at ``path`` by renames, replacing what is there: the old output is moved aside
    (under a temp name ``remove_stale_temps`` knows) before the new one moves in, so ``path`` never holds a
    half-written folder."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    old = f"{os.path.join(os.path.dirname(path) or '.', '.' + os.path.basename(path))}.{os.getpid()}.replaced.tmp"
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old) if os.path.isdir(old) and not os.path.islink(old) else os.remove(old)


def settings_as_made(settings: dict) -> dict:
    """A file's stored generation settings, with the keys added since at the values its making had: a rig
    stored without ``draws`` drew its cameras from the scene's numbers (``envs.cameras.RIG_DRAWS``)."""
    rig = settings.get("rig")
    if isinstance(rig, dict) and "draws" not in rig:
        return {**settings, "rig": {**rig, "draws": "scene"}}
    return settings


def settings_differences(existing: dict, asked: dict) -> str:
    """The settings that differ, as ``key: file has X, asked Y`` (empty when none do)."""
    differ = sorted(k for k in set(existing) | set(asked) if existing.get(k) != asked.get(k))
    return ", ".join(f"{k}: file has {existing.get(k)!r}, asked {asked.get(k)!r}" for k in differ)


def finished_output(path: str, settings: dict, mine: set, planned: set) -> Optional[set]:
    """The demo indices ``path`` holds where it is finished: made with ``settings``, holding every demo of ``mine``
    (this command's), and planned as ``planned`` (the whole job's) or made before plans were kept. None where the
    command has work to do: no file, other settings (the writer then refuses them, naming them), demos missing,
    or another plan (the writer rewrites it). Read once without taking the lock: safe beside a writer, which lands
    whole files by rename, so commands started together on a finished output need neither lock nor copy."""
    if not os.path.isfile(path):
        return None
    with EpisodeFile(path) as existing:
        if settings_differences(existing.settings, json.loads(json.dumps(settings))):
            return None
        held, plan = {demo_index(n) for n in existing.demos}, planned_demos(existing.file)
    return held if mine <= held and plan in (None, planned) else None


# Ctrl-C and SIGTERM stop a run as a KeyboardInterrupt. Raised in the middle of an HDF5 write or a commit, it
# can leave h5py's objects half made (a file closed but not reopened), and the cleanup that keeps the finished
# demos then fails ("Invalid identifier type"). Writes and commits hold these signals back until they end.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C and SIGTERM back for the block: each is noted, and its own handler runs when the block ends
    (raising the usual KeyboardInterrupt; a default SIGTERM still ends the process). Python runs signal handlers
    in the main thread whichever thread the signal reaches, so they are swapped, not masked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            handler = previous[received[0]]
            if callable(handler):
                handler(received[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), received[0])


class EpisodeWriter:
    """Append episodes to ``path`` through a temp file, resuming from what ``path`` already holds.

    ``settings`` describe how the episodes were made; an existing file made with other settings
    is refused rather than silently mixed. Finished demos survive Ctrl-C, SIGTERM and errors, and
    all but the last few survive SIGKILL (see ``commit_if_due``). The output is locked for the writer's
    life (a second writer is refused, naming the first's PID); a write the disk or folder refuses
    (full, read-only) keeps what was last committed and says so in one line.
    """

    def __init__(self, path: str, settings: dict, file_attrs: Dict[str, object],
                 commit_seconds: float = 120.0, image_compression: str = "lzf") -> None:
        self.path = os.path.abspath(path)
        self.settings = json.loads(json.dumps(settings))  # as it will read back (tuples become lists)
        self.file_attrs = file_attrs
        self.commit_seconds = commit_seconds
        self.compression = image_compression
        self.done: set = set()
        self._tmp: Optional[str] = None
        self._file: Optional[h5py.File] = None
        self._commit_cost = 0.0
        self._added = 0  # demos this writer added (a run that added none and failed lands nothing)
        self._lock = contextlib.ExitStack()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "EpisodeWriter":
        if os.path.isdir(self.path):
            raise ValueError(f"the output {self.path} is a folder; name a file in it, e.g. "
                             f"{os.path.join(self.path, 'demos.hdf5')}")
        self._lock.enter_context(exclusive_output(self.path))  # before anything is written, stale temps included
        try:
            with self._write_errors():
                remove_stale_temps(self.path)
                self._tmp = temp_path_for(self.path)
                if os.path.exists(self.path):
                    with EpisodeFile(self.path) as existing:
                        self._check_settings(existing.settings)
                        self.done = {demo_index(n) for n in existing.demos}
                    shutil.copyfile(self.path, self._tmp)
                    self._file = h5py.File(self._tmp, "a")
                else:
                    self._file = h5py.File(self._tmp, "w")
                    self._file.create_group("data")
        except BaseException:
            self._abandon()  # refused or unreadable output: leave nothing behind
            raise
        self._last_commit = time.monotonic()
        return self

    def _check_settings(self, existing: dict) -> None:
        detail = settings_differences(existing, self.settings)
        if detail:
            raise ValueError(
                f"{self.path!r} was written with other settings ({detail}); "
                f"use the same settings to resume, or choose another output path"
            )

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._tmp is None:  # discarded
            return
        if exc_type is not None and not self._added:  # e.g. refused settings: no empty file is left behind
            self.discard()
            return
        try:
            with interrupts_deferred(), self._write_errors():
                self._finalize()
                land(self._tmp, self.path)
        finally:
            self._abandon()

    def discard(self) -> None:
        """Leave ``path`` as it was (nothing of this writer lands), e.g. when a merge input is bad."""
        self._abandon()

    def _abandon(self) -> None:
        """Close and delete the temp file (whatever state it is in) and release the output."""
        if self._file:  # an h5py file is falsy once closed
            with contextlib.suppress(Exception):  # after a failed write HDF5 may refuse to flush
                self._file.close()
        if self._tmp and os.path.exists(self._tmp):
            os.remove(self._tmp)
        self._tmp = None
        self._lock.close()

    @contextlib.contextmanager
    def _write_errors(self):
        """A write the disk or folder refuses (full, read-only) abandons the temp file, whose state is then
        unknown, and is raised as one line naming the output and what it still holds."""
        try:
            yield
        except (OSError, RuntimeError) as err:  # HDF5 reports some failed writes as RuntimeError
            if isinstance(err, OutputNotWritable) or not is_write_error(err):
                raise
            self._abandon()
            kept = 0
            if os.path.exists(self.path):
                with EpisodeFile(self.path) as committed:
                    kept = len(committed.demos)
            raise not_writable(self.path, err, self._kept(kept)) from None

    def _kept(self, demos: int) -> str:
        return f" (it keeps the {demos} demos finished before; the same command resumes)" if demos else ""

    def _check_space(self, nbytes: int) -> None:
        """Stop, keeping every finished demo, before a write of ``nbytes`` that the disk may not hold (with
        ``HDF5_RECORDS`` more). HDF5 1.14 reports a full disk late, when it frees its objects, and may then crash
        the process (generation ended in a segfault): so it must never meet one. Another process filling the
        disk at the same time can still bring that about."""
        if shutil.disk_usage(os.path.dirname(self.path)).free < nbytes + HDF5_RECORDS:
            raise not_writable(self.path, OSError(errno.ENOSPC, "No space left on device"), self._kept(len(self.done)))

    def _finalize(self) -> None:
        f = self._file
        f.attrs["format"] = FORMAT
        f.attrs["generation"] = json.dumps(self.settings, sort_keys=True)
        for key, value in self.file_attrs.items():
            f.attrs[key] = value if isinstance(value, (str, bytes)) else json.dumps(value)
        names = sorted(f["data"].keys(), key=demo_index)
        f["data"].attrs["total"] = int(sum(f["data"][n].attrs["num_samples"] for n in names))
        if "mask" in f:
            del f["mask"]
        for split in SPLITS:
            members = [n for n in names if split_of(demo_index(n)) == split]
            f.create_dataset(f"mask/{split}", data=np.array(members, dtype="S"))
        f.close()

    def commit_if_due(self) -> None:
        """Land what is written so far. A commit copies the file, so it is due once ten times its last
        cost has passed (after every demo while the file is small), and at most ``commit_seconds``
        apart: a hard kill loses only the demos since then, and committing costs about 10% or less."""
        if time.monotonic() - self._last_commit < min(self.commit_seconds, 10 * self._commit_cost):
            return
        start = time.monotonic()
        with interrupts_deferred(), self._write_errors():
            self._finalize()
            land(self._tmp, self.path)
            self._tmp = None
            try:
                self._check_space(os.path.getsize(self.path))  # for the copy that goes on writing
            except OutputNotWritable:
                self._abandon()  # everything is landed: only the lock is left to release
                raise
            self._tmp = temp_path_for(self.path)
            shutil.copyfile(self.path, self._tmp)
            self._file = h5py.File(self._tmp, "a")
        self._last_commit = time.monotonic()
        self._commit_cost = self._last_commit - start

    # -- writing -------------------------------------------------------------------------------
    def set_env_args(self, env_args: str) -> None:
        """robomimic's ``data.attrs["env_args"]`` (JSON)."""
        self._file["data"].attrs["env_args"] = env_args

    def copy_demo(self, source: h5py.Group, name: Optional[str] = None) -> None:
        """Copy a finished demo group from another episode file, under its own name or ``name``."""
        name = name or source.name.rsplit("/", 1)[-1]
        stored = []
        source.visititems(lambda _, obj: stored.append(obj.id.get_storage_size())
                          if isinstance(obj, h5py.Dataset) and not obj.is_virtual else None)
        self._check_space(sum(stored) + len(source.attrs.get("model_file", "")))
        with interrupts_deferred(), self._write_errors():
            source.file.copy(source, self._file["data"], name=name)
            link_next_obs(self._file["data"][name])  # copied links still name the source's paths
        self.done.add(demo_index(name))
        self._added += 1

    def add(self, index: int, episode: Episode) -> None:
        name = demo_name(index)
        data = self._file["data"]
        if name in data:
            raise ValueError(f"{name} is already in {self.path!r}")
        arrays = [episode.actions, episode.states, episode.rewards, episode.dones, *episode.obs.values(),
                  *episode.next_obs.values()]
        # uncompressed: the most it can take (lzf stores a chunk raw when compressing does not help)
        self._check_space(sum(np.asarray(a).nbytes for a in arrays) + len(episode.model_file or ""))
        with interrupts_deferred(), self._write_errors():
            try:
                self._write_demo(data.create_group(name), episode)
                self._file.flush()  # a write the disk refused raises here, not later when HDF5 frees it
            except BaseException:
                try:
                    del data[name]  # never leave half a demo behind
                except Exception:  # the file refuses even that (a full disk): keep only what was committed
                    self._abandon()
                raise
        self.done.add(index)
        self._added += 1
        if episode.cameras and "cameras" not in self.file_attrs:  # intrinsics and sizes are fixed per view
            self.file_attrs["cameras"] = {v: {k: c[k] for k in ("intrinsics", "image_size", "fovy")}
                                          for v, c in episode.cameras.items()}
        self.commit_if_due()

    def _write_demo(self, group: h5py.Group, ep: Episode) -> None:
        group.attrs["num_samples"] = ep.num_samples
        group.attrs["seed"] = int(ep.seed)
        group.attrs["success"] = bool(ep.success)
        if ep.cameras:
            group.attrs["cameras"] = json.dumps(ep.cameras)
        if ep.model_file is not None:
            group.attrs["model_file"] = ep.model_file
        for key in ("actions", "states", "rewards", "dones"):
            group.create_dataset(key, data=getattr(ep, key))
        obs = group.create_group("obs")
        for key, value in ep.obs.items():
            if value.ndim >= 3 and key.endswith(("_image", "_robot_mask", "_object_mask")):
                # fletcher32: a checksum per chunk, so a corrupt chunk fails when read rather than decoding
                # to wrong pixels (costs nothing measurable next to rendering)
                obs.create_dataset(key, data=value, chunks=(1,) + value.shape[1:], compression=self.compression,
                                   fletcher32=True)
            else:
                obs.create_dataset(key, data=value)
        next_obs = group.create_group("next_obs")
        for key, value in ep.next_obs.items():
            next_obs.create_dataset(key, data=value)
        link_next_obs(group)


def link_next_obs(demo: h5py.Group) -> None:
    """robomimic's ``next_obs/<key>`` for every per-frame array of ``obs/`` (images, masks) that ``next_obs``
    lacks, as an HDF5 virtual dataset over ``obs/<key>`` shifted by one step: no pixel is stored twice.
    ``next_obs[t] = obs[t + 1]``, and the last step repeats ``obs[T - 1]`` (no frame is rendered after the
    final action; its ``done`` is 1, so offline RL masks it), as the low-dim keys do. Existing links are
    rebuilt, since a link names its source by path and a copied or renamed demo has a new one."""
    if "obs" not in demo:  # robomimic's raw files: states and actions only
        return
    obs, next_obs = demo["obs"], demo.require_group("next_obs")
    for key in list(next_obs):
        if next_obs[key].is_virtual:
            del next_obs[key]
    for key, source in obs.items():
        if key in next_obs or source.ndim < 3 or len(source) == 0:
            continue
        steps = len(source)
        layout = h5py.VirtualLayout(shape=source.shape, dtype=source.dtype)
        whole = h5py.VirtualSource(".", source.name, shape=source.shape)  # "." is this same file
        layout[: steps - 1] = whole[1:]
        layout[steps - 1] = whole[steps - 1]
        next_obs.create_virtual_dataset(key, layout)


def _unsharded(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in ("shard", "num_shards")}


def check_readable(demo: h5py.Group, path: str) -> None:
    """Read every stored dataset of ``demo`` (checksums are verified where the file has them): a corrupt chunk
    is named here, before a copy of it lands anywhere (HDF5 copies chunks without decoding them)."""
    datasets = []
    demo.visititems(lambda _, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) and not obj.is_virtual
                    else None)
    for dataset in datasets:
        read_dataset(dataset, path, ())


PLANNED = "planned_demos"  # file attribute: the episode indices the whole job (every shard) was asked to make


def index_ranges(indices: Iterable[int]) -> List[List[int]]:
    """Episode indices as ``[start, stop)`` ranges: a plan of any size stays a small attribute."""
    ranges: List[List[int]] = []
    for i in sorted(set(indices)):
        if ranges and ranges[-1][1] == i:
            ranges[-1][1] = i + 1
        else:
            ranges.append([i, i + 1])
    return ranges


def planned_demos(file: h5py.File) -> Optional[set]:
    """The episode indices the job that wrote ``file`` was asked to make, in every shard (None for files made
    before plans were kept, and robomimic's)."""
    value = file.attrs.get(PLANNED)
    return None if value is None else {i for start, stop in json.loads(value) for i in range(start, stop)}


def check_every_shard(made: Sequence[tuple]) -> None:
    """Refuse a merge that would come out short, silently: a demo the inputs' jobs were asked to make that no
    input holds (a shard missing, stopped before it finished, or still to run). Files made before plans were
    kept are checked by their shard numbers only. ``made``: ``(settings, planned, held indices)`` per input."""
    planned, held, unplanned = set(), set(), {}
    for settings, plan, indices in made:
        held |= indices
        if plan is not None:
            planned |= plan
        elif settings.get("num_shards", 1) > 1:
            unplanned.setdefault(settings["num_shards"], set()).add(settings["shard"])
    missing = sorted(planned - held)
    if missing:
        arrays = sorted({s["num_shards"] for s, plan, _ in made if plan is not None and s.get("num_shards", 1) > 1})
        which = "; ".join(f"shard {', '.join(map(str, sorted({i % n for i in missing})))} of num_shards={n}"
                          for n in arrays)
        shown = ", ".join(demo_name(i) for i in missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise ValueError(f"{len(missing)} of the {len(planned)} demos the inputs' jobs were asked to make are in "
                         f"none of them ({shown}{'; ' + which if which else ''}): a shard is missing, was stopped "
                         f"before it finished or is still to run; give every shard's file, run the unfinished "
                         f"ones again (they resume), or merge what there is with partial=true")
    for num_shards, shards in sorted(unplanned.items()):
        absent = sorted(set(range(num_shards)) - shards)
        if absent:
            raise ValueError(f"shard {', '.join(map(str, absent))} of num_shards={num_shards} is not among the "
                             f"inputs: give every shard's file, or merge what there is with partial=true")


def merge_files(inputs: Sequence[str], out: str, partial: bool = False) -> int:
    """Merge episode files of one env into ``out``; returns the number of demos it holds.

    Files made by ``envs.generate`` or ``envs.rerender`` (shards) must share their settings, and all be there,
    each holding every demo it was asked to make (``partial=True`` merges what there is); a shard still being
    written is refused, and no writer may start on an input during the merge. Their demos are named by episode
    index, so a demo two inputs hold is refused (overlapping shards), and one ``out`` already holds is kept
    (a merge resumes). Other files (robomimic's) must share ``env_args`` env_name and make a new ``out``;
    their demos are renumbered in input order when two inputs share a name. Every input and every dataset
    is read before ``out`` lands: nothing is written unless all of it is readable.
    """
    if not inputs:
        raise ValueError("merge needs at least one input file")
    if os.path.abspath(out) in map(os.path.abspath, inputs):
        raise ValueError(f"out={out!r} is also an input; merge into a new file")
    with contextlib.ExitStack() as unwritten:
        for path in inputs:
            unwritten.enter_context(unwritten_input(path))
        return _merge(inputs, out, partial)


def _merge(inputs: Sequence[str], out: str, partial: bool) -> int:
    with EpisodeFile(inputs[0]) as first:
        settings = _unsharded(first.settings)
        attrs = {k: v for k, v in first.file.attrs.items() if k not in ("format", "generation", PLANNED)}
    env_args, env_of, env_name = "{}", None, None  # of the first input with demos (a shard given none has none)
    holder: Dict[str, str] = {}  # demo name -> the first input that holds it
    made = []  # (settings, planned, held indices) of each input
    renumber = False
    for path in inputs:  # every input is checked before anything is written
        with EpisodeFile(path) as shard:
            differ = settings_differences(settings, _unsharded(shard.settings))
            if differ:
                raise ValueError(f"{path!r} was generated with other settings than {inputs[0]!r} ({differ}); "
                                 f"cannot merge")
            if shard.demos and env_of is None:
                env_args, env_of, env_name = shard.file["data"].attrs.get("env_args", "{}"), path, \
                    shard.env_args.get("env_name")
            elif shard.demos and shard.env_args.get("env_name") != env_name:
                raise ValueError(f"{path!r} holds {shard.env_args.get('env_name')!r} demos and {env_of!r} "
                                 f"{env_name!r} (env_args env_name); files of different envs cannot be merged")
            made.append((shard.settings, planned_demos(shard.file), {demo_index(n) for n in shard.demos}))
            for name in shard.demos:
                if name in holder and settings:
                    raise ValueError(f"data/{name} is in both {holder[name]!r} and {path!r}: generated demos are "
                                     f"named by episode index, so these inputs overlap; give each shard once")
                renumber |= name in holder
                holder.setdefault(name, path)
    if settings and not partial:
        check_every_shard(made)
    plans = [plan for _, plan, _ in made if plan is not None]
    if plans:  # kept, so that a partial merge merged later with the rest is checked in turn
        attrs[PLANNED] = json.dumps(index_ranges(set().union(*plans)))
    if not settings and os.path.exists(out):
        raise ValueError(f"{out!r} exists; files without generation settings (robomimic's) are merged into a new "
                         f"file: choose another out or delete it")
    # the merge of a job's shards is the whole job: stored as the same command run unsharded stores it, so that
    # command finds it finished (or resumes it) rather than refusing it
    whole = {**settings, "shard": 0, "num_shards": 1} if settings else settings
    with EpisodeWriter(out, whole, attrs, commit_seconds=float("inf")) as writer:
        try:
            writer.set_env_args(env_args)
            count = 0
            for path in inputs:
                with EpisodeFile(path) as shard:
                    for name in shard.demos:
                        target = demo_name(count) if renumber else name
                        count += 1
                        if demo_index(target) in writer.done:  # already in out (same settings): a resumed merge
                            continue
                        check_readable(shard.demo(name), path)
                        writer.copy_demo(shard.demo(name), target)
        except BaseException:
            writer.discard()
            raise
        return len(writer.done)


def shard_path(out: str, shard: int, num_shards: int) -> str:
    """Where shard ``shard`` of ``num_shards`` writes ``out``: ``<stem>.shard<i>-of-<n>.hdf5``."""
    if num_shards == 1:
        return out
    stem, ext = os.path.splitext(out)
    return f"{stem}.shard{shard:03d}-of-{num_shards:03d}{ext or '.hdf5'}"


def iter_demo_indices(done: Iterable[int], episodes: int, shard: int, num_shards: int) -> List[int]:
    """Episode indices this shard still has to make."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in 0..num_shards-1 with num_shards >= 1, "
                         f"got shard={shard} num_shards={num_shards}")
    done = set(done)
    return [i for i in range(episodes) if i % num_shards == shard and i not in done]


class ObservationWriter:
    """Adds observations to a copy of an episode file; ``out`` appears only once every write succeeded.

    ``with ObservationWriter(src, out, attrs) as w: w.put("demo_0", obs_key("cam0", "embedding"), emb)``
    """

    def __init__(self, source: str, out: str, file_attrs: Optional[Dict[str, object]] = None) -> None:
        if os.path.abspath(source) == os.path.abspath(out):
            raise ValueError("out must differ from the input: observations are added to a new file")
        self.source, self.out = source, os.path.abspath(out)
        self.file_attrs = dict(file_attrs or {})
        self._tmp: Optional[str] = None
        self._file: Optional[h5py.File] = None

    def __enter__(self) -> "ObservationWriter":
        EpisodeFile(self.source).close()  # a clear error for a missing, corrupt or foreign input
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        self._tmp = temp_path_for(self.out)
        shutil.copyfile(self.source, self._tmp)
        self._file = h5py.File(self._tmp, "a")
        return self

    def put(self, demo: str, key: str, value: np.ndarray) -> None:
        """``obs/<key>`` and robomimic's ``next_obs/<key>``: the next step's value, the last step's repeated
        (no frame is rendered after the final action; its ``done`` is 1, so offline RL masks it)."""
        group = self._file["data"][demo]
        for name, data in (("obs", value), ("next_obs", np.concatenate([value[1:], value[-1:]]))):
            obs = group.require_group(name)
            if key in obs:
                del obs[key]
            obs.create_dataset(key, data=data)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                for key, value in self.file_attrs.items():
                    self._file.attrs[key] = value if isinstance(value, (str, bytes)) else json.dumps(value)
            self._file.close()
            if exc_type is None:
                land(self._tmp, self.out)
        finally:
            if os.path.exists(self._tmp):
                os.remove(self._tmp)
