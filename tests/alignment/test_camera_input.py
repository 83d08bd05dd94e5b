"""The policy camera's pose as an input: the oracle, the camera solved from the arm, and from keypoints a
PAAT head reads; in the policy's training file, at rollout, and refused where it cannot be given."""
import json
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from alignment.camera_input import CameraPoseInput, camera_pose_key
from alignment.keypoint_detector import PaatKeypointDetector
from alignment.policy import run_policy
from alignment.task import train
from envs.camera_from_arm import camera_pose_vector
from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset
from poseaware.pose_maps import pose_maps
from tests.alignment.test_policy import TINY


@pytest.fixture(scope="module")
def pick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("camera_input")
    data = str(folder / "pick.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=2, progress=False)
    checkpoints = {}
    for method in ("paat", "paat_detector", "baseline"):  # the detector sees 24 px: its keypoints are scaled back to the 32 px frames
        with initialize_config_module("configs", version_base="1.3"):
            cfg = compose("train", overrides=["env=pick", f"method={method}", f"data={data}",
                                              f"run_dir={folder / method}", "model.img_size=24", *TINY])
        train(cfg)
        checkpoints[method] = str(folder / method / "checkpoints" / "best.pt")
    return data, checkpoints


def config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("policy", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", "obs=image",
                                            "backbone=resnet18", "bc.epochs=1", "bc.steps_per_epoch=2",
                                            "bc.batch_size=4", "bc.filter_key=null", "rollouts=1", "videos=0",
                                            "horizon=4", *overrides])


@pytest.mark.parametrize("source", ["extrinsics", "arm"])
def test_the_policy_file_holds_the_pose_of_the_camera_that_fills_its_slot(pick, tmp_path, source):
    data, _ = pick
    run = tmp_path / source
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="camera_input")  # exact keypoints: every frame, no error
        results = run_policy(config(data, run, f"camera_input={source}", "train_views=[cam0,cam1]",
                                    "eval_views=[cam0,beyond30]"))
    key = camera_pose_key("cam0")
    with EpisodeFile(data) as src, h5py.File(run / "policy_data.hdf5") as f:
        for copy, view in (("demo_0", "cam0"), ("demo_1", "cam1")):  # demo 0 from cam0, then from cam1
            poses = f[f"data/{copy}/obs/{key}"][()]
            true = np.stack([camera_pose_vector(e) for e in src.view_obs("demo_0", view, "extrinsics")])
            assert poses.shape == (src.file["data/demo_0"].attrs["num_samples"], 10)
            # exact projected keypoints: PnP gives the true camera (float32 storage aside)
            np.testing.assert_allclose(poses, true, atol=1e-4)
            np.testing.assert_array_equal(f[f"data/{copy}/next_obs/{key}"][1:-1], poses[2:])
        # two cameras of the sector: the input tells them apart
        assert np.abs(f[f"data/demo_0/obs/{key}"][0, :3] - f[f"data/demo_1/obs/{key}"][0, :3]).max() > 0.05
    saved = json.load(open(run / "rollouts.json"))
    assert key in saved["keys"] and saved["camera_input"] == source
    assert all(r["episodes"] == 1 for r in results.values())
    # each episode's outcome is kept (benchmarks/paired_rollouts.py pairs them across rows)
    assert all(r["successes"] == [r["success_rate"] == 1.0] for r in saved["rollouts"].values())


