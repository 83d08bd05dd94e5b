"""Re-rendering, the gymnasium API and the preview video."""
import hashlib
import json
import shutil

import gymnasium
import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hydra import compose, initialize_config_module

import envs  # noqa: F401  (registers the gymnasium ids)
from envs.commands import demos_in
from envs.dataset_io import EpisodeFile, merge_files, shard_path
from envs.generate import generate_dataset
from envs.preview import write_preview
from envs.rerender import rerender_dataset


@pytest.fixture(scope="module")
def lift_states_only(tmp_path_factory):
    """A Lift file the generator writes in robomimic's original layout: states, actions, low-dim
    observations and model_file, no images or keypoints."""
    path = str(tmp_path_factory.mktemp("rr") / "lift_raw.hdf5")
    generate_dataset("lift", path, episodes=1, store_views=False, progress=False)
    with h5py.File(path) as f:
        obs = f["data/demo_0/obs"]
        assert not [k for k in obs if k.endswith(("_image", "_keypoints", "_robot_mask"))]
        assert "robot0_eef_pos" in obs and "model_file" in f["data/demo_0"].attrs
    return path


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_rerender_a_states_only_file_from_a_new_rig(lift_states_only, tmp_path):
    before = digest(lift_states_only)
    out = str(tmp_path / "views.hdf5")
    rerender_dataset(lift_states_only, out, num_views=2, image_size=32, progress=False)
    assert digest(lift_states_only) == before
    with EpisodeFile(out) as f:
        assert f.views == ["cam0", "cam1", "first_person", "held0", "held1"]  # the default rig holds 2 out
        t = f.num_samples("demo_0")
        kp = f.obs("demo_0", "cam0_keypoints")
        # the close Lift rig may leave the shoulder out of frame (NaN), never the wrist and fingers
        assert kp.shape == (t, 11, 2) and np.isfinite(kp[:, 5:]).all() and np.isfinite(kp).mean() > 0.6
        image = f.obs("demo_0", "cam1_image")
        assert image.shape == (t, 32, 32, 3) and image.std() > 5
        assert f.demo("demo_0")["states"].shape[0] == t
        assert "robot0_eef_pos" in f.demo("demo_0")["obs"]


def test_rerender_without_masks_gives_the_same_frames_and_resumes_only_alike(lift_states_only, tmp_path):
    with_masks, without = str(tmp_path / "masks.hdf5"), str(tmp_path / "no_masks.hdf5")
    rerender_dataset(lift_states_only, with_masks, num_views=1, image_size=32, progress=False)
    rerender_dataset(lift_states_only, without, num_views=1, image_size=32, progress=False, masks=False)
    with EpisodeFile(with_masks) as a, EpisodeFile(without) as b:
        keys = set(b.file["data/demo_0/obs"])
        assert not [k for k in keys if k.endswith("_mask")] and "cam0_robot_mask" in a.file["data/demo_0/obs"]
        assert "first_person_image" in keys
        for key in ("cam0_image", "first_person_image", "cam0_keypoints"):
            np.testing.assert_array_equal(a.obs("demo_0", key), b.obs("demo_0", key))
    with pytest.raises(ValueError, match="other settings.*masks"):
        rerender_dataset(lift_states_only, with_masks, num_views=1, image_size=32, progress=False, masks=False)


def test_rerender_without_model_file_names_it(lift_states_only, tmp_path):
    raw = str(tmp_path / "no_model.hdf5")
    with open(lift_states_only, "rb") as src, open(raw, "wb") as dst:
        dst.write(src.read())
    with h5py.File(raw, "a") as f:
        del f["data/demo_0"].attrs["model_file"]
    with pytest.raises(ValueError, match="model_file"):
        rerender_dataset(raw, str(tmp_path / "out.hdf5"), num_views=1, image_size=32, progress=False)


