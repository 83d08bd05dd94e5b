"""Episode files: layout, robomimic compatibility, resume, shards, bad input."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from envs import dataset_io
from envs.dataset_io import DatasetFormatError, EpisodeFile, shard_path
from envs.generate import generate_dataset

SMALL = dict(env="pick", image_size=32, num_views=2, first_person=True, num_workers=1, progress=False)


@pytest.fixture(scope="module")
def pick_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pick") / "pick.hdf5")
    summary = generate_dataset(out=path, episodes=3, **SMALL)
    assert summary["episodes"] == 3 and summary["success_rate"] == 1.0
    return path


def test_a_digest_tells_demos_made_again_otherwise(tmp_path, pick_file):
    copy, other = str(tmp_path / "copy.hdf5"), str(tmp_path / "other.hdf5")
    shutil.copyfile(pick_file, copy)
    with EpisodeFile(pick_file) as a, EpisodeFile(copy) as b:
        assert a.digest() == b.digest()  # where the file lies is not what it holds
    with h5py.File(copy, "a") as f:
        del f["data/demo_2"]
    generate_dataset(out=other, episodes=3, **{**SMALL, "seed": 1})
    with EpisodeFile(pick_file) as a, EpisodeFile(copy) as fewer, EpisodeFile(other) as reseeded:
        assert len({a.digest(), fewer.digest(), reseeded.digest()}) == 3


def test_layout_and_attributes(pick_file):
    with h5py.File(pick_file) as f:
        data = f["data"]
        assert json.loads(data.attrs["env_args"])["env_name"] == "envs/Pick-v0"
        assert sorted(data) == ["demo_0", "demo_1", "demo_2"]
        demo = data["demo_0"]
        t = demo.attrs["num_samples"]
        assert data.attrs["total"] == sum(data[d].attrs["num_samples"] for d in data)
        assert bool(demo.attrs["success"]) and "seed" in demo.attrs
        assert demo["actions"].shape == (t, 4) and demo["rewards"].shape == (t,) and demo["dones"][-1] == 1
        obs = demo["obs"]
        for view in ("cam0", "cam1", "first_person"):
            assert obs[f"{view}_image"].shape == (t, 32, 32, 3) and obs[f"{view}_image"].dtype == np.uint8
            assert obs[f"{view}_image"].compression is not None
            assert obs[f"{view}_keypoints"].shape == (t, 11, 2) and obs[f"{view}_keypoints"].dtype == np.float32
            assert obs[f"{view}_robot_mask"].dtype == bool
            assert obs[f"{view}_extrinsics"].shape == (t, 4, 4)
        assert "robot0_eef_pos" in obs
        assert json.loads(f.attrs["keypoint_names"])[0] == "base"
        file_cams = json.loads(f.attrs["cameras"])
        assert set(file_cams) == {"cam0", "cam1", "held0", "held1", "first_person"} and file_cams["cam1"]["image_size"] == [32, 32]
        cams = json.loads(demo.attrs["cameras"])
        assert np.array(cams["cam0"]["intrinsics"]).shape == (3, 3) and cams["cam0"]["image_size"] == [32, 32]
        assert [m.decode() for m in f["mask/train"][()]] == ["demo_0"]
        assert [m.decode() for m in f["mask/valid"][()]] == ["demo_1"]
        assert [m.decode() for m in f["mask/test"][()]] == ["demo_2"]


def test_robomimic_sequence_dataset_loads_the_file(pick_file):
    import robomimic.utils.obs_utils as ObsUtils
    from robomimic.utils.dataset import SequenceDataset

    ObsUtils.initialize_obs_modality_mapping_from_dict(
        {"low_dim": ["robot0_eef_pos", "cam0_keypoints"], "rgb": ["cam0_image"]})
    ds = SequenceDataset(
        hdf5_path=pick_file, obs_keys=["robot0_eef_pos", "cam0_keypoints", "cam0_image"],
        dataset_keys=["actions", "rewards", "dones"], load_next_obs=False, frame_stack=1, seq_length=4,
        pad_frame_stack=True, pad_seq_length=True, get_pad_mask=False, goal_mode=None,
        hdf5_cache_mode=None, hdf5_use_swmr=True, hdf5_normalize_obs=False, filter_by_attribute="train",
    )
    item = ds[0]
    assert item["obs"]["cam0_image"].shape == (4, 32, 32, 3)
    assert item["actions"].shape == (4, 4)


@pytest.fixture(scope="module")
def lift_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lift") / "lift.hdf5")
    generate_dataset("lift", path, episodes=1, store_views=False, progress=False)
    return path


@pytest.mark.parametrize("algo", ["bc", "bcq", "cql", "iql"])
@pytest.mark.parametrize("env", ["pick", "lift"])
def test_robomimic_default_configs_load_the_file_unchanged(pick_file, lift_file, env, algo):
    # Offline-RL configs set train.hdf5_load_next_obs, so SequenceDataset reads data/demo_N/next_obs.
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils
    from robomimic.config import config_factory

    path = {"pick": pick_file, "lift": lift_file}[env]
    config = config_factory(algo)
    with config.values_unlocked():
        config.train.data = path
    ObsUtils.initialize_obs_utils_with_config(config)
    dataset = TrainUtils.dataset_factory(config, config.all_obs_keys, filter_by_attribute="train" if env == "pick" else None)
    item = dataset[0]
    assert set(item["obs"]) == set(config.all_obs_keys)
    assert config.train.hdf5_load_next_obs == (algo != "bc")
    if config.train.hdf5_load_next_obs:
        assert set(item["next_obs"]) == set(config.all_obs_keys)
        with EpisodeFile(path) as f:
            obs, nxt = f.demo("demo_0")["obs"]["object"][()], f.demo("demo_0")["next_obs"]["object"][()]
        np.testing.assert_array_equal(nxt[:-1], obs[1:])


@pytest.mark.parametrize("env", ["pick", "minecraft"])
def test_interrupted_generation_resumes_with_only_missing_demos(tmp_path, monkeypatch, env):
    path = str(tmp_path / f"{env}.hdf5")
    real_add = dataset_io.EpisodeWriter.add
    calls = {"n": 0}

    def add_then_interrupt(self, index, episode):
        real_add(self, index, episode)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(dataset_io.EpisodeWriter, "add", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out=path, episodes=2, **{**SMALL, "env": env})
    monkeypatch.setattr(dataset_io.EpisodeWriter, "add", real_add)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    with EpisodeFile(path) as f:
        assert f.demos == ["demo_0"]
        first = f.obs("demo_0", "cam0_image")
    summary = generate_dataset(out=path, episodes=2, **{**SMALL, "env": env})
    assert summary["episodes"] == 1  # only the missing demo was made
    with EpisodeFile(path) as f:
        assert f.demos == ["demo_0", "demo_1"]
        np.testing.assert_array_equal(f.obs("demo_0", "cam0_image"), first)


def test_shards_and_merge_equal_a_single_run(tmp_path, pick_file):
    out = str(tmp_path / "pick.hdf5")
    for shard in (0, 1):
        generate_dataset(out=out, episodes=3, shard=shard, num_shards=2, **SMALL)
    with EpisodeFile(shard_path(out, 0, 2)) as f:
        assert f.demos == ["demo_0", "demo_2"]
    merged = str(tmp_path / "merged.hdf5")
    assert dataset_io.merge_files([shard_path(out, 0, 2)], merged, partial=True) == 2
    assert dataset_io.merge_files([shard_path(out, s, 2) for s in (0, 1)], merged) == 3  # into it: the rest joins
    with EpisodeFile(merged) as m, EpisodeFile(pick_file) as single:
        assert m.demos == single.demos and m.split("test") == single.split("test")
        for key in ("keypoint_names", "views", "cameras"):
            assert m.file.attrs[key] == single.file.attrs[key], key
        assert m.env_args == single.env_args
        np.testing.assert_array_equal(m.obs("demo_1", "cam1_keypoints"), single.obs("demo_1", "cam1_keypoints"))
    # the merge is the whole job: the same command run unsharded (a grid's) finds it finished
    assert generate_dataset(out=merged, episodes=3, **SMALL)["skipped_existing"] == 3


def test_existing_output_with_other_settings_is_refused(pick_file):
    with pytest.raises(ValueError, match="other settings.*image_size"):
        generate_dataset(out=pick_file, episodes=3, **{**SMALL, "image_size": 64})
    assert not [p for p in os.listdir(os.path.dirname(pick_file)) if p.endswith(".tmp")]
    assert generate_dataset(out=pick_file, episodes=3, **SMALL)["skipped_existing"] == 3


def test_unknown_env_lists_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown env 'lfit'; choose one of can, lift, minecraft, pick"):
        generate_dataset(out=str(tmp_path / "x.hdf5"), episodes=1, **{**SMALL, "env": "lfit"})


def test_zero_views_is_refused(tmp_path):
    with pytest.raises(ValueError, match="num_views"):
        generate_dataset(out=str(tmp_path / "x.hdf5"), episodes=1, **{**SMALL, "num_views": 0})


def test_corrupt_and_foreign_files_are_named(tmp_path):
    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DatasetFormatError, match="not a readable HDF5"):
        EpisodeFile(str(corrupt))
    foreign = str(tmp_path / "foreign.hdf5")
    with h5py.File(foreign, "w") as f:
        f.create_dataset("images", data=np.zeros(3))
    with pytest.raises(DatasetFormatError, match="no data/ group"):
        EpisodeFile(foreign)
    with pytest.raises(FileNotFoundError):
        EpisodeFile(str(tmp_path / "missing.hdf5"))


def start_generation(out, episodes=200):
    cmd = [sys.executable, "-m", "envs.generate", "env=pick", f"episodes={episodes}", "image_size=32", "num_views=2",
           "num_workers=1", f"out={out}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_demos(path, count, proc, timeout=120):
    """Poll the output (committed atomically, so always readable) until it holds ``count`` demos."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if os.path.exists(path):
            with EpisodeFile(path) as f:
                if len(f.demos) >= count:
                    return
        time.sleep(0.2)
    raise AssertionError(f"no {count} demos in {path} after {timeout} s")


