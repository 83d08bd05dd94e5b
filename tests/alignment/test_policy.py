"""BC with robomimic on frozen embeddings, rolled out live: a tiny end-to-end run and its bad input."""
import json
import os
import warnings

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
from hydra import compose, initialize_config_module

from alignment.policy import run_policy, warn_if_training_camera_moves
from alignment.task import train
from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset

TINY = ["model.depth=1", "model.patch_size=8", "model.proj_dim=16", "train.epochs=1", "train.steps_per_epoch=1",
        "train.batch_frames=8"]


@pytest.fixture(scope="module")
def pick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy")
    data = str(folder / "pick.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=2, progress=False)
    minecraft = str(folder / "minecraft.hdf5")
    generate_dataset("minecraft", minecraft, episodes=3, image_size=32, num_views=2, progress=False)
    checkpoints = {}
    for name, env, source, extra in (("paab", "pick", data, []), ("small", "pick", data, ["model.img_size=16"]),
                                     ("minecraft", "minecraft", minecraft, [])):
        with initialize_config_module("configs", version_base="1.3"):
            cfg = compose("train", overrides=[f"env={env}", "method=paab", f"data={source}",
                                              f"run_dir={folder / name}", *TINY, *extra])
        train(cfg)
        checkpoints[name] = str(folder / name / "checkpoints" / "best.pt")
    return data, checkpoints


def policy_config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("policy", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", "bc.epochs=1",
                                            "bc.steps_per_epoch=2", "bc.batch_size=8", "rollouts=2", "videos=1",
                                            "eval_views=[cam0,held0]", *overrides])


def test_a_policy_on_embeddings_trains_with_robomimic_and_rolls_out_with_the_encoder_in_the_loop(pick, tmp_path):
    data, checkpoints = pick
    run = tmp_path / "run"
    results = run_policy(policy_config(data, run, f"checkpoint={checkpoints['paab']}"))
    saved = json.load(open(run / "rollouts.json"))
    assert saved["rollouts"] == results and set(results) == {"cam0", "held0"}
    assert saved["keys"][-1] == "embedding"
    for view, r in results.items():
        assert r["episodes"] == 2 and all(s >= 1 for s in r["steps"])
        # every step's observation went through the encoder: the simulator stepped with it in the loop
        assert r["frames_encoded"] == sum(r["steps"])
        video = run / "videos" / f"{view}_rollout0.mp4"
        assert os.path.getsize(video) > 1000
        frame = imageio.get_reader(str(video)).get_data(0)
        assert frame.shape == (32, 64, 3)  # the evaluation camera beside the overview camera
    assert not (run / "videos" / "cam0_rollout1.mp4").exists()  # videos=1
    with h5py.File(run / "bc_data.hdf5") as f:  # robomimic's layout, next_obs included
        assert f["data/demo_0/obs/embedding"].shape[1] == 16
        assert "embedding" in f["data/demo_0/next_obs"] and "object" in f["data/demo_0/next_obs"]
        assert not [k for k in f["data/demo_0/obs"] if k.endswith("_image")]  # low-dim only
    assert not (run / "embedded.hdf5").exists()
    assert os.path.exists(run / "policy.pt") and os.path.exists(run / "config.yaml")


def test_a_policy_on_two_training_cameras_sees_each_demo_from_both(pick, tmp_path):
    data, checkpoints = pick
    run = tmp_path / "two"
    run_policy(policy_config(data, run, f"checkpoint={checkpoints['paab']}", "train_views=[cam0,cam1]",
                             "eval_views=[held0]", "rollouts=1", "videos=0"))
    with EpisodeFile(data) as src, h5py.File(run / "bc_data.hdf5") as f:
        assert len(f["data"]) == 2 * len(src.demos)
        assert f["data/demo_0"].attrs["source"] == "demo_0 from cam0" and f["data/demo_1"].attrs["source"] == "demo_0 from cam1"
        # the two copies share actions and proprioception; their embeddings differ, as the cameras do
        np.testing.assert_array_equal(f["data/demo_0/actions"][()], f["data/demo_1/actions"][()])
        assert not np.allclose(f["data/demo_0/obs/embedding"][()], f["data/demo_1/obs/embedding"][()])
        train = {n.decode() for n in f["mask/train"][()]}
        source_train = {n.decode() for n in src.file["mask/train"][()]}
        assert train == {f"demo_{2 * int(d.split('_')[1]) + j}" for d in source_train for j in (0, 1)}


