"""The interface every simulator backend implements, and the frame it records per step."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .cameras import Camera, RigConfig

PANDA_KEYPOINTS: Tuple[str, ...] = (
    "base", "joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "joint7",
    "hand", "left_fingertip", "right_fingertip",
)


RENDER_QUALITIES = ("fast", "full")


def check_render_quality(render: str) -> str:
    if render not in RENDER_QUALITIES:
        raise ValueError(f"unknown render quality {render!r}; choose one of {', '.join(RENDER_QUALITIES)}")
    return render


@dataclass
class ViewFrame:
    image: np.ndarray  # (H, W, 3) uint8
    robot_mask: Optional[np.ndarray] = None  # (H, W) bool; None when rendered without masks
    object_mask: Optional[np.ndarray] = None  # (H, W) bool: the task's object (cube, can, goal block); None likewise


class Simulator(abc.ABC):
    """A real simulator in-process, with a scripted policy and multi-camera rendering."""

    #: short env name, e.g. "lift"
    name: str = ""
    keypoint_names: Tuple[str, ...] = PANDA_KEYPOINTS
    action_dim: int = 0
    max_steps: int = 200
    #: robomimic env type: 1 robosuite, 2 gym
    env_type: int = 2
    #: False where the simulator can render only the first-person view (MineRL)
    third_person_views: bool = True
    #: said in the file's attributes where keypoints are not what they seem (e.g. all NaN)
    keypoints_note: str = ""

    @staticmethod
    @abc.abstractmethod
    def default_rig() -> RigConfig:
        """The paper's camera rig for this env."""

    @abc.abstractmethod
    def reset(self, seed: int) -> None:
        """Start a new episode; everything random (object pose, colour) follows ``seed``."""

    @abc.abstractmethod
    def scripted_action(self) -> np.ndarray:
        """The scripted policy's action for the current state."""

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> float:
        """Advance one control step and return the reward."""

    @abc.abstractmethod
    def success(self) -> bool:
        """Whether the task is solved in the current state."""

    @abc.abstractmethod
    def keypoints_world(self) -> np.ndarray:
        """World positions ``(K, 3)`` of the keypoints, in ``keypoint_names`` order."""

    @classmethod
    def has_forward_kinematics(cls) -> bool:
        """Whether ``keypoints_from_joints`` is implemented (the Panda envs)."""
        return cls.keypoints_from_joints is not Simulator.keypoints_from_joints

    def keypoints_from_joints(self, joint_pos: np.ndarray, gripper_qpos: np.ndarray) -> np.ndarray:
        """Forward kinematics: the keypoints' world positions ``(K, 3)`` for the arm's joint angles and
        finger positions (the ``robot0_joint_pos`` and ``robot0_gripper_qpos`` observations), whatever
        the simulator's current state; the episode is left untouched."""
        raise NotImplementedError(f"{self.name} has no arm forward kinematics; it exists for the Panda envs "
                                  f"(pick, lift, can)")

    @abc.abstractmethod
    def first_person_camera(self, width: int, height: int) -> Camera:
        """The camera attached to the hand, at the current state."""

    def set_rig(self, cameras: List[Camera]) -> None:
        """Install the third-person cameras before the episode starts. pybullet renders any camera
        directly, so only simulators with cameras in their model (robosuite) need this."""

    @abc.abstractmethod
    def render(self, camera: Camera, masks: bool = True) -> ViewFrame:
        """Render one view with its robot and object segmentation masks (``masks=False``: the image alone,
        where segmentation costs a render pass of its own)."""

    @abc.abstractmethod
    def get_state(self) -> np.ndarray:
        """Flattened simulator state, replayable with ``set_state``."""

    @abc.abstractmethod
    def set_state(self, state: np.ndarray) -> None:
        """Restore a state from ``get_state``."""

    @abc.abstractmethod
    def low_dim_obs(self) -> Dict[str, np.ndarray]:
        """Proprioceptive and object observations, robomimic-style keys."""

    def restore_scene(self, seed: int, model_file: Optional[str], num_rig_cameras: int) -> None:
        """Rebuild the parts of an episode's scene that ``states`` do not hold (object colour, scenery,
        goal), so ``set_state`` then reproduces what was recorded. By default the scene follows the
        episode's seed, as in ``reset``."""
        self.reset(seed)

    def model_file(self) -> Optional[str]:
        """The MJCF model XML for robosuite envs (robomimic's ``model_file``), else None."""
        return None

    @abc.abstractmethod
    def env_args(self) -> dict:
        """robomimic ``env_args``: env_name, type and env_kwargs."""

    def close(self) -> None:
        """Release the simulator."""
