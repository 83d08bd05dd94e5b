"""Lift and Can (PickPlaceCan): robosuite 1.5 with the Panda, scripted with the default OSC controller.

The third-person rig is added to the MJCF as fixed cameras ``rig_cam<i>`` (the sim state is kept
across the reload), and moved per episode through ``model.cam_pos``/``cam_quat``/``cam_fovy``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

import numpy as np

from .cameras import FIRST_PERSON, Camera, RigConfig, camera_from_pose, gl_quaternion
from .mujoco_render import CameraRenderer
from .simulator import Simulator, ViewFrame, check_render_quality

CONTROL_HZ = 20
GAIN = 10.0  # action units per metre of position error
ROBOT_BODY_PREFIXES = ("robot0_", "gripper0_", "fixed_mount0_", "mount0_")
MJ_OBJ_GEOM = 5


def check_robosuite_version(version: str) -> None:
    """robosuite 1.5.1's envs take no seed and draw placements from NumPy's global generator, so the same
    episode seed would give other demos; refuse it with the fix rather than a TypeError deep in ``make``."""
    if tuple(int(x) for x in version.split(".")[:3] if x.isdigit()) < (1, 5, 2):
        raise ImportError(f"robosuite {version} is installed; this project needs robosuite>=1.5.2,<1.6 (its envs "
                          "take the seed that makes generation reproducible): pip install 'robosuite>=1.5.2,<1.6'")


def rig_camera_name(index: int) -> str:
    return f"rig_cam{index}"


def xml_with_rig_cameras(xml: str, num_views: int) -> str:
    """Return the MJCF with exactly ``num_views`` fixed world cameras named ``rig_cam<i>``."""
    root = ET.fromstring(xml)
    world = root.find("worldbody")
    if world is None:
        raise ValueError("model_file has no <worldbody>; is it a MuJoCo MJCF model?")
    for cam in list(world.findall("camera")):
        if cam.get("name", "").startswith("rig_cam"):
            world.remove(cam)
    for i in range(num_views):
        ET.SubElement(world, "camera", name=rig_camera_name(i), mode="fixed", pos="1 0 1",
                      quat="1 0 0 0", fovy="45")
    return ET.tostring(root, encoding="unicode")


class RobosuiteSimulator(Simulator):
    """A robosuite manipulation env driven by a scripted phase policy."""

    robosuite_env = ""
    objects: Tuple[str, ...] = ()  # the task objects' names (their bodies are "<name>_...")
    env_type = 1
    action_dim = 7
    phases: tuple = ()  # the scripted policy's phases, in order

    def __init__(self, env_kwargs: Optional[dict] = None, render: str = "fast") -> None:
        import robosuite

        check_robosuite_version(robosuite.__version__)
        self.render_quality = check_render_quality(render)
        self._renderers: Dict[Tuple[int, int], CameraRenderer] = {}
        kwargs = dict(
            # Views are rendered by envs.mujoco_render (a GL context per simulator), not robosuite.
            robots="Panda", has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False,
            use_object_obs=True, control_freq=CONTROL_HZ, hard_reset=False, ignore_done=True,
            horizon=self.max_steps, initialization_noise=None, reward_shaping=False,
            # robosuite draws the model (Lift's cube size) from its env rng when the env is made; unseeded,
            # every process made a different cube, so the same episode seed gave other states and images.
            # Episodes reseed the rng in reset; this seed fixes the model, the same in every process.
            seed=0,
        )
        kwargs.update(env_kwargs or {})
        self.env_kwargs = {k: v for k, v in kwargs.items() if k != "robots"}
        self.env = robosuite.make(self.robosuite_env, **kwargs)
        self.env.reset()
        self.num_rig_cameras = 0
        self.rig_index: Dict[str, int] = {}
        robot = self.env.robots[0]
        self.robot_prefix = robot.robot_model.naming_prefix
        self.gripper_prefix = robot.gripper["right"].naming_prefix if isinstance(robot.gripper, dict) \
            else robot.gripper.naming_prefix
        self._index_model()

    def _index_model(self) -> None:
        model = self.env.sim.model
        bodies = [model.body_id2name(i) or "" for i in range(model.nbody)]
        robot_bodies = {i for i, name in enumerate(bodies) if name.startswith(ROBOT_BODY_PREFIXES)}
        self.robot_geoms = np.array([model.geom_bodyid[g] in robot_bodies for g in range(model.ngeom)])
        object_bodies = {i for i, name in enumerate(bodies) if name.startswith(tuple(f"{o}_" for o in self.objects))}
        self.object_geoms = np.array([model.geom_bodyid[g] in object_bodies for g in range(model.ngeom)])
        self.kp_bodies = [model.body_name2id(f"{self.robot_prefix}link0")]
        self.kp_joints = [model.joint_name2id(f"{self.robot_prefix}joint{i}") for i in range(1, 8)]
        self.kp_tail = [model.body_name2id(f"{self.robot_prefix}right_hand")] + [
            model.body_name2id(f"{self.gripper_prefix}finger_joint{i}_tip") for i in (1, 2)
        ]
        # qpos addresses of what robot0_joint_pos and robot0_gripper_qpos observe, for forward kinematics
        gripper_joints = [model.joint_name2id(f"{self.gripper_prefix}finger_joint{i}") for i in (1, 2)]
        self.arm_qpos = np.array([model.jnt_qposadr[j] for j in self.kp_joints])
        self.gripper_qpos = np.array([model.jnt_qposadr[j] for j in gripper_joints])
        self._fk_data = None  # scratch MjData of this model, made on first use

    # -- episode ---------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.env.rng = rng
        sampler = getattr(self.env, "placement_initializer", None)
        stack = [sampler] if sampler is not None else []
        while stack:  # composite samplers hold their own samplers, each with an rng
            s = stack.pop()
            s.rng = rng
            stack.extend(getattr(s, "samplers", {}).values())
        self.env.reset()
        self.phase, self.phase_steps = self.phases[0], 0

    def step(self, action: np.ndarray) -> float:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.action_dim,):
            raise ValueError(f"{self.name} expects actions of shape ({self.action_dim},), got {action.shape}")
        _, reward, _, _ = self.env.step(action)
        # After mj_step, body and site poses lag qpos by one integration step; recompute them so what is
        # rendered and observed is the stored state (a replay of it reproduces the frame exactly).
        self.env.sim.forward()
        return float(reward)

    def success(self) -> bool:
        return bool(self.env._check_success())

    def _eef(self) -> np.ndarray:
        return np.array(self.env.sim.data.site_xpos[self.env.robots[0].eef_site_id["right"]])

    def _move(self, goal: np.ndarray, grip: float) -> np.ndarray:
        error = goal - self._eef()
        return np.concatenate([np.clip(error * GAIN, -1, 1), np.zeros(3), [grip]]).astype(np.float32)

    def _advance(self, done: bool) -> None:
        self.phase_steps += 1
        if done:
            i = self.phases.index(self.phase)
            self.phase, self.phase_steps = self.phases[min(i + 1, len(self.phases) - 1)], 0

    # -- poses and cameras -------------------------------------------------------------------
    def keypoints_world(self) -> np.ndarray:
        return self._keypoints_of(self.env.sim.data)

    def keypoints_from_joints(self, joint_pos: np.ndarray, gripper_qpos: np.ndarray) -> np.ndarray:
        import mujoco

        model = self.env.sim.model._model
        if self._fk_data is None:
            self._fk_data = mujoco.MjData(model)
        data = self._fk_data
        # From the model's reference pose, not the live state: the keypoints follow from the inputs alone
        # (the arm's base is fixed, and nothing else in qpos moves its bodies).
        data.qpos[:] = model.qpos0
        data.qpos[self.arm_qpos] = np.asarray(joint_pos, dtype=np.float64)
        data.qpos[self.gripper_qpos] = np.asarray(gripper_qpos, dtype=np.float64)
        mujoco.mj_kinematics(model, data)
        return self._keypoints_of(data)

    def _keypoints_of(self, data) -> np.ndarray:
        points = [data.xpos[self.kp_bodies[0]]]
        points += [data.xanchor[j] for j in self.kp_joints]
        points += [data.xpos[b] for b in self.kp_tail]
        return np.asarray(points, dtype=np.float64)

    def first_person_camera(self, width: int, height: int) -> Camera:
        sim = self.env.sim
        cam_id = sim.model.camera_name2id(f"{self.robot_prefix}eye_in_hand")
        return camera_from_pose(FIRST_PERSON, np.array(sim.data.cam_xpos[cam_id]),
                                np.array(sim.data.cam_xmat[cam_id]).reshape(3, 3),
                                float(sim.model.cam_fovy[cam_id]), width, height)

    def set_rig(self, cameras: List[Camera]) -> None:
        if len(cameras) != self.num_rig_cameras:
            self.load_model(self.env.sim.model.get_xml(), len(cameras))
        sim = self.env.sim
        self.rig_index = {cam.name: i for i, cam in enumerate(cameras)}
        for i, cam in enumerate(cameras):
            cam_id = sim.model.camera_name2id(rig_camera_name(i))
            sim.model.cam_pos[cam_id] = cam.position
            sim.model.cam_quat[cam_id] = gl_quaternion(cam)
            sim.model.cam_fovy[cam_id] = cam.fovy
        sim.forward()

    def restore_scene(self, seed: int, model_file: Optional[str], num_rig_cameras: int) -> None:
        """robosuite scenes are rebuilt from the episode's MJCF (robomimic's ``model_file``)."""
        if model_file is None:
            raise ValueError("this demo has no model_file attribute; robosuite scenes are rebuilt from it "
                             "(robomimic datasets store it per demo)")
        self.load_model(model_file, num_rig_cameras)

    def load_model(self, xml: str, num_views: int) -> None:
        """(Re)load an MJCF with ``num_views`` rig cameras, keeping the current sim state. Asset paths
        written on another machine are pointed at this robosuite install (``edit_model_xml``)."""
        state = self.get_state()
        self._close_renderers()  # they belong to the model being replaced
        self.env.reset_from_xml_string(xml_with_rig_cameras(self.env.edit_model_xml(xml), num_views))
        self.num_rig_cameras = num_views
        self._index_model()
        if state.shape == self.get_state().shape:
            self.set_state(state)

    def _renderer(self, width: int, height: int) -> CameraRenderer:
        key = (width, height)
        if key not in self._renderers:
            self._renderers[key] = CameraRenderer(self.env.sim.model._model, width, height, self.render_quality)
        return self._renderers[key]

    def _close_renderers(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}

    def render(self, camera: Camera, masks: bool = True) -> ViewFrame:
        if camera.name != FIRST_PERSON and camera.name not in self.rig_index:
            raise ValueError(f"camera {camera.name!r} is not in this episode's rig {list(self.rig_index)}; "
                             f"call set_rig with it first")
        name = f"{self.robot_prefix}eye_in_hand" if camera.name == FIRST_PERSON else \
            rig_camera_name(self.rig_index[camera.name])
        sim = self.env.sim
        rgb, obj_type, obj_id = self._renderer(camera.width, camera.height).render(
            sim.data._data, sim.model.camera_name2id(name), segment=masks)
        if not masks:
            return ViewFrame(image=np.ascontiguousarray(rgb, dtype=np.uint8))
        is_geom = (obj_type == MJ_OBJ_GEOM) & (obj_id >= 0)
        geoms = obj_id[is_geom]
        robot, obj = np.zeros(obj_id.shape, dtype=bool), np.zeros(obj_id.shape, dtype=bool)
        robot[is_geom], obj[is_geom] = self.robot_geoms[geoms], self.object_geoms[geoms]
        return ViewFrame(image=np.ascontiguousarray(rgb, dtype=np.uint8), robot_mask=robot, object_mask=obj)

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> np.ndarray:
        return np.array(self.env.sim.get_state().flatten())

    def set_state(self, state: np.ndarray) -> None:
        self.env.sim.set_state_from_flattened(np.asarray(state, dtype=np.float64))
        self.env.sim.forward()

    def low_dim_obs(self) -> Dict[str, np.ndarray]:
        # Relative sensors (e.g. Can_to_robot0_eef_pos) read robosuite's obs cache, which may hold
        # values from before a reset or set_state; a second pass reads the fresh cache.
        self.env._get_observations(force_update=True)
        obs = self.env._get_observations(force_update=True)
        low_dim = {k: np.asarray(v, dtype=np.float32) for k, v in obs.items()
                   if not k.endswith(("_image", "_depth", "_segmentation_instance"))}
        if "object-state" in low_dim:  # robomimic's name for it (its EnvRobosuite and default configs)
            low_dim["object"] = low_dim["object-state"]
        return low_dim

    def model_file(self) -> Optional[str]:
        return self.env.sim.model.get_xml()

    def env_args(self) -> dict:
        controller = self.env.robots[0].composite_controller_config
        kwargs = dict(self.env_kwargs, robots=["Panda"], controller_configs=controller)
        return {"env_name": self.robosuite_env, "type": self.env_type, "env_kwargs": kwargs}

    def close(self) -> None:
        self._close_renderers()
        self.env.close()


class LiftSimulator(RobosuiteSimulator):
    """Lift: above the cube, descend, close, lift."""

    name = "lift"
    robosuite_env = "Lift"
    objects = ("cube",)
    max_steps = 120
    phases = ("above", "descend", "close", "lift")

    @staticmethod
    def default_rig() -> RigConfig:
        # 1.0 m, not 1.4: at 64 px the gripper and cube cover more patches (the shoulder may leave cam0's
        # frame), which took the alignment table's baseline from 0.262 to 0.226 unseen (RESULTS.md, "Lift recipe")
        return RigConfig(num_views=4, radius=1.0, height=0.1, azimuth_range=(-90, 15),
                         elevation_range=(25, 50), fovy=45.0, center=(-0.15, 0.0, 0.9), sampling="sectors",
                         heldout_views=2, heldout_azimuth_range=(45, 90))

    def scripted_action(self) -> np.ndarray:
        cube = np.array(self.env.sim.data.body_xpos[self.env.cube_body_id])
        goal, grip, done = {
            "above": lambda: (cube + [0, 0, 0.08], -1.0, None),
            "descend": lambda: (cube + [0, 0, -0.005], -1.0, None),
            "close": lambda: (cube + [0, 0, -0.005], 1.0, self.phase_steps >= 10),
            "lift": lambda: (cube * [1, 1, 0] + [0, 0, 1.05], 1.0, False),
        }[self.phase]()
        error = np.linalg.norm(goal - self._eef())
        self._advance(done if done is not None else error < (0.01 if self.phase == "above" else 0.006)
                      or self.phase_steps > 40)
        return self._move(goal, grip)


class CanSimulator(RobosuiteSimulator):
    """Can (PickPlaceCan): grasp, carry to the target bin, lower, release."""

    name = "can"
    robosuite_env = "PickPlaceCan"
    objects = ("Can",)
    max_steps = 220
    phases = ("above", "descend", "close", "raise", "carry", "lower", "release", "retreat")

    @staticmethod
    def default_rig() -> RigConfig:
        return RigConfig(num_views=4, radius=1.5, height=0.0, azimuth_range=(-90, 15),
                         elevation_range=(30, 55), fovy=50.0, center=(0.05, 0.0, 0.9), sampling="sectors",
                         heldout_views=2, heldout_azimuth_range=(45, 90))

    def scripted_action(self) -> np.ndarray:
        env = self.env
        can = np.array(env.sim.data.body_xpos[env.obj_body_id["Can"]])
        target = np.array(env.target_bin_placements[env.object_to_id["can"]])
        carry_z = env.bin2_pos[2] + 0.25
        goal, grip, done = {
            "above": lambda: (can + [0, 0, 0.1], -1.0, None),
            "descend": lambda: (can + [0, 0, 0.0], -1.0, None),
            "close": lambda: (can, 1.0, self.phase_steps >= 10),
            "raise": lambda: (np.array([can[0], can[1], carry_z]), 1.0, None),
            "carry": lambda: (np.array([target[0], target[1], carry_z]), 1.0, None),
            "lower": lambda: (np.array([target[0], target[1], env.bin2_pos[2] + 0.12]), 1.0, None),
            "release": lambda: (np.array([target[0], target[1], env.bin2_pos[2] + 0.12]), -1.0,
                                self.phase_steps >= 8),
            "retreat": lambda: (np.array([target[0], target[1], carry_z]), -1.0, False),
        }[self.phase]()
        error = np.linalg.norm(goal - self._eef())
        tolerance = 0.006 if self.phase == "descend" else 0.02
        self._advance(done if done is not None else error < tolerance or self.phase_steps > 60)
        return self._move(goal, grip)
