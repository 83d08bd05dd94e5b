"""Re-render an existing robomimic dataset from a new camera rig by replaying its ``states``.

``python -m envs.rerender input=lift_mh.hdf5 out=data/lift_mh_views.hdf5 num_views=8``
The input file is only read. robosuite scenes are rebuilt from each demo's ``model_file``.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from .cameras import make_rig
from .dataset_io import Episode, EpisodeFile, EpisodeWriter, demo_index
from .recorder import (VIEW_SUFFIXES, cameras_of, episode_seed, observe, planned_views, rig_for, stack,
                       terminal_dones, views_now)
from .registry import ROBOMIMIC_ENV_NAMES, make_simulator


def rerender_dataset(input: str, out: str, num_views: Optional[int] = None, image_size: int = 128,
                     first_person: bool = True, seed: int = 0, progress: bool = True) -> Dict[str, float]:
    if os.path.abspath(input) == os.path.abspath(out):
        raise ValueError("out must differ from input: re-rendering never touches the input file")
    with EpisodeFile(input) as src:
        source_env = src.env_args.get("env_name")
        if source_env not in ROBOMIMIC_ENV_NAMES:
            raise ValueError(
                f"{input!r} has env_args env_name {source_env!r}; re-rendering supports "
                f"{', '.join(sorted(ROBOMIMIC_ENV_NAMES))}"
            )
        env = ROBOMIMIC_ENV_NAMES[source_env]
        sim = make_simulator(env)
        rig_cfg = rig_for(type(sim), num_views=num_views)
        settings = {"rerender_of": os.path.abspath(input), "env": env, "image_size": image_size,
                    "num_views": rig_cfg.num_views, "first_person": bool(first_person), "seed": seed,
                    "rig": rig_cfg.to_json()}
        attrs = {"keypoint_names": list(sim.keypoint_names),
                 "views": planned_views(type(sim), rig_cfg, first_person)}
        frames_total = 0
        try:
            with EpisodeWriter(out, settings, attrs) as writer:
                writer.set_env_args(src.file["data"].attrs.get("env_args", "{}"))
                for name in tqdm(src.demos, desc="re-render", unit="demo", disable=not progress):
                    index = demo_index(name)
                    if index in writer.done:
                        continue
                    group = src.demo(name)
                    if "states" not in group:
                        raise ValueError(f"{input!r}: data/{name} has no states to replay")
                    model_file = group.attrs.get("model_file")
                    if sim.env_type == 1:
                        if model_file is None:
                            raise ValueError(
                                f"{input!r}: data/{name} has no model_file attribute; robosuite scenes are "
                                f"rebuilt from it (robomimic datasets store it per demo)"
                            )
                        sim.load_model(model_file, rig_cfg.num_views)
                    rig = make_rig(rig_cfg, image_size, image_size, episode_seed(seed, index))
                    sim.set_rig(rig)
                    frames = []
                    for state in group["states"][()]:
                        sim.set_state(state)
                        views = views_now(sim, rig, first_person, image_size)
                        frames.append(observe(sim, views))
                    # Keep the input's low-dim observations; its old views (if any) are replaced.
                    obs = {k: group["obs"][k][()] for k in group.get("obs", {}) if not k.endswith(VIEW_SUFFIXES)}
                    obs.update(stack(frames))
                    n = len(group["actions"])
                    writer.add(index, Episode(
                        seed=int(group.attrs.get("seed", index)), success=sim.success(),
                        actions=group["actions"][()], states=group["states"][()],
                        rewards=group["rewards"][()] if "rewards" in group else np.zeros(n, np.float32),
                        dones=group["dones"][()] if "dones" in group else terminal_dones(n),
                        obs=obs, model_file=model_file, cameras=cameras_of(views),
                    ))
                    frames_total += n
        finally:
            sim.close()
    return {"path": out, "frames": frames_total}


@hydra.main(config_path="pkg://configs", config_name="rerender", version_base="1.3")
def main(cfg: DictConfig) -> None:
    summary = rerender_dataset(cfg.input, cfg.out, cfg.num_views, cfg.image_size, cfg.first_person, cfg.seed)
    print(f"wrote {summary['path']}: {summary['frames']} frames re-rendered")


if __name__ == "__main__":
    main()
