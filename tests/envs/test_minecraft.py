"""The Minecraft-style voxel backend, and the MineRL backend's behaviour where MineRL is missing."""
import importlib.util
import json

import h5py
import numpy as np
import pytest

from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset
from envs.registry import make_simulator

HAS_MINERL = importlib.util.find_spec("minerl") is not None


@pytest.fixture(scope="module")
def mc_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("mc") / "minecraft.hdf5")
    summary = generate_dataset("minecraft", path, episodes=3, image_size=48, progress=False)
    assert summary["success_rate"] == 1.0
    return path


def test_layout_keypoint_names_and_robomimic_loading(mc_file):
    import robomimic.utils.obs_utils as ObsUtils
    from robomimic.utils.dataset import SequenceDataset

    with h5py.File(mc_file) as f:
        names = json.loads(f.attrs["keypoint_names"])
        assert names[:2] == ["head", "neck"] and "left_foot" in names and len(names) == 11
        assert json.loads(f.attrs["views"]) == ["cam0", "cam1", "cam2", "cam3", "held0", "held1", "first_person"]
        assert f["data/demo_0/obs/cam3_keypoints"].shape[1:] == (11, 2)
    ObsUtils.initialize_obs_modality_mapping_from_dict({"low_dim": ["avatar_pos"], "rgb": ["cam0_image"]})
    ds = SequenceDataset(
        hdf5_path=mc_file, obs_keys=["avatar_pos", "cam0_image"], dataset_keys=["actions"], load_next_obs=False,
        frame_stack=1, seq_length=3, pad_frame_stack=True, pad_seq_length=True, get_pad_mask=False,
        goal_mode=None, hdf5_cache_mode=None, hdf5_use_swmr=True, hdf5_normalize_obs=False,
        filter_by_attribute="train",
    )
    assert ds[0]["obs"]["cam0_image"].shape == (3, 48, 48, 3)


def test_views_really_differ(mc_file):
    with EpisodeFile(mc_file) as f:
        third_person = [v for v in f.views if v != "first_person"]
        images = np.stack([f.view_obs("demo_0", v, "image").astype(np.float32) for v in third_person])  # (V,T,H,W,3)
    n = len(images)
    between_views = np.mean([np.abs(images[i] - images[j]).mean() for i in range(n) for j in range(i + 1, n)])
    between_frames = np.abs(np.diff(images, axis=1)).mean()
    assert between_views > 5 * between_frames


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="unknown minecraft backend 'mc'; choose one of voxel, minerl"):
        make_simulator("minecraft", backend="mc")


@pytest.mark.skipif(HAS_MINERL, reason="MineRL is installed: the missing-package message does not apply")
def test_minerl_backend_without_minerl_says_what_to_install():
    with pytest.raises(ValueError, match="minerl.*Java 8.*network.*backend=voxel"):
        make_simulator("minecraft", backend="minerl")


@pytest.mark.skipif(not HAS_MINERL, reason="needs MineRL 0.4.4 (Java 8 and downloads at build time)")
def test_minerl_backend_records_first_person_with_nan_keypoints(tmp_path):
    path = str(tmp_path / "minerl.hdf5")
    generate_dataset("minecraft", path, episodes=1, image_size=64, backend="minerl", progress=False)
    with EpisodeFile(path) as f:
        assert f.views == ["first_person"]
        assert np.isnan(f.obs("demo_0", "first_person_keypoints")).all()
        assert "no avatar joint positions" in f.file.attrs["keypoints_note"]


def test_textures_never_come_from_a_shared_folder(tmp_path, monkeypatch):
    """An image planted where textures were once cached (/tmp/poseaware_textures) changes nothing."""
    import tempfile

    import imageio.v2 as imageio

    from envs.cameras import make_rig
    from envs.recorder import rig_for

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def first_view():
        sim = make_simulator("minecraft")
        try:
            sim.reset(0)
            return sim.render(make_rig(rig_for(type(sim)), 48, 48, 0)[0]).image
        finally:
            sim.close()

    clean = first_view()
    planted = tmp_path / "poseaware_textures"
    planted.mkdir()
    for kind in ("grass", "dirt", "stone", "wood", "leaves", "gold"):
        imageio.imwrite(planted / f"{kind}_0.png", np.zeros((64, 64, 3), np.uint8))
    np.testing.assert_array_equal(first_view(), clean)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poseaware_textures"]  # nothing of ours left behind