def test_with_the_wrist_camera_too_only_the_third_person_camera_is_randomised_and_posed(pick, tmp_path):
    data, _ = pick
    run = tmp_path / "both"
    results = run_policy(config(data, run, "camera_input=arm", "cameras=[cam0,first_person]", "train_views=[cam0,cam1]",
                                "eval_views=[beyond30]"))
    key = camera_pose_key("cam0")
    with EpisodeFile(data) as src, h5py.File(run / "policy_data.hdf5") as f:
        for copy, view in (("demo_0", "cam0"), ("demo_1", "cam1")):  # demo 0 from cam0, then from cam1
            obs = f[f"data/{copy}/obs"]
            assert camera_pose_key("first_person") not in obs
            np.testing.assert_array_equal(obs["cam0_image"][()], src.view_obs("demo_0", view, "image"))
            wrist = src.view_obs("demo_0", "first_person", "image")
            np.testing.assert_array_equal(obs["first_person_image"][()], wrist)
            true = np.stack([camera_pose_vector(e) for e in src.view_obs("demo_0", view, "extrinsics")])
            np.testing.assert_allclose(obs[key][()], true, atol=1e-4)
    assert results["beyond30"]["episodes"] == 1


def test_in_the_camera_frame_the_policy_learns_and_acts_in_the_frame_of_the_camera_it_sees(pick, tmp_path, monkeypatch):
    from robomimic.algo import RolloutPolicy

    from alignment.policy_frame import action_to_world, actions_to_camera, eef_to_camera
    from envs.gym_env import MultiViewEnv

    data, _ = pick
    seen, sent, env_obs = [], [], []
    act, step, reset = RolloutPolicy.__call__, MultiViewEnv.step, MultiViewEnv.reset

    def policy_call(self, ob, goal=None):
        action = act(self, ob, goal)
        seen.append(({k: np.array(v) for k, v in ob.items() if not k.endswith("_image")}, action))
        return action

    def env_step(self, action):
        sent.append(np.array(action))
        out = step(self, action)
        env_obs.append(out[0])
        return out

    def env_reset(self, **kw):
        out = reset(self, **kw)
        env_obs.append(out[0])
        return out

    monkeypatch.setattr(RolloutPolicy, "__call__", policy_call)
    monkeypatch.setattr(MultiViewEnv, "step", env_step)
    monkeypatch.setattr(MultiViewEnv, "reset", env_reset)
    run = tmp_path / "camera_frame"
    run_policy(config(data, run, "camera_input=extrinsics", "frame=camera", "train_views=[cam0,cam1]",
                      "eval_views=[beyond30]"))
    key = camera_pose_key("cam0")
    with EpisodeFile(data) as src, h5py.File(run / "policy_data.hdf5") as f:
        for copy, view in (("demo_0", "cam0"), ("demo_1", "cam1")):  # each copy in its own camera's frame
            true = np.stack([camera_pose_vector(e) for e in src.view_obs("demo_0", view, "extrinsics")])
            np.testing.assert_allclose(f[f"data/{copy}/actions"][()],
                                       actions_to_camera(src.demo("demo_0")["actions"][()], true), atol=1e-5)
            world = src.obs("demo_0", "robot0_eef_pos")
            np.testing.assert_allclose(f[f"data/{copy}/obs/robot0_eef_pos"][()],
                                       eef_to_camera({"robot0_eef_pos": world}, true)["robot0_eef_pos"], atol=1e-5)
        assert np.abs(f["data/demo_0/actions"][()] - f["data/demo_1/actions"][()]).max() > 0.01
    tested = seen[-len(sent):]  # validation rollouts ran first, if any; the test episode's steps last
    for (ob, action), world_obs, to_env in zip(tested, env_obs[-len(sent) - 1:], sent):
        pose = ob[key]
        assert pose[-1] == 1  # the drawn camera's true pose
        np.testing.assert_allclose(ob["robot0_eef_pos"], eef_to_camera(
            {"robot0_eef_pos": world_obs["robot0_eef_pos"][None]}, pose[None])["robot0_eef_pos"][0], atol=1e-5)
        np.testing.assert_allclose(to_env, action_to_world(action, pose), atol=1e-6)
    assert not np.allclose(sent[0], tested[0][1])  # the env got the action turned back, not the policy's own
    with pytest.raises(ValueError, match="frame=camera .* give camera_input=arm"):
        run_policy(config(data, tmp_path / "no_pose", "frame=camera"))


