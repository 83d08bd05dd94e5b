"""Minecraft-style episodes, offline: a pybullet voxel world with a blocky avatar (backend=voxel).

This is a Minecraft-*style* scene, not Minecraft: flat ground of unit blocks with procedurally
generated pixel-art textures, a few scattered blocks and trees, a distinct goal block, and an
avatar with Minecraft proportions (head, torso, arms, legs as boxes) that walks to the goal and
strikes it, as in MineRL's navigate/reach tasks. No asset is downloaded.
"""
from __future__ import annotations

import os
import tempfile
from typing import Dict, List, Tuple

import imageio.v2 as imageio
import numpy as np
import pybullet as pb
import pybullet_data

from .pybullet_camera import render_pybullet
from .cameras import FIRST_PERSON, Camera, RigConfig, intrinsics_from_fovy, look_at
from .simulator import Simulator, ViewFrame

PX = 1.8 / 32  # one Minecraft skin pixel in metres (the avatar is 32 px = 1.8 m tall)
CONTROL_HZ = 20
WALK_SPEED = 1.6  # m/s at action 1
TURN_RATE = 3.0  # rad/s at action 1
REACH = 0.85  # stop this far from the goal block's centre, then strike
AVATAR_KEYPOINTS: Tuple[str, ...] = (
    "head", "neck", "left_shoulder", "right_shoulder", "left_hand", "right_hand",
    "pelvis", "left_hip", "right_hip", "left_foot", "right_foot",
)
# link indices of the avatar multibody
HEAD, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG = range(5)
PALETTES = {
    "grass": [(95, 159, 53), (79, 138, 44), (110, 176, 64), (71, 122, 38)],
    "dirt": [(134, 96, 67), (115, 82, 57), (150, 108, 76), (100, 72, 50)],
    "stone": [(125, 125, 125), (110, 110, 110), (140, 140, 140), (96, 96, 96)],
    "wood": [(102, 81, 51), (88, 69, 43), (120, 95, 60), (75, 59, 37)],
    "leaves": [(58, 110, 40), (46, 92, 32), (70, 130, 50), (38, 80, 28)],
    "gold": [(250, 210, 60), (235, 180, 40), (255, 240, 120), (200, 150, 30)],
}


def pixel_art(kind: str, seed: int, size: int = 16) -> np.ndarray:
    """A 16x16 block texture from the kind's palette, upscaled without smoothing."""
    rng = np.random.default_rng(seed)
    palette = np.array(PALETTES[kind], dtype=np.uint8)
    tex = palette[rng.integers(len(palette), size=(size, size))]
    if kind == "gold":  # a framed ore face, so the goal is unmistakable
        tex[[0, -1], :] = tex[:, [0, -1]] = (120, 80, 10)
    return np.repeat(np.repeat(tex, 4, 0), 4, 1)


def load_textures(client: int, seed: int = 0) -> Dict[str, int]:
    """pybullet texture ids of every block kind. pybullet loads textures from files only, so they are
    written to a private folder (mode 0700) made for this call and removed once loaded: nothing is
    read from a shared path that another user could plant images in."""
    with tempfile.TemporaryDirectory(prefix="poseaware_textures_") as folder:
        textures = {}
        for kind in PALETTES:
            path = os.path.join(folder, f"{kind}.png")
            imageio.imwrite(path, pixel_art(kind, seed))
            textures[kind] = pb.loadTexture(path, physicsClientId=client)
        return textures


