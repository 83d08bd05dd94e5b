"""envs.convert: episode file <-> LeRobotDataset v3.0 folder; the layout lerobot 0.6.1 reads, the round trip,
and bad input refused with nothing written."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from envs import lerobot_export, lerobot_import, lerobot_layout as layout
from envs.dataset_io import EpisodeFile
from envs.lerobot_export import export_lerobot
from envs.lerobot_import import import_lerobot
from envs.lerobot_video import VideoSettings
from tests.envs.synthetic_demos import KEYPOINTS, VIEWS, write_synthetic_demos

# The video codec's loss on these frames (lerobot's default encoder: SVT-AV1, yuv420p, crf 30, a key frame
# every 2), measured per demo and camera at 4.9-6.0 grey levels mean absolute difference and 68-84 at the
# 99th percentile; the block's coloured edges lose most to chroma subsampling.
MEAN_CODEC_LOSS, P99_CODEC_LOSS = 7.0, 100


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_synthetic_demos(str(tmp_path_factory.mktemp("src") / "demos.hdf5"))


@pytest.fixture(scope="module")
def exported(source, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lerobot") / "demos_lerobot")
    summary = export_lerobot(source, out, progress=False)
    assert summary["episodes"] == 3 and summary["fps"] == 20 and summary["views"] == list(VIEWS)
    return out


def leftovers(folder):
    """Anything a run left beside its output besides the lock file."""
    return sorted(e for e in os.listdir(folder) if not e.endswith(".lock"))


def test_round_trip_keeps_every_array_and_images_within_the_codec_loss(source, exported, tmp_path):
    back = str(tmp_path / "back.hdf5")
    summary = import_lerobot(exported, back, progress=False)
    assert summary["keypoint_views"] == list(VIEWS) and summary["skipped"] == []
    with EpisodeFile(source) as a, EpisodeFile(back) as b:
        assert a.demos == b.demos and a.settings == b.settings and b.keypoint_names == list(KEYPOINTS)
        assert all(a.split(s) == b.split(s) for s in ("train", "valid", "test"))
        assert a.file["data"].attrs["env_args"] == b.file["data"].attrs["env_args"]
        for demo in a.demos:
            for key in ("actions", "states", "rewards", "dones"):
                x, y = a.array(demo, key), b.array(demo, key)
                assert x.dtype == y.dtype and np.array_equal(x, y), key
            for key in ("seed", "success", "cameras", "model_file"):
                assert a.demo_attr(demo, key) == b.demo_attr(demo, key), key
            assert sorted(a.obs_keys) == sorted(b.obs_keys)
            for key in a.obs_keys:
                x, y = a.obs(demo, key), b.obs(demo, key)
                assert x.dtype == y.dtype and x.shape == y.shape, key
                if key.endswith("_image"):
                    loss = np.abs(x.astype(int) - y)
                    assert loss.mean() < MEAN_CODEC_LOSS and np.percentile(loss, 99) < P99_CODEC_LOSS, key
                else:  # keypoints (NaN kept), extrinsics, masks, low-dim: exact
                    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), key
            nxt_a, nxt_b = a.low_dim_obs(demo, "next_obs"), b.low_dim_obs(demo, "next_obs")
            assert nxt_a.keys() == nxt_b.keys() and all(np.array_equal(nxt_a[k], nxt_b[k]) for k in nxt_a)


def test_each_frame_comes_back_at_its_own_time_step(source, tmp_path):
    """With every frame a key frame the codec keeps each step apart (at 32 px, lerobot's key frame every 2 lets
    SVT-AV1 show half the in-between frames as their key frame), so this checks the frame <-> timestamp mapping."""
    out, back = str(tmp_path / "lerobot"), str(tmp_path / "back.hdf5")
    export_lerobot(source, out, video=VideoSettings(g=1), progress=False)
    import_lerobot(out, back, progress=False)
    with EpisodeFile(source) as a, EpisodeFile(back) as b:
        for demo in a.demos:
            for view in VIEWS:
                x, y = a.view_obs(demo, view, "image").astype(int), b.view_obs(demo, view, "image").astype(int)
                errors = np.abs(y[:, None] - x[None]).mean(axis=(2, 3, 4))
                assert (errors.argmin(axis=1) == np.arange(len(x))).all(), (demo, view)


def test_info_json_and_tables_follow_the_v3_layout(exported):
    info = json.load(open(os.path.join(exported, layout.INFO_PATH)))
    assert list(info) == ["codebase_version", "fps", "features", "total_episodes", "total_frames", "total_tasks",
                          "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "data_path",
                          "video_path", "robot_type", "splits"]
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 48, 1)
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["splits"] == {"train": "0:3"}
    features = info["features"]
    assert list(features)[-5:] == ["timestamp", "frame_index", "episode_index", "index", "task_index"]
    assert features["action"] == {"dtype": "float32", "shape": [7], "names": [f"action_{i}" for i in range(7)]}
    assert features["observation.state"]["shape"] == [9]
    assert features["observation.state"]["names"][:4] == ["robot0_eef_pos.0", "robot0_eef_pos.1",
                                                          "robot0_eef_pos.2", "robot0_eef_quat.0"]
    camera = features["observation.images.cam0"]
    assert camera["dtype"] == "video" and camera["shape"] == [32, 32, 3]
    assert camera["names"] == ["height", "width", "channels"]
    assert camera["info"]["video.codec"] == "av1" and camera["info"]["video.pix_fmt"] == "yuv420p"
    assert camera["info"]["video.fps"] == 20 and camera["info"]["is_depth_map"] is False
    kp = features["annotation.cam0.keypoints"]
    assert kp["dtype"] == "float32" and kp["shape"] == [4, 2] and kp["names"]["keypoints"] == list(KEYPOINTS)
    assert features["annotation.cam0.extrinsics"]["shape"] == [4, 4]
    # nothing privileged under observation.: lerobot feeds every observation.* feature to its policies
    assert {k for k in features if k.startswith("observation.")} == \
        {"observation.state"} | {f"observation.images.{v}" for v in VIEWS}

    data = pq.ParquetFile(os.path.join(exported, "data/chunk-000/file-000.parquet"))
    schema = data.schema_arrow
    assert data.metadata.num_row_groups == 3  # one per episode
    assert [n for n in schema.names if not n.startswith("annotation.")] == \
        ["action", "observation.state", "next.reward", "next.done", "timestamp", "frame_index", "episode_index",
         "index", "task_index"]
    assert schema.field("action").type == pa.list_(pa.float32(), 7)
    assert schema.field("annotation.cam0.keypoints").type == pa.list_(pa.list_(pa.float32()))
    assert schema.field("timestamp").type == pa.float32() and schema.field("index").type == pa.int64()
    hf = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert hf["action"] == {"feature": {"dtype": "float32", "_type": "Value"}, "length": 7, "_type": "List"}
    assert hf["annotation.cam0.keypoints"] == {"shape": [4, 2], "dtype": "float32", "_type": "Array2D"}
    rows = data.read()
    assert rows.column("index").to_pylist() == list(range(48))
    assert np.allclose(rows.column("timestamp").to_numpy()[:16], np.arange(16) / 20)

    episodes = pq.read_table(os.path.join(exported, "meta/episodes/chunk-000/file-000.parquet")).to_pylist()
    first, second = episodes[0], episodes[1]
    assert list(first)[:7] == ["episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                               "dataset_from_index", "dataset_to_index"]
    assert list(first)[-2:] == ["meta/episodes/chunk_index", "meta/episodes/file_index"]
    assert first["tasks"] == ["synthetic"] and first["length"] == 16
    assert (second["dataset_from_index"], second["dataset_to_index"]) == (16, 32)
    key = "videos/observation.images.cam0"
    assert (first[f"{key}/from_timestamp"], first[f"{key}/to_timestamp"]) == (0.0, 0.8)
    assert second[f"{key}/from_timestamp"] == 0.8 and second[f"{key}/chunk_index"] == 0
    assert np.asarray(first["stats/observation.images.cam0/mean"]).shape == (3, 1, 1)
    assert first["stats/annotation.cam0.keypoints/count"] == [16]

    tasks = pq.read_table(os.path.join(exported, layout.TASKS_PATH))
    assert tasks.to_pylist() == [{"task_index": 0, "task": "synthetic"}]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.load(open(os.path.join(exported, layout.STATS_PATH)))
    assert set(stats) == set(features)
    assert set(stats["action"]) == {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    assert np.asarray(stats["observation.images.cam0"]["std"]).shape == (3, 1, 1)
    assert stats["annotation.cam0.keypoints"]["count"] == [48] and len(stats["annotation.cam0.keypoints"]["mean"]) == 2
    for view in VIEWS:
        assert os.path.exists(os.path.join(exported, f"videos/observation.images.{view}/chunk-000/file-000.mp4"))


def test_episodes_spread_over_several_files_come_back(source, tmp_path, monkeypatch):
    """Files move on once full (lerobot's 100 MB frames / 200 MB video limits, tiny here), and the episodes
    table finds each episode's parquet and mp4 files."""
    monkeypatch.setattr(layout, "VIDEO_FILE_SIZE_IN_MB", 1e-6)
    monkeypatch.setattr(layout, "DATA_FILE_SIZE_IN_MB", 1e-6)
    out, back = str(tmp_path / "lerobot"), str(tmp_path / "back.hdf5")
    export_lerobot(source, out, progress=False)
    episodes = pq.read_table(os.path.join(out, "meta/episodes/chunk-000/file-000.parquet")).to_pylist()
    assert [e["data/file_index"] for e in episodes] == [0, 1, 2]
    # a video's size shows once the encoder gives out packets, a few frames behind, so it moves on later
    videos = [e["videos/observation.images.cam0/file_index"] for e in episodes]
    assert videos == sorted(videos) and videos[-1] > 0
    starts = [e["videos/observation.images.cam0/from_timestamp"] for e in episodes]
    assert all(start == 0.0 for start, before, now in zip(starts, [-1] + videos, videos) if now != before)
    assert os.path.exists(os.path.join(out, "data/chunk-000/file-002.parquet"))
    import_lerobot(out, back, progress=False)
    with EpisodeFile(source) as a, EpisodeFile(back) as b:
        for demo in a.demos:
            assert np.array_equal(a.array(demo, "actions"), b.array(demo, "actions"))
            x, y = a.view_obs(demo, "held0", "image"), b.view_obs(demo, "held0", "image")
            assert np.abs(x.astype(int) - y).mean() < MEAN_CODEC_LOSS


def test_a_subset_of_the_cameras(source, tmp_path):
    """Each camera is an input of lerobot's policies, so an export can keep only some; they come back alone."""
    out, back = str(tmp_path / "lerobot"), str(tmp_path / "back.hdf5")
    export_lerobot(source, out, views=["held0", "cam0"], progress=False)
    features = json.load(open(os.path.join(out, layout.INFO_PATH)))["features"]
    assert [k for k in features if k.startswith("observation.images.")] == \
        ["observation.images.held0", "observation.images.cam0"]
    assert not any(k.startswith("annotation.cam1.") for k in features)
    import_lerobot(out, back, progress=False)
    with EpisodeFile(back) as f:
        assert sorted(f.views) == ["cam0", "held0"] and json.loads(f.file.attrs["views"]) == ["cam0", "held0"]
        assert f.has_view_obs("demo_0", "cam0", "robot_mask") and not f.has_view_obs("demo_0", "cam1", "keypoints")
    with pytest.raises(ValueError, match=r"views \['cam9'\] are not in"):
        export_lerobot(source, str(tmp_path / "other"), views=["cam9"], progress=False)


def test_the_command_runs_both_ways(source, tmp_path):
    """``python -m envs.convert`` as the README shows it, through its Hydra config."""
    out, back = str(tmp_path / "lerobot"), str(tmp_path / "back.hdf5")
    for args in ([f"input={source}", f"out={out}", "to=lerobot", "fps=10", "views=[cam0]", "video.g=1",
                  "video.crf=20", "progress=false"],
                 [f"input={out}", f"out={back}", "to=robomimic", "image_size=16", "progress=false"]):
        done = subprocess.run([sys.executable, "-m", "envs.convert", *args], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        assert done.returncode == 0, done.stderr[-2000:]
    info = json.load(open(os.path.join(out, layout.INFO_PATH)))
    assert info["fps"] == 10 and [k for k in info["features"] if k.startswith("observation.images.")] == \
        ["observation.images.cam0"]
    assert info["features"]["observation.images.cam0"]["info"]["video.g"] == 1
    with EpisodeFile(back) as f:
        assert f.views == ["cam0"] and f.view_obs("demo_0", "cam0", "image").shape[1:] == (16, 16, 3)


def test_existing_output_is_refused_unless_overwrite(source, exported, tmp_path):
    out = str(tmp_path / "out")
    os.makedirs(out)
    open(os.path.join(out, "mine.txt"), "w").close()
    with pytest.raises(ValueError, match="exists; pass overwrite=true"):
        export_lerobot(source, out, progress=False)
    assert os.listdir(out) == ["mine.txt"]
    export_lerobot(source, out, overwrite=True, progress=False)
    assert os.path.exists(os.path.join(out, layout.INFO_PATH)) and not os.path.exists(os.path.join(out, "mine.txt"))
    back = str(tmp_path / "back.hdf5")
    open(back, "w").close()
    with pytest.raises(ValueError, match="exists; pass overwrite=true"):
        import_lerobot(exported, back, progress=False)
    assert os.path.getsize(back) == 0
    import_lerobot(exported, back, overwrite=True, progress=False)
    assert EpisodeFile(back).demos == ["demo_0", "demo_1", "demo_2"]
    assert leftovers(str(tmp_path)) == ["back.hdf5", "out"]


def test_a_v2_dataset_is_refused_with_the_converter_named(exported, tmp_path):
    old = str(tmp_path / "old")
    shutil.copytree(exported, old)
    info = json.load(open(os.path.join(old, layout.INFO_PATH)))
    info["codebase_version"] = "v2.1"
    json.dump(info, open(os.path.join(old, layout.INFO_PATH), "w"))
    with pytest.raises(ValueError, match=r"v2\.1 .*only v3\.0 is read.*convert_dataset_v21_to_v30"):
        import_lerobot(old, str(tmp_path / "out.hdf5"), progress=False)
    with pytest.raises(FileNotFoundError, match="no meta/info.json"):
        import_lerobot(str(tmp_path), str(tmp_path / "out.hdf5"), progress=False)
    assert leftovers(str(tmp_path)) == ["old"]


@pytest.mark.parametrize("version", ["v2.1", None])
def test_a_v21_layout_is_refused_with_or_without_its_version(tmp_path, version):
    """The per-episode layout lerobot 0.3 wrote (v2.1): jsonl metadata and one parquet/mp4 per episode; an
    info.json without a version is known by those files."""
    old = tmp_path / "v21"
    (old / "meta").mkdir(parents=True)
    (old / "data/chunk-000").mkdir(parents=True)
    info = {"fps": 20, "total_episodes": 1, "total_frames": 2, "chunks_size": 1000,
            "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
            "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
            "features": {"action": {"dtype": "float32", "shape": [7], "names": None}}}
    if version:
        info["codebase_version"] = version
    (old / layout.INFO_PATH).write_text(json.dumps(info))
    (old / "meta/episodes.jsonl").write_text(json.dumps({"episode_index": 0, "tasks": ["lift"], "length": 2}) + "\n")
    (old / "meta/tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": "lift"}) + "\n")
    pq.write_table(pa.table({"action": [[0.0] * 7] * 2, "episode_index": [0, 0]}),
                   old / "data/chunk-000/episode_000000.parquet")
    with pytest.raises(ValueError, match=r"v2\.\S* .*per-episode files.*only v3\.0 is read.*convert_dataset_v21_to_v30"):
        import_lerobot(str(old), str(tmp_path / "out.hdf5"), progress=False)
    assert leftovers(str(tmp_path)) == ["v21"]


