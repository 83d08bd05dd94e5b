"""Re-render an existing robomimic dataset from a camera rig by replaying its ``states``.

``python -m envs.rerender input=lift_mh.hdf5 out=data/lift_mh_views.hdf5 num_views=8``
(``shard=i num_shards=n``: this job's share of the demos, into ``<out>.shard<i>-of-<n>.hdf5``; join with ``envs.merge``)

The input is only read; it may be robomimic's raw layout (``states``, ``actions`` and ``model_file``,
no ``obs``). Each demo's scene is rebuilt first (``Simulator.restore_scene``: robosuite from its
``model_file``, pybullet envs from the episode's seed), so re-rendering an ``envs.generate`` file
with its own settings reproduces its images. Settings left unset are taken from the input's
generation settings where it has them.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from .cameras import make_rig
from .commands import one_line_reports, shard_output, sigterm_as_interrupt, whole_number
from .dataset_io import (PLANNED, Episode, EpisodeFile, EpisodeWriter, demo_index, finished_output, index_ranges,
                         iter_demo_indices, shard_path)
from .recorder import (cameras_of, episode_seed, next_observations, observe, planned_views, rig_for, stack,
                       terminal_dones, views_now)
from .registry import ROBOMIMIC_ENV_NAMES, make_simulator, simulator_options

DEFAULTS = {"image_size": 128, "first_person": True, "seed": 0}


def rerender_dataset(input: str, out: str, num_views: Optional[int] = None, image_size: Optional[int] = None,
                     first_person: Optional[bool] = None, seed: Optional[int] = None,
                     rig_overrides: Optional[dict] = None, render: Optional[str] = None,
                     progress: bool = True, shard: int = 0, num_shards: int = 1,
                     masks: bool = True) -> Dict[str, float]:
    """Re-render ``input``'s demos (this shard's share) into ``out``, resuming what ``out`` holds; SIGTERM and
    Ctrl-C keep every finished demo. ``masks=False`` leaves out the robot and object masks (a render pass of
    their own, read only by alignment training, not by policies). Returns the output path and the frames
    rendered."""
    if os.path.abspath(input) == os.path.abspath(out):
        raise ValueError("out must differ from input: re-rendering never touches the input file")
    for name, value, minimum in (("image_size", image_size, 8), ("num_views", num_views, 1), ("seed", seed, 0),
                                 ("shard", shard, 0), ("num_shards", num_shards, 1)):
        if value is not None:
            whole_number(name, value, minimum)
    with EpisodeFile(input) as src:
        source_env = src.env_args.get("env_name")
        if source_env not in ROBOMIMIC_ENV_NAMES:
            raise ValueError(
                f"{input!r} has env_args env_name {source_env!r}; re-rendering supports "
                f"{', '.join(sorted(ROBOMIMIC_ENV_NAMES))}"
            )
        env = ROBOMIMIC_ENV_NAMES[source_env]
        made = src.settings  # envs.generate's settings; empty for other files
        asked = {"image_size": image_size, "first_person": first_person, "seed": seed}
        image_size, first_person, seed = (v if v is not None else made.get(k, DEFAULTS[k]) for k, v in asked.items())
        sim_kwargs = simulator_options(env, made.get("renderer", "tiny"), render or made.get("render", "fast"))
        sim = make_simulator(env, made.get("backend", "voxel"), **sim_kwargs)
        rig = {**made.get("rig", {}), **{k: v for k, v in (rig_overrides or {}).items() if v is not None}}
        stored_views = rig.pop("num_views", None)
        rig_cfg = rig_for(type(sim), num_views=num_views if num_views is not None else stored_views, **rig)
        settings = {"rerender_of": os.path.abspath(input), "env": env, "image_size": image_size,
                    "num_views": rig_cfg.num_views, "first_person": bool(first_person), "seed": seed,
                    "rig": rig_cfg.to_json(), "shard": shard, "num_shards": num_shards, **sim_kwargs,
                    **({} if masks else {"masks": False})}  # files made before the option resume unchanged
        planned = {demo_index(d) for d in src.demos}
        mine = planned & set(iter_demo_indices((), max(planned, default=-1) + 1, shard, num_shards))  # this shard's
        out = shard_path(out, shard, num_shards)
        attrs = {"keypoint_names": list(sim.keypoint_names),
                 "views": planned_views(type(sim), rig_cfg, first_person),
                 PLANNED: index_ranges(planned)}  # the whole job's (every demo of the input), which a merge checks
        frames_total, made = 0, 0
        try:
            # not finished where its plan is another input's, one that has lost demos since: rewritten below
            if finished_output(out, settings, mine, planned) is not None:
                return {"path": out, "demos": 0, "frames": 0, "skipped_existing": len(mine)}
            with sigterm_as_interrupt(), EpisodeWriter(out, settings, attrs) as writer:
                writer.set_env_args(src.file["data"].attrs.get("env_args", "{}"))
                for name in tqdm([d for d in src.demos if demo_index(d) in mine], desc="re-render", unit="demo",
                                 disable=not progress):
                    index = demo_index(name)
                    if index in writer.done:
                        continue
                    states = src.array(name, "states")
                    if states is None:
                        raise ValueError(f"{input!r}: data/{name} has no states to replay")
                    demo_seed = src.demo_attr(name, "seed")
                    model_file = src.demo_attr(name, "model_file")
                    if demo_seed is None and sim.env_type != 1:
                        raise ValueError(f"{input!r}: data/{name} has no seed attribute; {env} scenes are "
                                         f"rebuilt from the episode's seed")
                    rig = make_rig(rig_cfg, image_size, image_size, episode_seed(seed, index))
                    try:
                        sim.restore_scene(int(demo_seed or 0), model_file, len(rig))
                    except ValueError as err:
                        raise ValueError(f"{input!r}: data/{name}: {err}") from None
                    sim.set_rig(rig)
                    frames = []
                    for state in states:
                        sim.set_state(state)
                        frames.append(observe(sim, views_now(sim, rig, first_person, image_size), masks=masks))
                    # The input's low-dim observations where it has them; then every view and the
                    # simulator's own low-dim observations at each replayed state.
                    obs = {**src.low_dim_obs(name), **stack(frames)}
                    actions = src.array(name, "actions")
                    n = len(actions)
                    success = sim.success()
                    # After the final action: the input's own record where it has one, else stepped from the
                    # last state as robomimic's dataset_states_to_obs does (close, not exact: controllers
                    # keep state that `states` does not hold).
                    recorded = {k: v[-1] for k, v in src.low_dim_obs(name, "next_obs").items()}
                    if not recorded:
                        sim.step(actions[-1])
                    next_obs = next_observations(obs, recorded or sim.low_dim_obs())
                    rewards, dones = src.array(name, "rewards"), src.array(name, "dones")
                    writer.add(index, Episode(
                        seed=int(demo_seed if demo_seed is not None else index), success=success,
                        actions=actions, states=states,
                        rewards=rewards if rewards is not None else np.zeros(n, np.float32),
                        dones=dones if dones is not None else terminal_dones(n),
                        obs=obs, model_file=model_file, next_obs=next_obs,
                        cameras=cameras_of(views_now(sim, rig, first_person, image_size)),
                    ))
                    frames_total, made = frames_total + n, made + 1
                skipped = len(mine & writer.done) - made  # landed before this call
        finally:
            sim.close()
    return {"path": out, "demos": made, "frames": frames_total, "skipped_existing": skipped}


@hydra.main(config_path="pkg://configs", config_name="rerender", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_reports(shard_output(cfg.out, cfg.shard, cfg.num_shards)):
        summary = rerender_dataset(cfg.input, cfg.out, cfg.num_views, cfg.image_size, cfg.first_person, cfg.seed,
                                   OmegaConf.to_container(cfg.rig), cfg.render,
                                   shard=cfg.shard, num_shards=cfg.num_shards, masks=cfg.masks)
    if summary["demos"]:
        print(f"wrote {summary['path']}: {summary['demos']} demos, {summary['frames']} frames re-rendered")
    else:
        print(f"nothing to re-render: {summary['path']} already holds its {summary['skipped_existing']} demos")


if __name__ == "__main__":
    main()
