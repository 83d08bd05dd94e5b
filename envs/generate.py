"""Generate multi-view demonstrations: ``python -m envs.generate env=lift episodes=50 out=data/lift.hdf5``."""
from __future__ import annotations

import json
import os
import shutil
import time
from typing import Dict, Optional, Tuple

import hydra
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from .cameras import RigConfig
from .commands import demos_in, one_line_reports, shard_output, sigterm_as_interrupt, whole_number
from .dataset_io import (PLANNED, Episode, EpisodeWriter, demo_name, finished_output, index_ranges,
                         iter_demo_indices, shard_path)
from .output_lock import OutputNotWritable
from .recorder import episode_seed, planned_views, record_episode, rig_for
from .registry import simulator_class, simulator_options
from .simulator import check_render_quality
from .workers import WorkerDied, WorkerPool

_worker: dict = {}


def available_cores() -> int:
    """Cores this process may use (the default number of workers: one simulator per core)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_memory() -> Optional[int]:
    """Bytes the kernel reports as available (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def recording_bytes(sim_cls, views: int, image_size: int) -> int:
    """What the longest episode's frames take while recorded: per step and view an RGB uint8 image and the robot
    and object bool masks."""
    return sim_cls.max_steps * views * image_size * image_size * 5


def check_memory(sim_cls, views: int, image_size: int, workers: int) -> None:
    """Refuse, with the numbers, settings whose episodes cannot be held in memory while recording
    (each worker holds its longest episode's images and masks, and the parent receives a copy)."""
    per_episode = recording_bytes(sim_cls, views, image_size)
    needed, available = per_episode * (workers + 1), available_memory()
    if available is not None and needed > 0.8 * available:
        raise ValueError(f"image_size={image_size} with {views} views needs up to {needed / 2**30:.1f} GiB to record "
                         f"({per_episode / 2**30:.1f} GiB per {sim_cls.max_steps}-step episode, {workers} workers), "
                         f"but {available / 2**30:.1f} GiB is available; use a smaller image_size, fewer views or "
                         f"fewer num_workers")


# Stored bytes per rendered RGB byte (images, masks, low-dim and all), measured on whole files: 0.17 (Pick
# 96 px) to 0.53 (Lift 32 px; small frames compress less, and episodes end before max_steps). The disk
# check takes the low end, so it refuses only runs that cannot fit; the writer stops before a demo the disk
# cannot hold, keeping every finished one.
STORED_FRACTION = 0.15


def check_disk_space(path: str, sim_cls, views: int, image_size: int, episodes: int) -> None:
    """Refuse, with the numbers, ``episodes`` more demos that cannot fit on ``path``'s disk. A commit copies
    the file beside itself, so the file's size is needed once more."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):  # the output's folder is made later; its disk is the nearest parent's
        folder = os.path.dirname(folder)
    existing = os.path.getsize(path) if os.path.isfile(path) else 0
    new = episodes * sim_cls.max_steps * views * image_size * image_size * 3 * STORED_FRACTION
    needed, free = existing + 2 * new, shutil.disk_usage(folder).free
    if needed > free:
        raise OutputNotWritable(f"{episodes} demos at image_size={image_size} with {views} views need at least "
                                f"{needed / 2**20:.0f} MiB on the disk of {folder}, which has {free / 2**20:.0f} MiB "
                                f"free; free some space, choose an output on another disk, or make fewer episodes")


def _start_simulator(env: str, backend: str, options: dict) -> None:
    _worker["sim"] = simulator_class(env, backend)(**options)


def _run(job: Tuple[int, int, dict, int, bool, bool]) -> Tuple[int, Episode, str]:
    index, seed, rig, size, first_person, store_views = job
    sim = _worker["sim"]
    episode = record_episode(sim, RigConfig(**rig), seed, size, first_person, store_views)
    return index, episode, json.dumps(sim.env_args(), default=str)


def generation_settings(env: str, image_size: int = 128, num_views: Optional[int] = None, first_person: bool = True,
                        seed: int = 0, shard: int = 0, num_shards: int = 1, renderer: str = "tiny",
                        render: str = "fast", backend: str = "voxel", rig_overrides: Optional[dict] = None,
                        store_views: bool = True) -> dict:
    """The settings a file is generated with (stored in it; resume and merge compare them)."""
    whole_number("image_size", image_size, 8)
    whole_number("seed", seed)
    whole_number("num_shards", num_shards, 1)
    if not whole_number("shard", shard) < num_shards:
        raise ValueError(f"shard must be in 0..num_shards-1 (num_shards={num_shards}), got shard={shard}")
    if num_views is not None:
        whole_number("num_views", num_views, 1)
    rig = rig_for(simulator_class(env, backend), num_views=num_views, **(rig_overrides or {}))
    return {
        "env": env, "image_size": image_size, "num_views": rig.num_views, "first_person": bool(first_person),
        "seed": seed, "rig": rig.to_json(), "shard": shard, "num_shards": num_shards, "store_views": store_views,
        **simulator_options(env, renderer, check_render_quality(render)),
        **({"backend": backend} if env == "minecraft" else {}),
    }


def generate_dataset(
    env: str,
    out: str,
    episodes: int = 50,
    image_size: int = 128,
    num_views: Optional[int] = None,
    first_person: bool = True,
    seed: int = 0,
    num_workers: Optional[int] = None,
    shard: int = 0,
    num_shards: int = 1,
    renderer: str = "tiny",
    render: str = "fast",
    backend: str = "voxel",
    rig_overrides: Optional[dict] = None,
    commit_seconds: float = 120.0,
    progress: bool = True,
    store_views: bool = True,
) -> Dict[str, float]:
    """Generate (or resume) ``episodes`` demos into ``out``; returns a summary.

    ``store_views=False`` writes robomimic's original layout (states, actions, low-dim obs and
    ``model_file``; no images, keypoints or masks), e.g. as input for ``envs.rerender``.
    """
    sim_cls = simulator_class(env, backend)
    whole_number("episodes", episodes, 1)
    num_workers = whole_number("num_workers", num_workers, 1) if num_workers is not None else available_cores()
    settings = generation_settings(env, image_size, num_views, first_person, seed, shard, num_shards, renderer,
                                   render, backend, rig_overrides, store_views)
    rig = RigConfig(**settings["rig"])
    options = simulator_options(env, renderer, render)
    views = planned_views(sim_cls, rig, first_person, store_views)
    check_memory(sim_cls, len(views), image_size, num_workers)
    path = shard_path(out, shard, num_shards)
    file_attrs = {
        "keypoint_names": list(sim_cls.keypoint_names),
        "views": views,
    }
    if sim_cls.keypoints_note:
        file_attrs["keypoints_note"] = sim_cls.keypoints_note
    wanted = len(iter_demo_indices((), episodes, shard, num_shards))
    file_attrs[PLANNED] = index_ranges(range(episodes))  # the whole job's, which a merge checks it holds
    if finished_output(path, settings, set(iter_demo_indices((), episodes, shard, num_shards)),
                       set(range(episodes))) is not None:
        return summary_of(path, 0, 0, 0, 0.0, wanted)  # finished (read unlocked): grids started together stop here
    start = time.time()
    successes = frames = made = 0
    try:
        with sigterm_as_interrupt(), EpisodeWriter(path, settings, file_attrs, commit_seconds=commit_seconds) as writer:
            todo = iter_demo_indices(writer.done, episodes, shard, num_shards)
            skipped = wanted - len(todo)
            check_disk_space(path, sim_cls, len(views), image_size, len(todo))
            jobs = [(i, episode_seed(seed, i), rig.to_json(), image_size, first_person, store_views) for i in todo]
            num_workers = min(num_workers, max(1, len(jobs)))
            bar = tqdm(total=len(jobs), desc=f"{env} demos", unit="demo", disable=not progress)
            pool = None
            if not jobs:  # a finished file: no simulator to start
                results = iter(())
            elif num_workers <= 1:
                _start_simulator(env, backend, options)
                results = map(_run, jobs)
            else:
                pool = WorkerPool(num_workers, _start_simulator, (env, backend, options), _run)
                results = pool.imap_unordered(jobs, describe=lambda job: demo_name(job[0]))
            try:
                for index, episode, env_args in results:
                    writer.set_env_args(env_args)
                    writer.add(index, episode)
                    successes += episode.success
                    frames += episode.num_samples
                    made += 1
                    bar.set_postfix(success=f"{successes}/{made}")
                    bar.update()
            finally:
                bar.close()
                if pool is not None:
                    pool.close()
                elif jobs:
                    _worker.pop("sim").close()
    except WorkerDied as err:  # raised once the writer has landed every finished demo
        raise WorkerDied(f"{err}; {path} keeps the {demos_in(path)} demos finished so far: run the same command "
                         f"again to resume") from None
    return summary_of(path, made, successes, frames, time.time() - start, skipped)


def summary_of(path: str, made: int, successes: int, frames: int, seconds: float, skipped: int) -> Dict[str, float]:
    return {"path": path, "episodes": made, "success_rate": successes / made if made else float("nan"),
            "frames": frames, "seconds": seconds, "skipped_existing": skipped}


def print_summary(summary: Dict[str, float]) -> None:
    if not summary["episodes"]:
        print(f"nothing to generate: {summary['path']} already holds its {summary['skipped_existing']} demos")
        return
    print(
        f"wrote {summary['path']}: {summary['episodes']} new episodes, "
        f"success rate {summary['success_rate']:.0%}, {summary['frames']} frames, {summary['seconds']:.1f} s"
    )


@hydra.main(config_path="pkg://configs", config_name="generate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    if cfg.env.name == "mocap":  # a video folder in the Smarthome layout, not an HDF5 file
        from .mocap import MocapConfig, generate_mocap

        with one_line_reports():
            size = whole_number("image_size", cfg.image_size, 8)
            summary = generate_mocap(cfg.out, MocapConfig(
                num_cameras=cfg.num_views or 4, videos_per_class=cfg.episodes, seed=cfg.seed,
                image_size=(size, size * 4 // 3)))
        print(f"wrote {summary['videos']} videos ({summary['classes']} classes x "
              f"{summary['cameras']} cameras) to {cfg.out}")
        return
    with one_line_reports(shard_output(cfg.out, cfg.shard, cfg.num_shards)):
        summary = generate_dataset(
            env=cfg.env.name, out=cfg.out, episodes=cfg.episodes, image_size=cfg.image_size,
            num_views=cfg.num_views, first_person=cfg.first_person, seed=cfg.seed, num_workers=cfg.num_workers,
            shard=cfg.shard, num_shards=cfg.num_shards, renderer=cfg.renderer, render=cfg.render,
            backend=cfg.backend, rig_overrides=OmegaConf.to_container(cfg.rig), commit_seconds=cfg.commit_seconds,
            store_views=cfg.store_views,
        )
    print_summary(summary)


if __name__ == "__main__":
    main()
