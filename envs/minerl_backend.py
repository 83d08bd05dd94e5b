"""Minecraft episodes from MineRL itself (backend=minerl), for machines where MineRL is installed.

MineRL 0.4.4 exposes the first-person ``pov`` frame only: no third-person cameras and no avatar
joint positions. This backend therefore records the first-person view and stores NaN keypoints,
saying so in the file (``keypoints_note``); it never invents poses. Untested on machines without
MineRL (it needs Java 8 and network access at build time); ``backend=voxel`` works offline.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .cameras import FIRST_PERSON, Camera, RigConfig, intrinsics_from_fovy
from .minecraft import AVATAR_KEYPOINTS
from .simulator import Simulator, ViewFrame

MISSING = (
    "backend=minerl needs the `minerl` package (MineRL 0.4.4: `pip install minerl==0.4.4`), which "
    "builds Minecraft with Java 8 (JDK) and Gradle and downloads Minecraft and Forge at build time, "
    "so it needs network access. backend=voxel (the default) works offline."
)
KEYPOINTS_NOTE = "MineRL exposes no avatar joint positions; keypoints are NaN in every view"


class MineRLSimulator(Simulator):
    name = "minecraft"
    keypoint_names = AVATAR_KEYPOINTS
    action_dim = 4  # forward, jump, camera yaw, attack
    max_steps = 300
    env_type = 2
    third_person_views = False
    keypoints_note = KEYPOINTS_NOTE

    def __init__(self, env_id: str = "MineRLNavigateDense-v0", renderer: str = "tiny") -> None:
        try:
            import gym  # MineRL 0.4.4 is built on the retired gym API
            import minerl  # noqa: F401
        except ImportError:
            raise ValueError(MISSING) from None
        self.env_id = env_id
        self.env = gym.make(env_id)
        self.obs = None

    @staticmethod
    def default_rig() -> RigConfig:
        return RigConfig(num_views=1)  # unused: MineRL renders no third-person camera

    def reset(self, seed: int) -> None:
        self.env.seed(int(seed) % (2**31))
        self.obs = self.env.reset()
        self.done = False

    def scripted_action(self) -> np.ndarray:
        # Navigate: face the compass target, walk, jump over steps, attack when close.
        angle = float(self.obs["compassAngle"]) if "compassAngle" in self.obs else 0.0
        return np.array([1.0, 1.0, np.clip(angle / 10.0, -1, 1), 0.0], dtype=np.float32)

    def step(self, action: np.ndarray) -> float:
        act = self.env.action_space.noop()
        act["forward"], act["jump"], act["attack"] = int(action[0] > 0), int(action[1] > 0), int(action[3] > 0)
        act["camera"] = [0.0, float(action[2]) * 10.0]
        self.obs, reward, self.done, _ = self.env.step(act)
        return float(reward)

    def success(self) -> bool:
        return bool(self.done)

    def keypoints_world(self) -> np.ndarray:
        return np.full((len(self.keypoint_names), 3), np.nan)

    def first_person_camera(self, width: int, height: int) -> Camera:
        fovy = 70.0
        return Camera(FIRST_PERSON, intrinsics_from_fovy(fovy, width, height), np.eye(4), width, height, fovy)

    def set_rig(self, cameras: List[Camera]) -> None:
        if cameras:
            raise ValueError("MineRL renders only the first-person view; third-person cameras are unavailable")

    def render(self, camera: Camera, masks: bool = True) -> ViewFrame:
        pov = np.asarray(self.obs["pov"], dtype=np.uint8)
        if pov.shape[:2] != (camera.height, camera.width):
            raise ValueError(f"MineRL pov is {pov.shape[:2]}; generate with image_size={pov.shape[0]}")
        if not masks:
            return ViewFrame(image=pov)
        empty = np.zeros(pov.shape[:2], dtype=bool)  # MineRL gives no segmentation
        return ViewFrame(image=pov, robot_mask=empty, object_mask=empty.copy())

    def get_state(self) -> np.ndarray:
        return np.zeros(1)

    def set_state(self, state: np.ndarray) -> None:
        raise ValueError("MineRL episodes cannot be replayed from states")

    def low_dim_obs(self) -> Dict[str, np.ndarray]:
        return {"compass_angle": np.array([float(self.obs.get("compassAngle", np.nan))], dtype=np.float32)}

    def env_args(self) -> dict:
        return {"env_name": "envs/Minecraft-v0", "type": self.env_type,
                "env_kwargs": {"backend": "minerl", "env_id": self.env_id, "keypoints_note": KEYPOINTS_NOTE}}