def test_at_rollout_the_input_is_the_pose_of_the_camera_the_policy_is_scored_from(pick, tmp_path, monkeypatch):
    import alignment.rollout as rollout

    data, _ = pick
    seen = []
    calls = rollout.CameraPoseInput.__call__

    def record(self, image, keypoints, extrinsics, joint_pos, gripper_qpos):
        pose = calls(self, image, keypoints, extrinsics, joint_pos, gripper_qpos)
        seen.append((pose, camera_pose_vector(extrinsics)))
        return pose

    monkeypatch.setattr(rollout.CameraPoseInput, "__call__", record)
    results = run_policy(config(data, tmp_path / "r", "camera_input=arm", "eval_views=[beyond45]"))
    assert len(seen) == results["beyond45"]["steps"][0]
    for pose, true in seen:  # the drawn camera, solved from the arm, not the training camera
        np.testing.assert_allclose(pose, true, atol=1e-3)
    with EpisodeFile(data) as src:
        trained = camera_pose_vector(src.view_obs("demo_0", "cam0", "extrinsics", 0))
    assert np.abs(seen[0][0][:3] - trained[:3]).max() > 0.05


def test_a_camera_pose_input_that_cannot_be_given_is_refused(pick, tmp_path):
    data, checkpoints = pick
    with pytest.raises(ValueError, match="third-person camera"):
        run_policy(config(data, tmp_path / "a", "camera_input=arm", "cameras=[first_person]",
                          "eval_views=[first_person]"))
    with pytest.raises(ValueError, match="keypoint_detector=.*method=paat"):
        run_policy(config(data, tmp_path / "b", "camera_input=paat"))
    with pytest.raises(ValueError, match="only with camera_input=paat"):
        run_policy(config(data, tmp_path / "c", "camera_input=arm", f"keypoint_detector={checkpoints['paat']}"))
    with pytest.raises(ValueError, match="no per-keypoint PAAT head"):
        run_policy(config(data, tmp_path / "d", "camera_input=paat", f"keypoint_detector={checkpoints['baseline']}"))
    with pytest.raises(ValueError, match="unknown camera_input 'gps'"):
        run_policy(config(data, tmp_path / "e", "camera_input=gps"))


@pytest.mark.parametrize("method", ["paat", "paat_detector"])  # the paper's BCE head, the softmax over tokens
def test_the_detector_reads_keypoints_where_its_head_puts_them_in_the_images_own_pixels(pick, monkeypatch, method):
    data, checkpoints = pick
    detector = PaatKeypointDetector(checkpoints[method])
    assert detector.model.paat.target == {"paat": "p3d", "paat_detector": "p3d_softmax"}[method]
    with EpisodeFile(data) as src:  # 32 x 24 (rows x columns): the head's 24 x 24 is stretched differently per axis
        images = np.ascontiguousarray(src.view_obs("demo_0", "cam0", "image")[:4, :, :24])
        keypoints = src.view_obs("demo_0", "cam0", "keypoints")[:4]
    size = detector.size
    assert size == 24 and images.shape[1:3] == (32, 24)
    scale = np.array([size / 24, size / 32])  # (x, y): where the head sees the keypoints; here it is always right
    _, p3d = pose_maps(torch.as_tensor(keypoints * scale), (size, size), detector.model.patch_size)
    monkeypatch.setattr(detector.model, "keypoint_logits", lambda x: p3d.float() * 60 - 30)
    found = detector(images)
    assert found.shape == keypoints.shape and found.dtype == np.float32
    inside = np.isfinite(keypoints).all(-1) & (keypoints >= 0).all(-1) & (keypoints < [24, 32]).all(-1)
    assert inside.sum() > 10 and (~inside).any()
    token = detector.model.patch_size / scale  # one token, in the images' pixels: (x, y)
    assert (np.abs(found[inside] - keypoints[inside]) <= token / 2 + 1e-4).all()
    # the token centres, mapped back: exactly where pose_maps put each keypoint
    centres = (np.floor(keypoints[inside] * scale / 8) + 0.5) * 8 / scale
    np.testing.assert_allclose(found[inside], centres, atol=1e-4)
    assert np.isnan(found[~inside]).all()
    assert detector.token_pixels(48) == 16.0  # half a token is RANSAC's tolerance, in the images' pixels
    # the real head, untrained here, still gives keypoints of the right shape for a PnP to read
    monkeypatch.undo()
    assert detector(images).shape == keypoints.shape