class VoxelMinecraftSimulator(Simulator):
    """Avatar walks to the goal block and strikes it. Actions: forward speed, turn, strike (all in [-1, 1])."""

    name = "minecraft"
    keypoint_names = AVATAR_KEYPOINTS
    action_dim = 3
    max_steps = 140
    env_type = 2

    def __init__(self, renderer: str = "tiny") -> None:
        if renderer != "tiny":
            raise ValueError("the voxel Minecraft backend renders with pybullet's TinyRenderer only (renderer=tiny)")
        self.client = pb.connect(pb.DIRECT)
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self.textures = load_textures(self.client)
        self.ground = pb.loadURDF("plane.urdf", [0, 0, 0], physicsClientId=self.client)
        pb.changeVisualShape(self.ground, -1, textureUniqueId=self.textures["grass"], rgbaColor=[1, 1, 1, 1],
                             physicsClientId=self.client)
        self.avatar = self._build_avatar()
        self.blocks: List[int] = []

    @staticmethod
    def default_rig() -> RigConfig:
        return RigConfig(num_views=4, radius=6.5, height=0.0, azimuth_range=(-150, 60),
                         elevation_range=(15, 60), fovy=50.0, jitter_azimuth=10.0, jitter_elevation=5.0,
                         center=(0.0, 0.0, 0.8), sampling="sectors", heldout_views=2,
                         heldout_azimuth_range=(90, 150))

    # -- scene ---------------------------------------------------------------------------------
    def _box(self, half, colour, offset=(0, 0, 0)) -> int:
        return pb.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=colour, visualFramePosition=offset,
                                    physicsClientId=self.client)

    def _build_avatar(self) -> int:
        skin, shirt, pants = [0.78, 0.6, 0.47, 1], [0.0, 0.65, 0.65, 1], [0.2, 0.2, 0.6, 1]
        torso = self._box([2 * PX, 4 * PX, 6 * PX], shirt)
        limbs = [
            (self._box([4 * PX] * 3, skin, (0, 0, 4 * PX)), [0, 0, 6 * PX]),  # head, neck joint
            (self._box([2 * PX, 2 * PX, 6 * PX], skin, (0, 0, -4 * PX)), [0, 6 * PX, 4 * PX]),  # left arm
            (self._box([2 * PX, 2 * PX, 6 * PX], skin, (0, 0, -4 * PX)), [0, -6 * PX, 4 * PX]),  # right arm
            (self._box([2 * PX, 2 * PX, 6 * PX], pants, (0, 0, -6 * PX)), [0, 2 * PX, -6 * PX]),  # left leg
            (self._box([2 * PX, 2 * PX, 6 * PX], pants, (0, 0, -6 * PX)), [0, -2 * PX, -6 * PX]),  # right leg
        ]
        axes = [[0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0]]  # neck turns; limbs swing
        body = pb.createMultiBody(
            baseMass=0, baseVisualShapeIndex=torso, basePosition=[0, 0, 18 * PX],
            linkMasses=[0] * 5, linkCollisionShapeIndices=[-1] * 5,
            linkVisualShapeIndices=[v for v, _ in limbs], linkPositions=[p for _, p in limbs],
            linkOrientations=[[0, 0, 0, 1]] * 5, linkInertialFramePositions=[[0, 0, 0]] * 5,
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * 5, linkParentIndices=[0] * 5,
            linkJointTypes=[pb.JOINT_REVOLUTE] * 5, linkJointAxis=axes, physicsClientId=self.client,
        )
        return body

    def _place_block(self, kind: str, pos) -> int:
        uid = pb.loadURDF("cube.urdf", pos, useFixedBase=True, physicsClientId=self.client)
        pb.changeVisualShape(uid, -1, textureUniqueId=self.textures[kind], rgbaColor=[1, 1, 1, 1],
                             physicsClientId=self.client)
        self.blocks.append(uid)
        return uid

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        for uid in self.blocks:
            pb.removeBody(uid, physicsClientId=self.client)
        self.blocks = []
        angle = rng.uniform(-np.pi, np.pi)
        distance = rng.uniform(3.0, 5.0)
        start = -0.5 * distance * np.array([np.cos(angle), np.sin(angle)])
        goal = start + distance * np.array([np.cos(angle), np.sin(angle)])
        self.goal = np.round(goal) + 0.0  # blocks sit on the unit grid
        self.goal_block = self._place_block("gold", [self.goal[0], self.goal[1], 0.5])
        path = self.goal - start
        for _ in range(rng.integers(3, 6)):  # scattered blocks and trees, off the walking path
            for _attempt in range(20):
                cell = np.round(rng.uniform(-5, 5, size=2))
                t = np.clip(np.dot(cell - start, path) / np.dot(path, path), 0, 1)
                if np.linalg.norm(start + t * path - cell) > 1.6 and np.linalg.norm(cell - self.goal) > 1.5:
                    break
            if rng.random() < 0.5:
                for z in range(3):
                    self._place_block("wood", [cell[0], cell[1], z + 0.5])
                self._place_block("leaves", [cell[0], cell[1], 3.5])
            else:
                self._place_block(str(rng.choice(["stone", "dirt"])), [cell[0], cell[1], 0.5])
        self.x, self.y = start
        self.yaw = angle + rng.uniform(-1.2, 1.2)
        self.speed = rng.uniform(0.7, 1.3)
        self.walk_phase = 0.0
        self.strike_phase = 0.0
        self.striking = False
        self.joints = np.zeros(5)
        self.touched = False
        self._pose()

    def _pose(self) -> None:
        c = self.client
        orn = pb.getQuaternionFromEuler([0, 0, self.yaw])
        pb.resetBasePositionAndOrientation(self.avatar, [self.x, self.y, 18 * PX], orn, physicsClientId=c)
        for j, q in enumerate(self.joints):
            pb.resetJointState(self.avatar, j, float(q), physicsClientId=c)

    def _goal_bearing(self) -> Tuple[float, float]:
        dx, dy = self.goal[0] - self.x, self.goal[1] - self.y
        error = (np.arctan2(dy, dx) - self.yaw + np.pi) % (2 * np.pi) - np.pi
        return float(np.hypot(dx, dy)), float(error)

    def scripted_action(self) -> np.ndarray:
        distance, heading = self._goal_bearing()
        turn = np.clip(heading * 2.0, -1, 1)
        if distance <= REACH or self.striking:
            return np.array([0.0, turn, 1.0], dtype=np.float32)
        forward = self.speed * max(0.0, np.cos(heading)) * min(1.0, (distance - REACH) * 2 + 0.2)
        return np.array([np.clip(forward, 0, 1), turn, -1.0], dtype=np.float32)

    def step(self, action: np.ndarray) -> float:
        action = np.clip(np.asarray(action, dtype=np.float64), -1, 1)
        if action.shape != (self.action_dim,):
            raise ValueError(f"minecraft expects actions of shape ({self.action_dim},), got {action.shape}")
        dt = 1.0 / CONTROL_HZ
        forward, turn, strike = max(action[0], 0.0), action[1], action[2] > 0
        self.yaw += turn * TURN_RATE * dt
        step = forward * WALK_SPEED * dt
        self.x += step * np.cos(self.yaw)
        self.y += step * np.sin(self.yaw)
        self.walk_phase += step / (12 * PX) * 1.5
        swing = 0.7 * np.sin(self.walk_phase) * min(1.0, forward * 3)
        self.joints[[LEFT_LEG, RIGHT_LEG]] = swing, -swing
        self.joints[LEFT_ARM] = -swing
        self.striking = self.striking or bool(strike)
        if self.striking:  # raise the right arm forward and chop at the block
            self.strike_phase += dt * 8.0
            self.joints[RIGHT_ARM] = -1.15 - 0.45 * np.sin(self.strike_phase)
        else:
            self.joints[RIGHT_ARM] = swing
        self.joints[HEAD] = 0.0
        self._pose()
        self.touched = self.touched or self._hand_touches_goal()
        return float(self.success())

    def _hand(self, link: int) -> np.ndarray:
        pos, orn = pb.getLinkState(self.avatar, link, physicsClientId=self.client)[4:6]
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.array(pos) + rot @ np.array([0.0, 0.0, -9 * PX])

    def success(self) -> bool:
        """The hand has struck the goal block (it swings back between strikes)."""
        return self.touched

    def _hand_touches_goal(self) -> bool:
        hand = self._hand(RIGHT_ARM)
        lo = np.array([self.goal[0] - 0.5, self.goal[1] - 0.5, 0.0])
        return bool(np.linalg.norm(hand - np.clip(hand, lo, lo + 1.0)) < 0.08)

    # -- poses and cameras ---------------------------------------------------------------------
    def keypoints_world(self) -> np.ndarray:
        c = self.client
        link = lambda j: pb.getLinkState(self.avatar, j, physicsClientId=c)

        def along(j, z):
            pos, orn = link(j)[4:6]
            return np.array(pos) + np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3) @ np.array([0, 0, z])

        base, orn = pb.getBasePositionAndOrientation(self.avatar, physicsClientId=c)
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.array([
            along(HEAD, 4 * PX), link(HEAD)[4], link(LEFT_ARM)[4], link(RIGHT_ARM)[4],
            self._hand(LEFT_ARM), self._hand(RIGHT_ARM), np.array(base) + rot @ np.array([0, 0, -5 * PX]),
            link(LEFT_LEG)[4], link(RIGHT_LEG)[4], along(LEFT_LEG, -11 * PX), along(RIGHT_LEG, -11 * PX),
        ], dtype=np.float64)

    def first_person_camera(self, width: int, height: int) -> Camera:
        pos, orn = pb.getLinkState(self.avatar, HEAD, physicsClientId=self.client)[4:6]
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        eye = np.array(pos) + rot @ np.array([4.2 * PX, 0, 5 * PX])
        target = eye + rot @ np.array([1.0, 0, -0.35])
        fovy = 70.0
        return Camera(FIRST_PERSON, intrinsics_from_fovy(fovy, width, height), look_at(eye, target),
                      width, height, fovy)

    def render(self, camera: Camera, masks: bool = True) -> ViewFrame:
        rgb, seg = render_pybullet(self.client, camera, near=0.05, far=60.0, segment=masks)
        if seg is None:
            return ViewFrame(image=rgb)
        return ViewFrame(image=rgb, robot_mask=seg == self.avatar, object_mask=seg == self.goal_block)

    # -- state ------------------------------------------------------------------------------------
    def get_state(self) -> np.ndarray:
        return np.concatenate([[self.x, self.y, self.yaw, self.walk_phase, self.strike_phase, float(self.striking)],
                               self.joints, self.goal, [float(self.touched)]])

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (14,):
            raise ValueError(f"minecraft state must have 14 values, got {state.shape}")
        self.x, self.y, self.yaw, self.walk_phase, self.strike_phase = state[:5]
        self.striking = bool(state[5])
        self.joints = state[6:11].copy()
        self.touched = bool(state[13])
        self._pose()

    def low_dim_obs(self) -> Dict[str, np.ndarray]:
        return {
            "avatar_pos": np.array([self.x, self.y, 18 * PX], dtype=np.float32),
            "avatar_yaw": np.array([self.yaw], dtype=np.float32),
            "avatar_joint_pos": self.joints.astype(np.float32),
            "goal_pos": np.array([self.goal[0], self.goal[1], 0.5], dtype=np.float32),
        }

    def env_args(self) -> dict:
        return {"env_name": "envs/Minecraft-v0", "type": self.env_type,
                "env_kwargs": {"backend": "voxel", "control_freq": CONTROL_HZ}}

    def close(self) -> None:
        if pb.isConnected(self.client):
            pb.disconnect(self.client)