def test_rerender_a_raw_robomimic_file_with_no_obs_group(lift_states_only, tmp_path):
    """robomimic's downloadable raw files hold states, actions, rewards, dones and model_file only."""
    raw = str(tmp_path / "raw.hdf5")
    with open(lift_states_only, "rb") as src, open(raw, "wb") as dst:
        dst.write(src.read())
    with h5py.File(raw, "a") as f:
        del f["data/demo_0/obs"]
        del f["data/demo_0/next_obs"]
        del f.attrs["generation"]
    out = str(tmp_path / "views.hdf5")
    rerender_dataset(raw, out, num_views=1, image_size=32, progress=False)
    with EpisodeFile(out) as f:
        assert f.views == ["cam0", "first_person", "held0", "held1"]
        assert f.view_obs("demo_0", "cam0", "image").std() > 5
        with EpisodeFile(lift_states_only) as original:  # low-dim obs recomputed from the states
            np.testing.assert_allclose(f.obs("demo_0", "robot0_eef_pos"), original.obs("demo_0", "robot0_eef_pos"),
                                       atol=1e-6)
            # No next_obs to copy: next_obs[t] is obs[t + 1], and the last one comes from stepping the final
            # action from the last state, as robomimic's dataset_states_to_obs does; the controller's own
            # state is not in `states`, so that one row is close, not exact.
            for key in ("robot0_eef_pos", "object"):
                again, first = f.demo("demo_0")["next_obs"][key][()], original.demo("demo_0")["next_obs"][key][()]
                np.testing.assert_array_equal(again[:-1], f.obs("demo_0", key)[1:])
                np.testing.assert_allclose(again[-1], first[-1], atol=0.02, err_msg=key)


@pytest.mark.parametrize("env", ["pick", "lift", "can", "minecraft"])
def test_rerender_with_the_same_settings_reproduces_the_file(env, tmp_path):
    data, out = str(tmp_path / "gen.hdf5"), str(tmp_path / "again.hdf5")
    generate_dataset(env, data, episodes=1, image_size=32, num_views=2, seed=3, progress=False)
    rerender_dataset(data, out, progress=False)
    with EpisodeFile(data) as a, EpisodeFile(out) as b:
        assert a.views == b.views
        for view in a.views:
            for kind in ("image", "robot_mask", "keypoints"):
                np.testing.assert_array_equal(a.view_obs("demo_0", view, kind), b.view_obs("demo_0", view, kind),
                                              err_msg=f"{env} {view} {kind}")
        # robomimic's next_obs: the next step's low-dim obs, then the one after the final action
        next_a, next_b = a.demo("demo_0")["next_obs"], b.demo("demo_0")["next_obs"]
        assert set(next_a) == set(next_b) and "robot0_eef_pos" in next_a or env == "minecraft"
        for key in next_a:
            obs = a.demo("demo_0")["obs"][key][()]
            np.testing.assert_array_equal(next_a[key][:-1], obs[1:], err_msg=key)
            # As reproducible as the observation itself (joint accelerations come from the step before,
            # which `states` do not hold, so robosuite's *_acc and proprio-state are not).
            if np.allclose(b.demo("demo_0")["obs"][key][()], obs, atol=1e-5):
                np.testing.assert_allclose(next_b[key][()], next_a[key][()], atol=1e-5, err_msg=f"{env} {key}")