def test_paat_keypoints_as_the_camera_source_run_end_to_end(pick, tmp_path):
    data, checkpoints = pick
    run, detector = tmp_path / "paat", tmp_path / "detector.pt"
    shutil.copy(checkpoints["paat"], detector)  # this test trains it again in place
    # an untrained head: the run goes on, and says how little of the camera its input holds
    with pytest.warns(UserWarning, match=r"camera_input=paat gives the policy little of its camera: solved in "
                                         r"\d+/\d+ frames.*keypoint detector"):
        run_policy(config(data, run, "camera_input=paat", f"keypoint_detector={detector}", "eval_views=[cam0]"))
    with h5py.File(run / "policy_data.hdf5") as f:
        poses = f[f"data/demo_0/obs/{camera_pose_key('cam0')}"][()]
        assert poses.shape[1] == 10
        solved = poses[:, -1] == 1
        # each frame is flagged: unsolved ones are all zeros, solved ones a camera with orthonormal axes
        assert np.all(solved | (poses[:, -1] == 0)) and not poses[~solved].any()
        np.testing.assert_allclose(np.linalg.norm(poses[solved][:, 3:6], axis=1), 1, atol=1e-4)
        np.testing.assert_allclose(np.einsum("ij,ij->i", poses[solved][:, 3:6], poses[solved][:, 6:9]), 0, atol=1e-4)
        assert "paat:" in f.attrs["made_from"]
    # scored again later: an evaluation does not resume across a detector trained again at the same path
    from alignment.evaluate_policy import evaluate_policy

    def evaluation():
        with initialize_config_module("configs", version_base="1.3"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the untrained head's warning, said above
            return evaluate_policy(compose("evaluate_policy", overrides=[f"run_dir={run}", "rollouts=1",
                                                                         "eval_views=[cam0]", "horizon=2"]))

    assert evaluation() == evaluation()  # the second call finds it finished
    torch.save({**torch.load(detector, weights_only=False), "retrained": True}, detector)
    with pytest.raises(ValueError, match="other keypoint_detector_sha256"):
        evaluation()


def test_a_camera_input_goes_to_rollout_workers_without_its_episodes_tracker():
    import pickle
    import threading

    source = CameraPoseInput("arm", max_frames=8)
    source.tracker = threading.Lock()  # as a tracker holding a robosuite simulator, which does not pickle
    sent = pickle.loads(pickle.dumps(source))
    assert (sent.source, sent.max_frames, sent.tracker) == ("arm", 8, None) and source.tracker is not None


def test_an_oracle_input_needs_no_simulator_and_follows_the_extrinsics():
    extrinsics = np.eye(4)
    extrinsics[:3, 3] = [0.0, 0.0, 2.0]  # a camera at (0, 0, -2) looking down +z
    source = CameraPoseInput("extrinsics")
    poses = source.episode(None, np.eye(3), 32, None, None, np.stack([extrinsics, extrinsics]), np.zeros((2, 7)),
                           np.zeros((2, 2)))
    np.testing.assert_allclose(poses[0], [0, 0, -2, 1, 0, 0, 0, 1, 0, 1])


def test_a_trained_policy_is_scored_again_by_angle_and_an_interrupted_evaluation_resumes(pick, tmp_path, monkeypatch):
    import alignment.policy as policy_module
    from alignment.evaluate_policy import evaluate_policy

    data, _ = pick
    run = tmp_path / "trained"
    trained = run_policy(config(data, run, "camera_input=arm", "eval_views=[cam0]", "rollouts=2", "horizon=3"))

    def evaluation(*overrides):
        with initialize_config_module("configs", version_base="1.3"):
            return evaluate_policy(compose("evaluate_policy", overrides=[f"run_dir={run}", "rollouts=2", *overrides]))

    first = evaluation("eval_views=[cam0,train]")
    # the run's own test episodes from its own camera: the same outcome as when it was trained
    assert first["cam0"]["episode_seeds"] == trained["cam0"]["episode_seeds"]
    assert first["cam0"]["steps"] == trained["cam0"]["steps"]
    calls = []
    rollouts = policy_module.run_rollouts
    monkeypatch.setattr(policy_module, "run_rollouts", lambda *a, **k: calls.append(k["view"]) or rollouts(*a, **k))
    second = evaluation("eval_views=[cam0,train,beyond45]")
    assert calls == ["beyond45"] and second["train"] == first["train"]  # finished views are kept, not rerun
    saved = json.load(open(run / "evaluation.json"))
    assert set(saved["rollouts"]) == {"cam0", "train", "beyond45"} and saved["rollouts"] == second
    assert all(c["bin"] == "beyond45" for c in saved["rollouts"]["beyond45"]["cameras"])
    assert (run / "evaluation_by_angle.png").stat().st_size > 1000
    calls.clear()
    assert evaluation("eval_views=[train]") == {"train": first["train"]} and not calls  # finished: nothing rerun
    # killed after a view's first episode: the next call runs only its second, and ends where one call does
    import alignment.evaluate_policy as evaluate_module

    write = evaluate_module.atomic_write_text

    def write_then_kill(path, text):
        write(path, text)
        if any(len(v.get("partial", {}).get("successes", [])) == 1 for v in json.loads(text)["rollouts"].values()):
            raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "atomic_write_text", write_then_kill)
    with pytest.raises(KeyboardInterrupt):
        evaluation("eval_views=[elev+15]")
    monkeypatch.setattr(evaluate_module, "atomic_write_text", write)
    assert len(json.load(open(run / "evaluation.json"))["rollouts"]["elev+15"]["partial"]["seeds"]) == 1
    continued = []
    monkeypatch.setattr(policy_module, "run_rollouts",
                        lambda *a, **k: continued.append(k["done"] and len(k["done"].successes)) or rollouts(*a, **k))
    resumed = evaluation("eval_views=[elev+15]")["elev+15"]
    assert resumed == evaluation("eval_views=[elev+15]", f"out={tmp_path / 'once.json'}")["elev+15"]
    assert continued == [1, None]  # the resumed call began at the second episode, the single call at the first
    assert resumed["episodes"] == 2 and all(c["bin"] == "elev+15" for c in resumed["cameras"])
    with pytest.raises(ValueError, match="other rollouts_per_view"):
        evaluation("eval_views=[beyond60]", "rollouts=3")
    weights = (run / "policy.pt").read_bytes()
    policy_file = torch.load(run / "policy.pt", weights_only=False)  # the policy trained again in place
    torch.save({**policy_file, "retrained": True}, run / "policy.pt")
    evaluation("eval_views=[train]", f"out={tmp_path / 'fresh.json'}")  # it still loads
    with pytest.raises(ValueError, match="other policy_sha256"):
        evaluation("eval_views=[train]")
    (run / "policy.pt").write_bytes(weights)
    saved = json.load(open(run / "evaluation.json"))
    del saved["policy_sha256"]  # as an evaluation written before the hash was kept: it resumes
    (run / "evaluation.json").write_text(json.dumps(saved))
    calls.clear()
    assert evaluation("eval_views=[train]") == {"train": first["train"]} and not calls
    with pytest.raises(FileNotFoundError, match="finished alignment.policy run"):
        evaluation("eval_views=[train]", f"out={tmp_path / 'x.json'}", "run_dir=" + str(tmp_path / "nothing"))