def test_a_policy_without_vision_encodes_nothing(pick, tmp_path):
    data, _ = pick
    results = run_policy(policy_config(data, tmp_path / "proprio", "obs=proprio", "videos=0", "bc.normalize_obs=true"))
    assert results["cam0"]["frames_encoded"] == 0 and results["cam0"]["episodes"] == 2
    # the camera cannot matter, so it rolls out once; rolled out from another camera it gives the same episodes
    assert results["held0"] == {**results["cam0"], "same_as": "cam0"}
    alone = run_policy(policy_config(data, tmp_path / "held0", "obs=proprio", "videos=0", "eval_views=[held0]"))
    assert alone["held0"]["steps"] == results["cam0"]["steps"]
    # robomimic's observation normalisation: statistics of the train split, saved, and applied at rollout
    from alignment.bc import load_bc
    policy, saved = load_bc(str(tmp_path / "proprio" / "policy.pt"))
    stats = policy.obs_normalization_stats
    assert set(stats) == set(saved["keys"])
    with h5py.File(data) as f:
        eef = np.concatenate([f[f"data/{d.decode()}/obs/robot0_eef_pos"][()] for d in f["mask/train"][()]])
    np.testing.assert_allclose(stats["robot0_eef_pos"]["mean"][0], eef.mean(0), atol=1e-4)
    run_policy(policy_config(data, tmp_path / "plain", "obs=proprio", "videos=0", "rollouts=1"))  # off by default
    assert load_bc(str(tmp_path / "plain" / "policy.pt"))[0].obs_normalization_stats is None


def test_bad_policy_input_is_named(pick, tmp_path):
    data, checkpoints = pick
    with pytest.raises(ValueError, match="trained on 16 px frames.*render 32 px"):
        run_policy(policy_config(data, tmp_path / "a", f"checkpoint={checkpoints['small']}"))
    with pytest.raises(ValueError, match="trained with keypoints .*'head'.* it belongs to another env"):
        run_policy(policy_config(data, tmp_path / "f", f"checkpoint={checkpoints['minecraft']}"))
    with pytest.raises(ValueError, match="no views \\['cam9'\\]"):
        run_policy(policy_config(data, tmp_path / "b", f"checkpoint={checkpoints['paab']}", "eval_views=[cam9]"))
    with pytest.raises(ValueError, match="needs checkpoint"):
        run_policy(policy_config(data, tmp_path / "c"))
    with pytest.raises(ValueError, match="fewer than one batch"):
        run_policy(policy_config(data, tmp_path / "e", "obs=proprio", "bc.batch_size=100000"))
    with pytest.raises(ValueError, match="unknown policy observation"):
        run_policy(policy_config(data, tmp_path / "d", "obs=pixels"))
    with pytest.raises(ValueError, match="not a policy"):
        from alignment.bc import load_bc
        load_bc(checkpoints["paab"])


def test_a_training_camera_that_moves_between_demos_is_named(pick, tmp_path):
    data, _ = pick  # the default sector rig draws cam0 anew each episode
    with EpisodeFile(data) as f, pytest.warns(UserWarning, match="camera cam0 moves between demos"):
        warn_if_training_camera_moves(f, "cam0")
    fixed = str(tmp_path / "fixed.hdf5")
    generate_dataset("pick", fixed, episodes=2, image_size=32, num_views=1, progress=False,
                     rig_overrides={"sampling": "ring", "jitter_azimuth": 0, "jitter_elevation": 0, "jitter_radius": 0})
    with EpisodeFile(fixed) as f, warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_training_camera_moves(f, "cam0")
