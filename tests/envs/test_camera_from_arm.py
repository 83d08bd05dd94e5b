"""The camera from the arm: forward kinematics, PnP against the stored extrinsics of real Pick and Lift frames."""
import json

import h5py
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from envs.camera_from_arm import (UNSOLVED, ArmCameraTracker, camera_pose_vector, extrinsics_error, extrinsics_from_arm,
                                  extrinsics_from_keypoints, pose_vector_error)
from envs.generate import generate_dataset
from envs.registry import make_simulator

THIRD_PERSON = ("cam0", "cam1", "held0", "held1")


class Demo:
    """One generated demo's arrays, and a simulator whose forward kinematics is the demo's arm."""

    def __init__(self, env: str, path: str) -> None:
        with h5py.File(path) as f:
            demo = f["data/demo_0"]
            obs = demo["obs"]
            self.keypoints = {v: obs[f"{v}_keypoints"][()] for v in THIRD_PERSON + ("first_person",)}
            self.extrinsics = {v: obs[f"{v}_extrinsics"][()] for v in THIRD_PERSON + ("first_person",)}
            cameras = json.loads(demo.attrs["cameras"])
            self.intrinsics = {v: np.array(cameras[v]["intrinsics"]) for v in cameras}
            self.joint_pos, self.gripper_qpos = obs["robot0_joint_pos"][()], obs["robot0_gripper_qpos"][()]
            self.sim = make_simulator(env)
            self.sim.restore_scene(int(demo.attrs["seed"]), demo.attrs.get("model_file"), 0)

    def fit(self, view: str, t, keypoints=None, **kwargs):
        kp = self.keypoints[view][t] if keypoints is None else keypoints
        return extrinsics_from_arm(self.sim, kp, self.joint_pos[t], self.gripper_qpos[t], self.intrinsics[view],
                                   **kwargs)


@pytest.fixture(scope="module", params=["pick", "lift"])
def demo(request, tmp_path_factory):
    path = str(tmp_path_factory.mktemp(request.param) / "demo.hdf5")
    generate_dataset(request.param, path, episodes=1, image_size=32, num_views=2, num_workers=1, progress=False)
    d = Demo(request.param, path)
    yield d
    d.sim.close()


def test_forward_kinematics_places_the_keypoints_the_simulator_renders(demo):
    sim = demo.sim
    sim.reset(7)
    for _ in range(30):
        sim.step(sim.scripted_action())
    state, obs = sim.get_state(), sim.low_dim_obs()
    fk = sim.keypoints_from_joints(obs["robot0_joint_pos"], obs["robot0_gripper_qpos"])
    np.testing.assert_allclose(fk, sim.keypoints_world(), atol=1e-6)  # the observations are float32
    np.testing.assert_array_equal(sim.get_state(), state)  # the episode is untouched
    moved = sim.keypoints_from_joints(obs["robot0_joint_pos"] + 0.1, obs["robot0_gripper_qpos"])
    assert np.linalg.norm(moved[-1] - fk[-1]) > 0.01  # the answer follows the joints, not the live state


def test_exact_keypoints_recover_the_stored_extrinsics(demo):
    for view in THIRD_PERSON:
        for t in range(0, len(demo.joint_pos), 3):
            fit = demo.fit(view, t)
            rotation, translation = extrinsics_error(fit.extrinsics, demo.extrinsics[view][t])
            assert rotation < 1e-3 and translation < 1e-4, (view, t, rotation, translation)
            assert fit.reprojection_rms < 1e-3