def test_a_run_made_before_the_camera_input_existed_is_evaluated_and_resumed_as_it_was(pick, tmp_path):
    from omegaconf import OmegaConf

    from alignment.evaluate_policy import evaluate_policy
    from alignment.policy import resume_key

    data, _ = pick
    run = tmp_path / "older"
    run_policy(config(data, run, "eval_views=[cam0]", "rollouts=1", "horizon=2"))
    saved = OmegaConf.load(run / "config.yaml")
    for key in ("camera_input", "keypoint_detector", "frame"):  # as an older run's config.yaml
        del saved[key]
    for key in ("stem", "paat_after", "paat_target"):
        del saved.encoder[key]
    (run / "config.yaml").write_text(OmegaConf.to_yaml(saved))
    with initialize_config_module("configs", version_base="1.3"):
        results = evaluate_policy(compose("evaluate_policy", overrides=[f"run_dir={run}", "rollouts=1",
                                                                         "eval_views=[beyond15]"]))
    assert results["beyond15"]["episodes"] == 1
    # an older run's training state resumes: its key does not gain the new keys while they keep their defaults
    assert "camera_input" not in resume_key(config(data, run)) and "camera_input" in resume_key(
        config(data, run, "camera_input=arm"))
    assert resume_key(config(data, run))["encoder"] == dict(saved.encoder)
    assert resume_key(config(data, run, "encoder.stem=conv"))["encoder"]["stem"] == "conv"
    assert resume_key(config(data, run, "encoder.paat_target=p3d_softmax"))["encoder"]["paat_target"] == "p3d_softmax"
    assert "frame" not in resume_key(config(data, run)) and resume_key(
        config(data, run, "camera_input=arm", "frame=camera"))["frame"] == "camera"


