"""Pick: the Franka Panda from pybullet_data picks a small object off a table (scripted IK policy)."""
from __future__ import annotations

import os
from typing import Dict

import numpy as np
import pybullet as pb
import pybullet_data

from .pybullet_camera import render_pybullet
from .cameras import FIRST_PERSON, Camera, RigConfig, intrinsics_from_fovy, look_at
from .simulator import Simulator, ViewFrame

SIM_HZ = 240
CONTROL_HZ = 20
ARM_JOINTS = list(range(7))
FINGER_JOINTS = (9, 10)
HAND_LINK = 8
GRASP_LINK = 11
FINGERTIP_OFFSET = np.array([0.0, 0.0, 0.045])  # from the finger link frame to its tip
MAX_DELTA = 0.03  # metres per control step at action 1.0
HOME = [0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785]
DOWN = pb.getQuaternionFromEuler([np.pi, 0.0, 0.0])


def link_pose(client: int, robot: int, link: int):
    """World frame of a link at the current joint state, as rendered. pybullet's cached link frames
    lag the joints after stepSimulation and are stale after set_state, so observations recompute them."""
    return pb.getLinkState(robot, link, computeForwardKinematics=True, physicsClientId=client)[4:6]


def panda_keypoints(client: int, robot: int) -> np.ndarray:
    """The Panda's keypoints ``(11, 3)`` in the world at its current joint state."""
    points = [pb.getBasePositionAndOrientation(robot, physicsClientId=client)[0]]
    points += [link_pose(client, robot, j)[0] for j in ARM_JOINTS]
    points.append(link_pose(client, robot, HAND_LINK)[0])
    for j in FINGER_JOINTS:
        pos, orn = link_pose(client, robot, j)
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        points.append(np.array(pos) + rot @ FINGERTIP_OFFSET)
    return np.asarray(points, dtype=np.float64)


