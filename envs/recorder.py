"""Run the scripted policy in a simulator and record every view, keypoint and mask per step."""
from __future__ import annotations

from typing import Dict, List, Type

import numpy as np

from .cameras import Camera, RigConfig, make_rig, project, view_names
from .dataset_io import Episode, obs_key
from .simulator import Simulator

SUCCESS_HOLD_STEPS = 10  # keep recording briefly after success so the end state is visible


def episode_seed(seed: int, index: int) -> int:
    """Independent per-episode seed, so any episode can be made alone (resume, shards, workers)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def views_now(sim: Simulator, rig: List[Camera], first_person: bool, size: int) -> List[Camera]:
    return rig + ([sim.first_person_camera(size, size)] if first_person else [])


def observe(sim: Simulator, cameras: List[Camera], masks: bool = True) -> Dict[str, np.ndarray]:
    """One frame of observations: per view image, keypoints, robot and object masks (unless ``masks`` is
    false), extrinsics; plus low-dim."""
    keypoints = sim.keypoints_world()
    obs: Dict[str, np.ndarray] = {}
    for cam in cameras:
        frame = sim.render(cam, masks=masks)
        obs[obs_key(cam.name, "image")] = frame.image
        obs[obs_key(cam.name, "keypoints")] = project(keypoints, cam)
        if masks:
            obs[obs_key(cam.name, "robot_mask")] = frame.robot_mask
            obs[obs_key(cam.name, "object_mask")] = frame.object_mask
        obs[obs_key(cam.name, "extrinsics")] = cam.extrinsics.astype(np.float32)
    obs.update(sim.low_dim_obs())
    return obs


def stack(frames: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}


def next_observations(obs: Dict[str, np.ndarray], final: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """robomimic's ``next_obs`` for the low-dim keys of ``final``: ``next_obs[t] = obs[t + 1]``, and last
    the observation after the final action (as robomimic's own ``dataset_states_to_obs`` writes it)."""
    return {k: np.concatenate([obs[k][1:], np.asarray(v, dtype=obs[k].dtype)[None]]) for k, v in final.items()
            if k in obs}


def planned_views(sim_cls: Type[Simulator], rig_config: RigConfig, first_person: bool,
                  store_views: bool = True) -> List[str]:
    """The views an episode records: none for robomimic's original layout, only the first-person
    view where the simulator renders no third-person camera (MineRL)."""
    third_person = store_views and sim_cls.third_person_views
    return view_names(rig_config.num_views if third_person else 0,
                      store_views and (first_person or not sim_cls.third_person_views),
                      rig_config.heldout_views if third_person else 0)


def cameras_of(views: List[Camera]) -> Dict[str, dict]:
    """Per-view camera JSON of an episode; the first-person camera moves, so it is marked."""
    return {cam.name: {**cam.to_json(), **({"moving": True} if cam.name == "first_person" else {})}
            for cam in views}


def terminal_dones(length: int) -> np.ndarray:
    dones = np.zeros(length, dtype=np.int64)
    dones[-1] = 1
    return dones


def record_episode(sim: Simulator, rig_config: RigConfig, seed: int, image_size: int,
                   first_person: bool = True, store_views: bool = True) -> Episode:
    """One scripted episode. ``store_views=False`` records robomimic's original layout: states,
    actions and low-dim observations only, no camera views."""
    sim.reset(seed)
    views = planned_views(type(sim), rig_config, first_person, store_views)
    rig = make_rig(rig_config, image_size, image_size, seed) if "cam0" in views else []
    first_person = "first_person" in views
    sim.set_rig(rig)
    frames, actions, states, rewards = [], [], [], []
    held = 0
    for _ in range(sim.max_steps):
        cams = views_now(sim, rig, first_person, image_size)
        frames.append(observe(sim, cams))
        states.append(sim.get_state())
        action = sim.scripted_action()
        rewards.append(sim.step(action))
        actions.append(action)
        held = held + 1 if sim.success() else 0
        if held >= SUCCESS_HOLD_STEPS:
            break
    obs = stack(frames)
    return Episode(
        seed=seed, success=sim.success(), actions=np.asarray(actions, dtype=np.float32),
        states=np.asarray(states, dtype=np.float64), rewards=np.asarray(rewards, dtype=np.float32),
        dones=terminal_dones(len(actions)), obs=obs, cameras=cameras_of(cams),
        model_file=sim.model_file(), next_obs=next_observations(obs, sim.low_dim_obs()),
    )


def rig_for(sim_cls, num_views=None, **overrides) -> RigConfig:
    """The env's default rig with user overrides (``None`` keeps the default)."""
    rig = sim_cls.default_rig()
    values = {**rig.to_json(), **{k: v for k, v in overrides.items() if v is not None}}
    if num_views is not None:
        values["num_views"] = num_views
    return RigConfig(**values)