def test_missing_keypoints_are_skipped_and_the_camera_still_recovered(demo):
    rng = np.random.default_rng(0)
    for view in ("cam1", "held0"):
        for t in (0, len(demo.joint_pos) // 2, len(demo.joint_pos) - 1):
            kp = demo.keypoints[view][t].copy()
            visible = np.flatnonzero(np.isfinite(kp).all(-1))
            kp[rng.choice(visible, size=len(visible) - 6, replace=False)] = np.nan  # 6 left, some coincide in 3D
            fit = demo.fit(view, t, keypoints=kp)
            assert fit.used.sum() == 6 and not fit.used[np.isnan(kp[:, 0])].any()
            rotation, translation = extrinsics_error(fit.extrinsics, demo.extrinsics[view][t])
            assert rotation < 1e-3 and translation < 1e-4


def test_too_few_keypoints_are_refused_naming_how_many(demo):
    coinciding = [1, 2, 5, 6]  # joint1 and joint2, joint5 and joint6 coincide
    view = next(v for v in THIRD_PERSON if np.isfinite(demo.keypoints[v][0][coinciding]).all())
    kp = np.full_like(demo.keypoints[view][0], np.nan)
    kp[coinciding] = demo.keypoints[view][0][coinciding]  # 4 visible, 2 positions
    with pytest.raises(ValueError, match=r"4 keypoints visible \(2 distinct 3D positions\).*at least 4"):
        demo.fit(view, 0, keypoints=kp)
    kp = np.full_like(kp, np.nan)
    with pytest.raises(ValueError, match="0 keypoints visible"):
        demo.fit(view, 0, keypoints=kp)
    with pytest.raises(ValueError, match="of the same frames"):
        extrinsics_from_arm(demo.sim, demo.keypoints["cam1"][:3], demo.joint_pos[:3], demo.gripper_qpos[:2],
                            demo.intrinsics["cam1"])
    # The hand camera sees the fingertips at most: no pose from the arm there.
    with pytest.raises(ValueError, match="keypoints visible"):
        demo.fit("first_person", 0)


def test_one_pixel_noise_gives_bounded_error_and_stacked_frames_shrink_it(demo):
    rng = np.random.default_rng(0)
    single, stacked = [], []
    for view in THIRD_PERSON:
        noisy = demo.keypoints[view] + rng.uniform(-1, 1, demo.keypoints[view].shape)
        for t in range(0, len(noisy), 2):
            single.append(extrinsics_error(demo.fit(view, t, keypoints=noisy[t]).extrinsics, demo.extrinsics[view][t]))
        fit = demo.fit(view, slice(None), keypoints=noisy)  # every frame: the camera stood still
        stacked.append(extrinsics_error(fit.extrinsics, demo.extrinsics[view][0]))
    single, stacked = np.median(single, axis=0), np.median(stacked, axis=0)
    # 1 px at 32 px is ~1.5 degrees of each keypoint's bearing (focal length 39 px); measured medians
    # 3-6 degrees and 6-10 cm per frame, under 1.1 degrees and 2 cm from a whole episode.
    assert single[0] < 8.0 and single[1] < 0.15, single
    assert stacked[0] < 2.0 and stacked[1] < 0.04 and stacked[0] < single[0] / 2, (single, stacked)


def test_ransac_drops_a_keypoint_that_is_far_off(demo):
    view, t = "cam1", len(demo.joint_pos) // 2
    kp = demo.keypoints[view][t].copy()
    far = np.flatnonzero(np.isfinite(kp).all(-1))[-1]
    kp[far] += [6.0, -5.0]
    plain = extrinsics_error(demo.fit(view, t, keypoints=kp).extrinsics, demo.extrinsics[view][t])
    robust = demo.fit(view, t, keypoints=kp, ransac_threshold=0.5)
    assert not robust.used[far] and robust.used.sum() >= 6
    rotation, translation = extrinsics_error(robust.extrinsics, demo.extrinsics[view][t])
    assert rotation < 1e-3 and translation < 1e-4 and plain[0] > 100 * rotation


def test_extrinsics_error_is_the_rotation_angle_and_the_centre_distance():
    ext = np.eye(4)
    ext[:3, :3] = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    ext[:3, 3] = [0.1, -0.2, 1.5]
    turned = ext.copy()
    turned[:3, :3] = Rotation.from_rotvec([0, 0, np.deg2rad(7.0)]).as_matrix() @ ext[:3, :3]
    turned[:3, 3] = turned[:3, :3] @ (ext[:3, :3].T @ ext[:3, 3])  # the same centre, turned about it
    np.testing.assert_allclose(extrinsics_error(turned, ext), [7.0, 0.0], atol=1e-9)
    moved = ext.copy()
    moved[:3, 3] -= ext[:3, :3] @ np.array([0.0, 0.3, 0.4])  # the centre moved 0.5 m
    np.testing.assert_allclose(extrinsics_error(moved, ext), [0.0, 0.5], atol=1e-9)


def test_points_on_one_line_and_mismatched_inputs_are_refused():
    k = np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    line = np.array([[0, 0, z] for z in np.linspace(0, 1, 6)])
    with pytest.raises(ValueError, match="one line"):
        extrinsics_from_keypoints(np.full((6, 2), 10.0), line, k)
    with pytest.raises(ValueError, match="different keypoints"):
        extrinsics_from_keypoints(np.zeros((5, 2)), np.zeros((6, 3)), k)
    with pytest.raises(ValueError, match=r"\(\.\.\., K, 2\)"):
        extrinsics_from_keypoints(np.zeros((6, 3)), np.zeros((6, 3)), k)


def test_the_pose_vector_is_the_camera_centre_and_its_axes_in_the_world():
    rotation = Rotation.from_euler("xyz", [10, -30, 50], degrees=True).as_matrix()  # world -> camera
    centre = np.array([0.5, -1.0, 1.5])
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = rotation, -rotation @ centre
    vector = camera_pose_vector(ext)
    np.testing.assert_allclose(vector[:3], centre, atol=1e-6)
    np.testing.assert_allclose(vector[3:6], rotation[0], atol=1e-6)  # the camera's x axis in the world
    np.testing.assert_allclose(vector[6:9], rotation[1], atol=1e-6)
    assert vector[9] == 1.0 and vector.dtype == np.float32
    rotation_error, centre_error = pose_vector_error(vector, ext)  # its inverse: back to the same camera
    assert rotation_error < 1e-4 and centre_error < 1e-6
    assert abs(pose_vector_error(vector, np.linalg.inv(ext))[0] - 2 * np.degrees(
        Rotation.from_matrix(rotation).magnitude())) < 1e-3  # the camera -> world matrix is another camera
    with pytest.raises(ValueError, match="4, 4"):
        camera_pose_vector(np.eye(3))


def test_the_tracker_solves_the_camera_and_keeps_it_while_the_arm_does_not_fix_it(demo):
    view = "cam1"
    tracker = ArmCameraTracker(demo.sim, demo.intrinsics[view], max_frames=1)
    hidden = np.full_like(demo.keypoints[view][0], np.nan)
    # nothing seen yet: unsolved, flagged 0, not a made-up camera
    np.testing.assert_array_equal(tracker.update(hidden, demo.joint_pos[0], demo.gripper_qpos[0]), UNSOLVED)
    true = camera_pose_vector(demo.extrinsics[view][0])
    pose = tracker.update(demo.keypoints[view][1], demo.joint_pos[1], demo.gripper_qpos[1])
    np.testing.assert_allclose(pose, true, atol=1e-4)
    # two keypoints seen: the arm does not fix the camera, and the last solution stands
    partial = demo.keypoints[view][2].copy()
    partial[2:] = np.nan
    np.testing.assert_array_equal(tracker.update(partial, demo.joint_pos[2], demo.gripper_qpos[2]), pose)
    tracker.reset()
    np.testing.assert_array_equal(tracker.update(partial, demo.joint_pos[2], demo.gripper_qpos[2]), UNSOLVED)
    # frames that cannot fix the camera alone (3 keypoints each) fix it together: the camera stood still
    stacked = ArmCameraTracker(demo.sim, demo.intrinsics[view], max_frames=3)
    for t, pick in ((1, slice(None, 3)), (len(demo.joint_pos) - 1, slice(-3, None))):  # the first / last 3 seen
        seen = np.flatnonzero(np.isfinite(demo.keypoints[view][t]).all(-1))
        shown = seen[pick]
        alone = np.full_like(demo.keypoints[view][t], np.nan)
        alone[shown] = demo.keypoints[view][t][shown]
        with pytest.raises(ValueError, match="at least 4 distinct"):
            demo.fit(view, t, keypoints=alone)
        pose = stacked.update(alone, demo.joint_pos[t], demo.gripper_qpos[t])
    np.testing.assert_allclose(pose, true, atol=1e-3)