def test_a_run_killed_during_its_test_rollouts_continues_at_the_next_episode(pick, tmp_path, monkeypatch):
    import alignment.policy as policy_module

    data, _ = pick
    args = ("eval_views=[cam0,beyond15]", "rollouts=2", "horizon=3")
    write = policy_module.atomic_write_text

    def write_then_kill(path, text):
        write(path, text)
        if path.endswith(policy_module.TEST_PROGRESS) and '"beyond15"' in text:  # after its first episode
            raise KeyboardInterrupt

    monkeypatch.setattr(policy_module, "atomic_write_text", write_then_kill)
    with pytest.raises(KeyboardInterrupt):
        run_policy(config(data, tmp_path / "run", *args))
    monkeypatch.setattr(policy_module, "atomic_write_text", write)
    saved = json.load(open(tmp_path / "run" / policy_module.TEST_PROGRESS))
    progress = saved["rollouts"]
    assert "success_rate" in progress["cam0"] and len(progress["beyond15"]["partial"]["seeds"]) == 1
    assert not (tmp_path / "run" / "rollouts.json").exists()
    # the wall-clock counts every session: as if the killed session had tested for 1000 s
    (tmp_path / "run" / policy_module.TEST_PROGRESS).write_text(json.dumps({**saved, "seconds": 1000.0}))
    trained_for = json.load(open(tmp_path / "run" / "training.json"))["seconds"]
    continued = []
    rollouts = policy_module.run_rollouts
    monkeypatch.setattr(policy_module, "run_rollouts",
                        lambda *a, **k: continued.append((k["view"], k["done"] and len(k["done"].successes)))
                        or rollouts(*a, **k))
    resumed = run_policy(config(data, tmp_path / "run", *args))
    assert continued == [("beyond15", 1)]  # the finished view kept, the other continued at its second episode
    monkeypatch.setattr(policy_module, "run_rollouts", rollouts)
    assert resumed == run_policy(config(data, tmp_path / "whole", *args))  # where an uninterrupted run ends
    assert not (tmp_path / "run" / policy_module.TEST_PROGRESS).exists()
    final = json.load(open(tmp_path / "run" / "rollouts.json"))
    assert final["rollouts"] == resumed
    assert final["wall_seconds"]["train"] == trained_for > 0 and final["wall_seconds"]["test_rollouts"] > 1000
    assert final["threads"] == torch.get_num_threads()  # CPU runs reproduce only at the same thread count
