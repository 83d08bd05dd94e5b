"""gymnasium API over any simulator: ``gymnasium.make("envs/Lift-v0", image_size=64)``.

gymnasium's Box spaces cannot hold NaN, so keypoints that are behind the camera or outside
the image are reported as -1 here, with a ``<view>_keypoints_visible`` flag per keypoint.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .cameras import make_rig
from .dataset_io import obs_key
from .recorder import observe, planned_views, rig_for, views_now
from .registry import simulator_class


class MultiViewEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env: str = "lift", image_size: int = 64, num_views: Optional[int] = None,
                 first_person: bool = True, render_mode: Optional[str] = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; only 'rgb_array' is supported")
        self.render_mode = render_mode
        self.sim = simulator_class(env)()
        self.rig_config = rig_for(type(self.sim), num_views=num_views)
        self.image_size = image_size
        self.first_person = first_person
        self.views = planned_views(type(self.sim), self.rig_config, first_person)
        k = len(self.sim.keypoint_names)
        obs_spaces: Dict[str, spaces.Space] = {}
        for view in self.views:
            obs_spaces[obs_key(view, "image")] = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
            obs_spaces[obs_key(view, "keypoints")] = spaces.Box(-1.0, float(image_size), (k, 2), np.float32)
            obs_spaces[f"{obs_key(view, 'keypoints')}_visible"] = spaces.MultiBinary(k)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (self.sim.action_dim,), np.float32)
        self.rig = []
        self._last: Dict[str, np.ndarray] = {}

    def _obs(self) -> Dict[str, np.ndarray]:
        raw = observe(self.sim, views_now(self.sim, self.rig, self.first_person, self.image_size))
        self._last = raw
        obs = {}
        for view in self.views:
            kp = raw[obs_key(view, "keypoints")]
            visible = np.isfinite(kp).all(-1)
            obs[obs_key(view, "image")] = raw[obs_key(view, "image")]
            obs[obs_key(view, "keypoints")] = np.where(visible[:, None], kp, -1.0).astype(np.float32)
            obs[f"{obs_key(view, 'keypoints')}_visible"] = visible.astype(np.int8)
        return obs

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[dict, dict]:
        super().reset(seed=seed)
        episode_seed = int(self.np_random.integers(2**31 - 1))
        self.sim.reset(episode_seed)
        self.rig = make_rig(self.rig_config, self.image_size, self.image_size, episode_seed)
        self.sim.set_rig(self.rig)
        self.steps = 0
        return self._obs(), {"success": self.sim.success()}

    def step(self, action: np.ndarray) -> Tuple[dict, float, bool, bool, Dict[str, Any]]:
        reward = self.sim.step(np.asarray(action, dtype=np.float32))
        self.steps += 1
        success = self.sim.success()
        truncated = self.steps >= self.sim.max_steps
        return self._obs(), float(reward), success, truncated, {"success": success}

    def scripted_action(self) -> np.ndarray:
        """The env's scripted expert action for the current state."""
        return self.sim.scripted_action()

    def render(self) -> Optional[np.ndarray]:
        if self.render_mode != "rgb_array":
            return None
        if not self._last:
            raise RuntimeError("call reset() before render()")
        return np.concatenate([self._last[obs_key(v, "image")] for v in self.views], axis=1)

    def close(self) -> None:
        self.sim.close()
