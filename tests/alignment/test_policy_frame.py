"""Actions and the end effector's pose in the policy camera's frame (``frame=camera``), and back."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from alignment.policy_frame import (ACTION_SCALE, action_to_world, actions_to_camera, check_frame, eef_to_camera)
from envs.camera_from_arm import UNSOLVED, camera_pose_vector


def extrinsics(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ext = np.eye(4)
    ext[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    ext[:3, 3] = rng.uniform(-1, 1, 3)
    return ext


def test_the_end_effector_in_the_camera_frame_is_what_the_extrinsics_give():
    exts = [extrinsics(s) for s in range(3)]
    poses = np.stack([camera_pose_vector(e) for e in exts])
    rng = np.random.default_rng(0)
    pos, quat = rng.uniform(-1, 1, (3, 3)), Rotation.random(3, random_state=1).as_quat()
    moved = eef_to_camera({"robot0_eef_pos": pos, "robot0_eef_quat": quat, "robot0_gripper_qpos": pos[:, :2]}, poses)
    for t, ext in enumerate(exts):  # world -> camera: the extrinsics' own map
        np.testing.assert_allclose(moved["robot0_eef_pos"][t], (ext @ np.append(pos[t], 1))[:3], atol=1e-5)
        np.testing.assert_allclose(Rotation.from_quat(moved["robot0_eef_quat"][t]).as_matrix(),
                                   ext[:3, :3] @ Rotation.from_quat(quat[t]).as_matrix(), atol=1e-5)
    np.testing.assert_array_equal(moved["robot0_gripper_qpos"], pos[:, :2])


@pytest.mark.parametrize("size", [7, 4])
def test_camera_frame_actions_stay_in_the_tanh_range_and_turn_back_exactly(size):
    ext = extrinsics(5)
    pose = camera_pose_vector(ext)
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    actions = np.zeros((8, size))
    actions[:, :3], actions[:, -1] = corners, np.linspace(-1, 1, 8)
    if size == 7:
        actions[:, 3:6] = corners[::-1]
    camera = actions_to_camera(actions, np.tile(pose, (8, 1)))
    assert np.abs(camera).max() <= 1 + 1e-6  # the box's corners, rotated anywhere, fit once scaled by sqrt(3)
    np.testing.assert_allclose(camera[:, :3], corners @ ext[:3, :3].T / ACTION_SCALE, atol=1e-6)
    np.testing.assert_array_equal(camera[:, -1], actions[:, -1])  # the gripper is no vector
    for a, c in zip(actions, camera):
        np.testing.assert_allclose(action_to_world(c, pose), a, atol=1e-6)


def test_an_unsolved_camera_leaves_the_world_frame_and_bad_settings_are_named():
    actions = np.array([[0.5, -0.25, 1.0, 1.0]])
    np.testing.assert_allclose(actions_to_camera(actions, UNSOLVED[None]), [[0.5 / ACTION_SCALE, -0.25 / ACTION_SCALE,
                                                                            1 / ACTION_SCALE, 1.0]], atol=1e-7)
    with pytest.raises(ValueError, match="needs that camera's pose: give camera_input=arm"):
        check_frame("camera", "none")
    with pytest.raises(ValueError, match="unknown frame 'base'"):
        check_frame("base", "arm")
    with pytest.raises(ValueError, match="not 5: use frame=robot"):
        actions_to_camera(np.zeros((1, 5)), UNSOLVED[None])
