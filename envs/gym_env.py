"""gymnasium API over any simulator: ``gymnasium.make("envs/Lift-v0", image_size=64)``.

gymnasium's Box spaces cannot hold NaN, so keypoints that are behind the camera or outside
the image are reported as -1 here, with a ``<view>_keypoints_visible`` flag per keypoint.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .cameras import OVERVIEW, Camera, RigConfig, make_rig, overview_camera
from .dataset_io import obs_key
from .eval_cameras import EVAL_VIEW, check_eval_bin, draw_eval_camera, eval_camera_seed
from .recorder import observe, planned_views, rig_for, views_now
from .registry import simulator_class

MASKS = ("robot_mask", "object_mask")


class MultiViewEnv(gym.Env):
    """One simulator episode per reset, observed from its camera rig.

    ``views`` limits rendering to some of the rig's views (a policy's evaluation camera, say), and may
    add ``overview``, a fixed camera that is the same in every episode (for videos); each
    rendered view gives ``<view>_image``, ``<view>_keypoints`` (+ ``_visible``), ``<view>_robot_mask``
    and ``<view>_object_mask``, and the simulator's low-dim observations (robomimic keys) come with them.
    ``masks=False`` leaves the two masks out: MuJoCo renders them in a pass of their own, so a policy that
    reads none (every image policy) steps faster without them.
    ``reset(options={"episode_seed": s})`` starts the episode ``envs.generate`` records with seed ``s``
    (same scene, same rig), so its frames are the stored ones.

    ``eval_camera=<bin>`` (``envs.eval_cameras.EVAL_BINS``: ``train``, ``beyond15`` … ``beyond60``,
    ``elev+15``, ``elev-15``) adds the view ``eval``: per episode, one camera of that bin, drawn from a
    seed derived from the episode seed (``eval_camera_seed``), so a rollout seed always meets the same
    camera while the rig's own views stay those of ``envs.generate``. ``reset(options={"eval_camera":
    <bin>})`` draws from another bin for that episode; ``info["eval_camera"]`` says where it stood.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env: str = "lift", image_size: int = 64, num_views: Optional[int] = None,
                 first_person: bool = True, render_mode: Optional[str] = None,
                 views: Optional[Sequence[str]] = None, rig: Optional[dict] = None,
                 eval_camera: Optional[str] = None, max_episode_steps: Optional[int] = None,
                 masks: bool = True) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; only 'rgb_array' is supported")
        self.render_mode = render_mode
        self.sim = simulator_class(env)()
        # the episode's length: the simulator's own unless a policy evaluation asks for more time (robomimic
        # rolls Lift out for 400 steps, its demos take ~50); the simulators ignore their own horizon
        self.max_episode_steps = int(max_episode_steps or self.sim.max_steps)
        # ``rig``: a file's stored rig settings, so the env's cameras are the ones its demos were made with
        self.rig_config = RigConfig(**rig) if rig else rig_for(type(self.sim), num_views=num_views)
        self.image_size = image_size
        self.first_person = first_person
        self.masks = masks
        if eval_camera is not None:
            check_eval_bin(self.rig_config, eval_camera)
        self.eval_bin = eval_camera
        planned = planned_views(type(self.sim), self.rig_config, first_person)
        extra = [OVERVIEW] + ([EVAL_VIEW] if eval_camera else [])
        unknown = [v for v in views or () if v not in planned + extra]
        if unknown:
            hint = f" (the {EVAL_VIEW!r} view comes with eval_camera=<bin>)" if EVAL_VIEW in unknown else ""
            raise ValueError(f"views {unknown} are not in {env}'s rig; it has {planned}{hint}")
        self.views = list(views) if views else planned
        if self.eval_bin and EVAL_VIEW not in self.views:
            self.views.append(EVAL_VIEW)
        k = len(self.sim.keypoint_names)
        obs_spaces: Dict[str, spaces.Space] = {}
        for view in self.views:
            obs_spaces[obs_key(view, "image")] = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
            obs_spaces[obs_key(view, "keypoints")] = spaces.Box(-1.0, float(image_size), (k, 2), np.float32)
            obs_spaces[f"{obs_key(view, 'keypoints')}_visible"] = spaces.MultiBinary(k)
            for mask in MASKS if masks else ():
                obs_spaces[obs_key(view, mask)] = spaces.Box(0, 1, (image_size, image_size), np.uint8)
        self.sim.reset(0)
        low_dim = self.sim.low_dim_obs()
        self.low_dim_keys = list(low_dim)
        for key, value in low_dim.items():
            obs_spaces[key] = spaces.Box(-np.inf, np.inf, np.shape(value), np.float32)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (self.sim.action_dim,), np.float32)
        self.rig = []
        self._last: Dict[str, np.ndarray] = {}

    def cameras_now(self) -> List[Camera]:
        """The cameras of this env's views as they stand now (the wrist camera moves with the arm)."""
        return [c for c in views_now(self.sim, self.rig, self.first_person, self.image_size) if c.name in self.views]

    def overview_image(self) -> np.ndarray:
        """The fixed overview camera's frame now (``(H, W, 3)`` uint8), rendered on demand: for videos people
        watch beside a policy's own camera, whether or not ``overview`` is one of the env's views."""
        if not self.rig:
            raise RuntimeError("call reset() before overview_image()")
        camera = next(c for c in self.rig if c.name == OVERVIEW)
        return self.sim.render(camera, masks=False).image

    def camera(self, view: str) -> Camera:
        """One view's camera now: its intrinsics and true extrinsics (what a camera-aware policy is given
        as the oracle, or solves from the arm)."""
        for camera in self.cameras_now():
            if camera.name == view:
                return camera
        raise ValueError(f"this env has no view {view!r}; it has {self.views} (call reset() first)")

    def _obs(self) -> Dict[str, np.ndarray]:
        cameras = self.cameras_now()
        raw = observe(self.sim, cameras, masks=self.masks)
        self._last = raw
        obs = {k: np.asarray(raw[k], np.float32) for k in self.low_dim_keys}
        for view in self.views:
            kp = raw[obs_key(view, "keypoints")]
            visible = np.isfinite(kp).all(-1)
            obs[obs_key(view, "image")] = raw[obs_key(view, "image")]
            obs[obs_key(view, "keypoints")] = np.where(visible[:, None], kp, -1.0).astype(np.float32)
            obs[f"{obs_key(view, 'keypoints')}_visible"] = visible.astype(np.int8)
            for mask in MASKS if self.masks else ():
                obs[obs_key(view, mask)] = raw[obs_key(view, mask)].astype(np.uint8)
        return obs

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> Tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
        episode_seed = int(options.get("episode_seed", self.np_random.integers(2**31 - 1)))
        info = {"episode_seed": episode_seed}
        if "eval_camera" in options and not self.eval_bin:
            raise ValueError(f"reset asked for eval_camera={options['eval_camera']!r}, but this env has no "
                             f"{EVAL_VIEW!r} view; make it with eval_camera=<bin> so its observations hold one")
        self.sim.reset(episode_seed)
        self.rig = make_rig(self.rig_config, self.image_size, self.image_size, episode_seed)
        # always in the rig, rendered only when it is a view or asked for (overview_image): videos want it for a
        # few episodes, and rendering it every step cost a third of a rollout's time
        self.rig.append(overview_camera(self.rig_config, self.image_size, self.image_size))
        if self.eval_bin:
            drawn = draw_eval_camera(self.rig_config, options.get("eval_camera", self.eval_bin), self.image_size,
                                     self.image_size, eval_camera_seed(episode_seed))
            self.rig.append(drawn.camera)
            info["eval_camera"] = drawn.to_json()
        self.sim.set_rig(self.rig)
        self.steps = 0
        return self._obs(), {"success": self.sim.success(), **info}

    def step(self, action: np.ndarray) -> Tuple[dict, float, bool, bool, Dict[str, Any]]:
        reward = self.sim.step(np.asarray(action, dtype=np.float32))
        self.steps += 1
        success = self.sim.success()
        truncated = self.steps >= self.max_episode_steps
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