def temps(folder):
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_sigterm_keeps_every_finished_demo_and_says_so(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    proc = start_generation(out)
    wait_for_demos(out, 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    kept = int(re.search(r"kept (\d+) demos", err).group(1))
    with EpisodeFile(out) as f:
        assert len(f.demos) == kept >= 2
    assert not temps(tmp_path)


def test_sigkill_keeps_committed_demos_and_the_next_run_cleans_up(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    proc = start_generation(out)
    wait_for_demos(out, 2, proc)
    # A commit lands the temp file and opens the next one; wait out that instant so the kill leaves one.
    deadline = time.monotonic() + 30
    while not temps(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    with EpisodeFile(out) as f:
        kept = len(f.demos)
    assert kept >= 2 and temps(tmp_path)  # the killed writer's temp file is left behind...
    summary = generate_dataset(out=out, episodes=kept + 1, **SMALL)
    assert summary["skipped_existing"] == kept and summary["episodes"] == 1
    assert not temps(tmp_path)  # ...and removed by the next run, since its process is gone


def test_generated_files_are_readable_by_others(tmp_path):
    out = str(tmp_path / "pick.hdf5")
    generate_dataset(out=out, episodes=1, **SMALL)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o666 & ~umask


def test_merge_with_a_bad_input_writes_nothing(tmp_path, pick_file):
    out = str(tmp_path / "x.hdf5")
    for shard in (0, 1):
        generate_dataset(out=out, episodes=3, shard=shard, num_shards=2, **SMALL)
    good = [shard_path(out, s, 2) for s in (0, 1)]
    truncated = str(tmp_path / "truncated.hdf5")
    with open(good[1], "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read()[:2000])
    other = str(tmp_path / "other.hdf5")
    generate_dataset(out=other, episodes=1, **{**SMALL, "image_size": 24})
    merged = str(tmp_path / "merged.hdf5")
    with pytest.raises(DatasetFormatError, match="truncated.hdf5"):
        dataset_io.merge_files([good[0], truncated], merged)
    with pytest.raises(ValueError, match="image_size: file has 32, asked 24"):
        dataset_io.merge_files([good[0], other], merged)
    assert not os.path.exists(merged) and not temps(tmp_path)


def test_the_memory_estimate_counts_what_a_recorded_frame_holds():
    from envs.cameras import RigConfig
    from envs.generate import recording_bytes
    from envs.pick import PickSimulator
    from envs.recorder import record_episode

    sim = PickSimulator()
    episode = record_episode(sim, RigConfig(num_views=1), 0, 16, first_person=False)
    sim.close()
    frame = sum(v[0].nbytes for k, v in episode.obs.items() if k.startswith("cam0_") and k.endswith(("image", "mask")))
    assert recording_bytes(PickSimulator, 1, 16) == PickSimulator.max_steps * frame


def test_an_image_size_that_cannot_fit_in_memory_is_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match=r"image_size=4000 .* needs up to [\d.]+ GiB .* available"):
        generate_dataset(out=str(tmp_path / "x.hdf5"), episodes=1, **{**SMALL, "image_size": 4000})
    assert not os.listdir(tmp_path)