def test_a_rerender_plans_the_demos_its_input_holds(tmp_path):
    data, gaps = str(tmp_path / "gen.hdf5"), str(tmp_path / "gaps.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=1, seed=3, progress=False)
    shutil.copyfile(data, gaps)
    with h5py.File(gaps, "a") as f:  # an input with a gap in its demo indices
        del f["data/demo_1"]
    out = str(tmp_path / "views.hdf5")
    for shard in (0, 1):
        rerender_dataset(gaps, out, progress=False, shard=shard, num_shards=2)
    assert demos_in(shard_path(out, 1, 2)) == 0
    assert merge_files([shard_path(out, s, 2) for s in (0, 1)], str(tmp_path / "merged.hdf5")) == 2


def test_a_rerender_of_an_input_that_lost_demos_plans_what_it_holds(tmp_path):
    data, out = str(tmp_path / "gen.hdf5"), str(tmp_path / "views.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=1, seed=3, progress=False)
    rerender_dataset(data, out, progress=False)
    with h5py.File(data, "a") as f:  # the input pruned in place after its re-render
        del f["data/demo_1"]
    summary = rerender_dataset(data, out, progress=False)
    assert summary["demos"] == 0 and summary["skipped_existing"] == 2  # nothing rendered again
    with h5py.File(out) as f:  # else a merge would ask for demo_1, which no re-render can make now
        assert json.loads(f.attrs["planned_demos"]) == [[0, 1], [2, 3]]


def test_sharded_rerender_merges_into_the_unsharded_file(tmp_path):
    data = str(tmp_path / "gen.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=2, seed=3, progress=False)
    whole, out = str(tmp_path / "whole.hdf5"), str(tmp_path / "views.hdf5")
    rig = {"sampling": "sectors", "radius": None}  # None keeps the input's value
    rerender_dataset(data, whole, num_views=3, rig_overrides=rig, progress=False)
    for shard in (0, 1):
        rerender_dataset(data, out, num_views=3, rig_overrides=rig, progress=False, shard=shard, num_shards=2)
    with EpisodeFile(shard_path(out, 0, 2)) as f:
        assert f.demos == ["demo_0", "demo_2"]
    merged = str(tmp_path / "merged.hdf5")
    with EpisodeFile(shard_path(out, 0, 2)) as f:  # the whole job's plan: the input's demos
        assert json.loads(f.file.attrs["planned_demos"]) == [[0, 3]]
    with pytest.raises(ValueError, match=r"1 of the 3 demos .*\(demo_1; shard 1 of num_shards=2\)"):
        merge_files([shard_path(out, 0, 2)], merged)  # re-rendered shards are checked too
    assert merge_files([shard_path(out, s, 2) for s in (0, 1)], merged) == 3
    with EpisodeFile(whole) as a, EpisodeFile(merged) as b, EpisodeFile(data) as src:
        assert a.views == b.views and "cam2" in a.views and a.settings["rig"]["radius"] == src.settings["rig"]["radius"]
        for demo in a.demos:
            np.testing.assert_array_equal(a.view_obs(demo, "cam2", "image"), b.view_obs(demo, "cam2", "image"))
    # the merge is the whole job: the same command run unsharded (a grid's) finds it finished
    again = rerender_dataset(data, merged, num_views=3, rig_overrides=rig, progress=False)
    assert (again["skipped_existing"], again["frames"]) == (3, 0)


def test_the_documented_rig_overrides_compose_for_generate_and_rerender():
    with initialize_config_module("configs", version_base="1.3"):
        for name in ("generate", "rerender"):
            cfg = compose(name, overrides=["rig.radius=1.6", "rig.sampling=sectors", "input=a", "out=b"]
                          if name == "rerender" else ["rig.radius=1.6", "rig.sampling=sectors"])
            assert cfg.rig.radius == 1.6 and cfg.rig.sampling == "sectors" and cfg.rig.height is None


@pytest.mark.parametrize("env_id", ["envs/Pick-v0", "envs/Lift-v0", "envs/Minecraft-v0"])
def test_gymnasium_env_passes_check_env(env_id):
    env = gymnasium.make(env_id, image_size=32, num_views=2, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    obs, _ = env.reset(seed=0)
    assert obs["cam0_image"].shape == (32, 32, 3)
    assert obs["cam0_keypoints"].shape == (11, 2)
    assert env.unwrapped.views == ["cam0", "cam1", "held0", "held1", "first_person"]
    assert env.render().shape == (32, 32 * 5, 3)
    env.close()


def test_preview_writes_a_video_grid(tmp_path):
    data = str(tmp_path / "pick.hdf5")
    generate_dataset("pick", data, episodes=1, image_size=32, num_views=2, progress=False)
    for ext in ("gif", "mp4"):
        out = write_preview(data, 0, str(tmp_path / f"preview.{ext}"))
        frames = imageio.mimread(out)
        assert len(frames) > 5 and frames[0].shape[0] >= 128


def test_rerender_a_model_file_written_on_another_machine(lift_states_only, tmp_path):
    """robomimic's files carry asset paths of the machine that recorded them."""
    import robosuite

    local = robosuite.__path__[0]
    moved = str(tmp_path / "moved.hdf5")
    with open(lift_states_only, "rb") as src, open(moved, "wb") as dst:
        dst.write(src.read())
    with h5py.File(moved, "a") as f:
        xml = f["data/demo_0"].attrs["model_file"]
        assert local in xml
        f["data/demo_0"].attrs["model_file"] = xml.replace(local, "/home/someone/miniconda3/lib/robosuite")
    out = str(tmp_path / "views.hdf5")
    rerender_dataset(moved, out, num_views=1, image_size=32, progress=False)
    with EpisodeFile(out) as f:
        assert f.view_obs("demo_0", "cam0", "image").std() > 5


@pytest.mark.parametrize("env", ["pick", "lift"])
def test_the_gym_env_shows_the_frames_generate_stores(env, tmp_path):
    # A live policy sees what training data holds: same episode seed, same state, same camera.
    from envs.gym_env import MultiViewEnv

    path = str(tmp_path / "gen.hdf5")
    generate_dataset(env, path, episodes=1, image_size=32, num_views=2, seed=5, progress=False)
    views = ["cam1", "held0", "first_person"]
    with EpisodeFile(path) as f:
        seed, actions = int(f.demo_attr("demo_0", "seed")), f.array("demo_0", "actions")
        stored = {v: f.view_obs("demo_0", v, "image") for v in views}
        eef = f.obs("demo_0", "robot0_eef_pos")
    live = MultiViewEnv(env, image_size=32, num_views=2, views=views)
    obs, info = live.reset(options={"episode_seed": seed})
    assert info["episode_seed"] == seed and "cam0_image" not in obs  # only the asked-for views render
    for t in range(4):
        for view in views:  # bit for bit: a seed makes the same episode in any process (test_reproducible.py)
            np.testing.assert_array_equal(obs[f"{view}_image"], stored[view][t], err_msg=f"{view} step {t}")
        np.testing.assert_allclose(obs["robot0_eef_pos"], eef[t], atol=1e-6)
        obs, *_ = live.step(actions[t])
    live.close()
    watched = MultiViewEnv(env, image_size=32, num_views=2, views=["cam0", "overview"])
    rigs = [(watched.reset(options={"episode_seed": s}), watched.rig)[1] for s in (1, 2)]
    assert [c.name for c in rigs[0]][-1] == "overview"
    np.testing.assert_array_equal(rigs[0][-1].extrinsics, rigs[1][-1].extrinsics)  # fixed across episodes
    assert not np.array_equal(rigs[0][0].extrinsics, rigs[1][0].extrinsics)  # the rig's own cameras move
    obs, _ = watched.reset(options={"episode_seed": 3})
    on_demand = MultiViewEnv(env, image_size=32, num_views=2, views=["cam0"])  # not a view, rendered when asked
    mine, _ = on_demand.reset(options={"episode_seed": 3})
    assert "overview_image" not in mine
    np.testing.assert_array_equal(on_demand.overview_image(), obs["overview_image"])
    np.testing.assert_array_equal(mine["cam0_image"], obs["cam0_image"])
    on_demand.close()
    watched.close()
    with pytest.raises(ValueError, match="not in"):
        MultiViewEnv(env, image_size=32, num_views=2, views=["cam7"])


@pytest.mark.parametrize("env", ["pick", "lift"])
def test_an_env_without_masks_shows_the_same_frames_and_no_masks(env):
    # rollouts of image policies skip the segmentation pass; what they see must not change
    from envs.gym_env import MultiViewEnv

    views = ["cam1", "first_person", "overview"]
    full = MultiViewEnv(env, image_size=32, num_views=2, views=views)
    bare = MultiViewEnv(env, image_size=32, num_views=2, views=views, masks=False)
    masked = {f"{v}_{m}" for v in views for m in ("robot_mask", "object_mask")}
    assert masked <= set(full.observation_space) and not masked & set(bare.observation_space)
    a, _ = full.reset(options={"episode_seed": 7})
    b, _ = bare.reset(options={"episode_seed": 7})
    try:
        for t in range(3):
            assert set(b) == set(bare.observation_space) == set(a) - masked
            assert a["cam1_robot_mask"].any()  # the full env still segments
            for key in b:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key} step {t}")
            action = full.scripted_action()
            a, b = full.step(action)[0], bare.step(action)[0]
    finally:
        full.close()
        bare.close()