def test_a_missing_camera_video_is_named_and_nothing_is_written(exported, tmp_path):
    broken = str(tmp_path / "broken")
    shutil.copytree(exported, broken)
    os.remove(os.path.join(broken, "videos/observation.images.cam1/chunk-000/file-000.mp4"))
    with pytest.raises(FileNotFoundError, match=r"camera observation\.images\.cam1's video .* is missing"):
        import_lerobot(broken, str(tmp_path / "out.hdf5"), progress=False)
    assert leftovers(str(tmp_path)) == ["broken"]


def test_an_interrupted_export_leaves_the_old_output_and_no_temp(source, tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    export_lerobot(source, out, progress=False)
    before = sorted(os.listdir(out))
    calls = []

    def fail_on_second_episode(self, frames):
        calls.append(1)
        if len(calls) > len(VIEWS):
            raise KeyboardInterrupt
        return real_add(self, frames)
    real_add = lerobot_export.VideoFileWriter.add
    monkeypatch.setattr(lerobot_export.VideoFileWriter, "add", fail_on_second_episode)
    with pytest.raises(KeyboardInterrupt):
        export_lerobot(source, out, overwrite=True, progress=False)
    assert sorted(os.listdir(out)) == before and leftovers(str(tmp_path)) == ["out"]


def test_an_interrupted_import_leaves_the_old_output_and_no_temp(exported, tmp_path, monkeypatch):
    out = str(tmp_path / "back.hdf5")
    import_lerobot(exported, out, progress=False)
    before = open(out, "rb").read()
    calls = []

    def fail_on_second_episode(self, times, tolerance_s):
        calls.append(1)
        if len(calls) > len(VIEWS):
            raise KeyboardInterrupt
        return real_frames(self, times, tolerance_s)
    real_frames = lerobot_import.VideoFileReader.frames
    monkeypatch.setattr(lerobot_import.VideoFileReader, "frames", fail_on_second_episode)
    with pytest.raises(KeyboardInterrupt):
        import_lerobot(exported, out, overwrite=True, progress=False)
    assert open(out, "rb").read() == before and leftovers(str(tmp_path)) == ["back.hdf5"]


def test_foreign_dataset_without_keypoints_imports_its_cameras(exported, tmp_path):
    """A v3.0 dataset as lerobot records one: no sidecar, no annotations; its state becomes obs/state."""
    foreign = str(tmp_path / "foreign")
    shutil.copytree(exported, foreign)
    os.remove(os.path.join(foreign, layout.SIDECAR_PATH))
    shutil.rmtree(os.path.join(foreign, "annotations"))
    info = json.load(open(os.path.join(foreign, layout.INFO_PATH)))
    info["features"] = {k: v for k, v in info["features"].items() if not k.startswith("annotation.")}
    json.dump(info, open(os.path.join(foreign, layout.INFO_PATH), "w"))
    out = str(tmp_path / "mine.hdf5")
    summary = import_lerobot(foreign, out, image_size=16, progress=False)
    assert summary["views"] == list(VIEWS) and summary["keypoint_views"] == []
    with EpisodeFile(out) as f:
        assert f.views == list(VIEWS) and f.keypoint_names == [] and len(f.demos) == 3
        assert f.view_obs("demo_0", "cam0", "image").shape == (16, 16, 16, 3)
        assert f.obs("demo_0", "state").shape == (16, 9) and f.array("demo_0", "actions").shape == (16, 7)
        assert f.array("demo_0", "dones")[-1] == 1 and f.settings["source"] == "lerobot"
        assert not f.has_keypoints("cam0")
