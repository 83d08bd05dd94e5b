"""Generate multi-view demonstrations: ``python -m envs.generate env=lift episodes=50 out=data/lift.hdf5``."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Dict, Optional, Tuple

import hydra
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from .dataset_io import Episode, EpisodeFile, EpisodeWriter, iter_demo_indices, shard_path
from .cameras import RigConfig
from .recorder import episode_seed, planned_views, record_episode, rig_for
from .registry import simulator_class, simulator_options
from .simulator import check_render_quality

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


def check_memory(sim_cls, views: int, image_size: int, workers: int) -> None:
    """Refuse, with the numbers, settings whose episodes cannot be held in memory while recording
    (each worker holds its longest episode's images and masks, and the parent receives a copy)."""
    per_episode = sim_cls.max_steps * views * image_size * image_size * 4  # RGB uint8 + bool mask
    needed, available = per_episode * (workers + 1), available_memory()
    if available is not None and needed > 0.8 * available:
        raise ValueError(f"image_size={image_size} with {views} views needs up to {needed / 2**30:.1f} GiB to record "
                         f"({per_episode / 2**30:.1f} GiB per {sim_cls.max_steps}-step episode, {workers} workers), "
                         f"but {available / 2**30:.1f} GiB is available; use a smaller image_size, fewer views or "
                         f"fewer num_workers")


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (sent by ``timeout`` and job schedulers) stops generation as Ctrl-C does: every finished
    demo lands in the output."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_simulator(env: str, backend: str, options: dict) -> None:
    _worker["sim"] = simulator_class(env, backend)(**options)


def _init_pool_worker(env: str, backend: str, options: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the pool
    _start_simulator(env, backend, options)


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
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8 pixels, got {image_size}")
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
    num_workers = num_workers or available_cores()
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
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
    start = time.time()
    successes = frames = made = 0
    with sigterm_as_interrupt(), EpisodeWriter(path, settings, file_attrs, commit_seconds=commit_seconds) as writer:
        todo = iter_demo_indices(writer.done, episodes, shard, num_shards)
        skipped = len(iter_demo_indices((), episodes, shard, num_shards)) - len(todo)
        jobs = [(i, episode_seed(seed, i), rig.to_json(), image_size, first_person, store_views) for i in todo]
        num_workers = min(num_workers, max(1, len(jobs)))
        bar = tqdm(total=len(jobs), desc=f"{env} demos", unit="demo", disable=not progress)
        options = simulator_options(env, renderer, render)
        if not jobs:  # a finished file: no simulator to start
            results = iter(())
        elif num_workers <= 1:
            _start_simulator(env, backend, options)
            results = map(_run, jobs)
        else:
            pool = mp.get_context("spawn").Pool(num_workers, _init_pool_worker, (env, backend, options))
            results = pool.imap_unordered(_run, jobs)
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
            if num_workers > 1:
                pool.terminate()
            elif jobs:
                _worker.pop("sim").close()
    seconds = time.time() - start
    summary = {"path": path, "episodes": made, "success_rate": successes / made if made else float("nan"),
               "frames": frames, "seconds": seconds, "skipped_existing": skipped}
    return summary


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

        size = cfg.image_size
        summary = generate_mocap(cfg.out, MocapConfig(
            num_cameras=cfg.num_views or 4, videos_per_class=cfg.episodes, seed=cfg.seed,
            image_size=(size, size * 4 // 3)))
        print(f"wrote {summary['videos']} videos ({summary['classes']} classes x "
              f"{summary['cameras']} cameras) to {cfg.out}")
        return
    try:
        summary = generate_dataset(
            env=cfg.env.name, out=cfg.out, episodes=cfg.episodes, image_size=cfg.image_size,
            num_views=cfg.num_views, first_person=cfg.first_person, seed=cfg.seed, num_workers=cfg.num_workers,
            shard=cfg.shard, num_shards=cfg.num_shards, renderer=cfg.renderer, render=cfg.render,
            backend=cfg.backend, rig_overrides=OmegaConf.to_container(cfg.rig), commit_seconds=cfg.commit_seconds,
            store_views=cfg.store_views,
        )
    except KeyboardInterrupt:
        path = shard_path(cfg.out, cfg.shard, cfg.num_shards)
        kept = 0
        if os.path.exists(path):
            with EpisodeFile(path) as f:
                kept = len(f.demos)
        print(f"\nstopped: kept {kept} demos in {path}; run the same command again to finish", file=sys.stderr)
        sys.exit(130)
    print_summary(summary)


if __name__ == "__main__":
    main()