class PickSimulator(Simulator):
    """pybullet Pick. Actions: end-effector position delta in [-1, 1] (x MAX_DELTA m) + gripper (+1 closes)."""

    name = "pick"
    action_dim = 4
    max_steps = 120
    env_type = 2

    def __init__(self, renderer: str = "tiny") -> None:
        if renderer not in ("tiny", "egl"):
            raise ValueError(f"unknown pybullet renderer {renderer!r}; choose tiny or egl")
        self.client = pb.connect(pb.DIRECT)
        self.renderer = pb.ER_TINY_RENDERER
        if renderer == "egl":
            import pkgutil

            egl = pkgutil.get_loader("eglRenderer")
            if egl is None or pb.loadPlugin(egl.get_filename(), "_eglRendererPlugin", physicsClientId=self.client) < 0:
                raise RuntimeError("pybullet's EGL renderer plugin could not be loaded; use renderer=tiny")
            self.renderer = pb.ER_BULLET_HARDWARE_OPENGL
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self._fk = None  # the forward-kinematics client, made on first use
        self._build()

    def _build(self) -> None:
        c = self.client
        pb.resetSimulation(physicsClientId=c)
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        pb.setTimeStep(1.0 / SIM_HZ, physicsClientId=c)
        pb.loadURDF("plane.urdf", [0, 0, -0.625], physicsClientId=c)
        pb.loadURDF("table/table.urdf", [0.5, 0, -0.625], physicsClientId=c)
        self.robot = pb.loadURDF("franka_panda/panda.urdf", [0, 0, 0], useFixedBase=True, physicsClientId=c)
        self.object = pb.loadURDF("cube_small.urdf", [0.5, 0, 0.025], physicsClientId=c)
        pb.changeDynamics(self.object, -1, lateralFriction=1.5, physicsClientId=c)
        for j in FINGER_JOINTS:
            pb.changeDynamics(self.robot, j, lateralFriction=1.5, physicsClientId=c)

    @staticmethod
    def default_rig() -> RigConfig:
        return RigConfig(num_views=4, radius=1.3, height=0.0, azimuth_range=(-120, 30),
                         elevation_range=(20, 55), fovy=50.0, center=(0.35, 0.0, 0.15), sampling="sectors",
                         heldout_views=2, heldout_azimuth_range=(60, 120))

    # -- episode ---------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        c = self.client
        for j, q in zip(ARM_JOINTS, HOME):
            pb.resetJointState(self.robot, j, q, physicsClientId=c)
        for j in FINGER_JOINTS:
            pb.resetJointState(self.robot, j, 0.04, physicsClientId=c)
        pos = [rng.uniform(0.4, 0.6), rng.uniform(-0.15, 0.15), 0.025]
        orn = pb.getQuaternionFromEuler([0, 0, rng.uniform(-np.pi / 4, np.pi / 4)])
        pb.resetBasePositionAndOrientation(self.object, pos, orn, physicsClientId=c)
        pb.resetBaseVelocity(self.object, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        colour = list(rng.uniform(0.1, 1.0, size=3)) + [1.0]
        pb.changeVisualShape(self.object, -1, rgbaColor=colour, physicsClientId=c)
        self.target = self._grasp_point()
        self.gripper = -1.0
        self.phase, self.phase_steps = "above", 0
        self._hold_arm()

    def _grasp_point(self) -> np.ndarray:
        return np.array(pb.getLinkState(self.robot, GRASP_LINK, physicsClientId=self.client)[4])

    def _object_pos(self) -> np.ndarray:
        return np.array(pb.getBasePositionAndOrientation(self.object, physicsClientId=self.client)[0])

    def _hold_arm(self) -> None:
        c = self.client
        joints = pb.calculateInverseKinematics(self.robot, GRASP_LINK, self.target.tolist(), DOWN,
                                               maxNumIterations=50, physicsClientId=c)
        pb.setJointMotorControlArray(self.robot, ARM_JOINTS, pb.POSITION_CONTROL,
                                     targetPositions=list(joints[:7]), forces=[200.0] * 7, physicsClientId=c)
        width = 0.0 if self.gripper > 0 else 0.04
        pb.setJointMotorControlArray(self.robot, list(FINGER_JOINTS), pb.POSITION_CONTROL,
                                     targetPositions=[width, width], forces=[40.0, 40.0], physicsClientId=c)

    def scripted_action(self) -> np.ndarray:
        obj = self._object_pos()
        ee = self._grasp_point()
        goals = {
            "above": (obj + [0, 0, 0.12], -1.0),
            "descend": (obj + [0, 0, 0.005], -1.0),
            "close": (obj + [0, 0, 0.005], 1.0),
            "lift": (np.array([obj[0], obj[1], 0.3]), 1.0),
        }
        goal, grip = goals[self.phase]
        error = goal - ee
        self.phase_steps += 1
        if self.phase == "above" and np.linalg.norm(error) < 0.015:
            self.phase, self.phase_steps = "descend", 0
        elif self.phase == "descend" and (np.linalg.norm(error) < 0.008 or self.phase_steps > 40):
            self.phase, self.phase_steps = "close", 0
        elif self.phase == "close" and self.phase_steps >= 8:
            self.phase, self.phase_steps = "lift", 0
        return np.concatenate([np.clip(error / MAX_DELTA, -1, 1), [grip]]).astype(np.float32)

    def step(self, action: np.ndarray) -> float:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.action_dim,):
            raise ValueError(f"pick expects actions of shape ({self.action_dim},), got {action.shape}")
        self.target = self.target + np.clip(action[:3], -1, 1) * MAX_DELTA
        self.target[2] = max(self.target[2], 0.0)
        self.gripper = float(action[3])
        self._hold_arm()
        for _ in range(SIM_HZ // CONTROL_HZ):
            pb.stepSimulation(physicsClientId=self.client)
        return float(self.success())

    def success(self) -> bool:
        return bool(self._object_pos()[2] > 0.08)

    # -- poses and cameras -------------------------------------------------------------------
    def keypoints_world(self) -> np.ndarray:
        return panda_keypoints(self.client, self.robot)

    def keypoints_from_joints(self, joint_pos: np.ndarray, gripper_qpos: np.ndarray) -> np.ndarray:
        # A kinematics-only copy of the arm in its own client: resetting the live arm's joints would
        # touch the episode (velocities, the solver's warm start).
        if self._fk is None:
            self._fk = pb.connect(pb.DIRECT)
            self._fk_robot = pb.loadURDF(os.path.join(pybullet_data.getDataPath(), "franka_panda/panda.urdf"),
                                         [0, 0, 0], useFixedBase=True, physicsClientId=self._fk)
        for j, q in zip(ARM_JOINTS + list(FINGER_JOINTS), np.concatenate([joint_pos, gripper_qpos])):
            pb.resetJointState(self._fk_robot, j, float(q), physicsClientId=self._fk)
        return panda_keypoints(self._fk, self._fk_robot)

    def _link_pose(self, link: int):
        return link_pose(self.client, self.robot, link)

    def first_person_camera(self, width: int, height: int) -> Camera:
        pos, orn = self._link_pose(HAND_LINK)
        rot = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
        eye = np.array(pos) + rot @ np.array([0.06, 0.0, -0.02])
        target = eye + rot @ np.array([0.0, 0.0, 1.0])
        fovy = 75.0
        return Camera(FIRST_PERSON, intrinsics_from_fovy(fovy, width, height),
                      look_at(eye, target, up=rot @ np.array([1.0, 0.0, 0.0])), width, height, fovy)

    def render(self, camera: Camera, masks: bool = True) -> ViewFrame:
        rgb, seg = render_pybullet(self.client, camera, self.renderer, near=0.02, far=10.0, segment=masks)
        if seg is None:
            return ViewFrame(image=rgb)
        return ViewFrame(image=rgb, robot_mask=seg == self.robot, object_mask=seg == self.object)

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> np.ndarray:
        c = self.client
        joints = pb.getJointStates(self.robot, list(range(pb.getNumJoints(self.robot, physicsClientId=c))),
                                   physicsClientId=c)
        pos, orn = pb.getBasePositionAndOrientation(self.object, physicsClientId=c)
        lin, ang = pb.getBaseVelocity(self.object, physicsClientId=c)
        return np.concatenate([[s[0] for s in joints], [s[1] for s in joints], pos, orn, lin, ang])

    def set_state(self, state: np.ndarray) -> None:
        c = self.client
        n = pb.getNumJoints(self.robot, physicsClientId=c)
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (2 * n + 13,):
            raise ValueError(f"pick state must have {2 * n + 13} values, got {state.shape}")
        for j in range(n):
            pb.resetJointState(self.robot, j, state[j], state[n + j], physicsClientId=c)
        o = 2 * n
        pb.resetBasePositionAndOrientation(self.object, state[o:o + 3], state[o + 3:o + 7], physicsClientId=c)
        pb.resetBaseVelocity(self.object, state[o + 7:o + 10], state[o + 10:o + 13], physicsClientId=c)

    def low_dim_obs(self) -> Dict[str, np.ndarray]:
        c = self.client
        joints = pb.getJointStates(self.robot, ARM_JOINTS, physicsClientId=c)
        fingers = pb.getJointStates(self.robot, list(FINGER_JOINTS), physicsClientId=c)
        ee_pos, ee_orn = self._link_pose(GRASP_LINK)
        pos, orn = pb.getBasePositionAndOrientation(self.object, physicsClientId=c)
        return {
            "robot0_joint_pos": np.array([s[0] for s in joints], dtype=np.float32),
            "robot0_eef_pos": np.array(ee_pos, dtype=np.float32),
            "robot0_eef_quat": np.array(ee_orn, dtype=np.float32),
            "robot0_gripper_qpos": np.array([s[0] for s in fingers], dtype=np.float32),
            "object": np.array(list(pos) + list(orn), dtype=np.float32),
        }

    def env_args(self) -> dict:
        return {"env_name": "envs/Pick-v0", "type": self.env_type,
                "env_kwargs": {"control_freq": CONTROL_HZ, "sim_hz": SIM_HZ}}

    def close(self) -> None:
        for client in (self.client, self._fk):
            if client is not None and pb.isConnected(client):
                pb.disconnect(client)
