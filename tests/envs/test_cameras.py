import json

import h5py
import numpy as np
import pytest

from envs.cameras import Camera, RigConfig, intrinsics_from_fovy, look_at, make_rig, project


def front_camera(width=64, height=48):
    return Camera("c", intrinsics_from_fovy(60, width, height), look_at([0, -2, 0], [0, 0, 0]), width, height, 60)


def test_projection_centre_behind_and_outside():
    cam = front_camera()
    uv = project(np.array([[0, 0, 0], [0, -3, 0], [0, 0, 5], [0, 0, 0.2]]), cam)
    np.testing.assert_allclose(uv[0], [32, 24], atol=1e-4)
    assert np.isnan(uv[1]).all()  # behind the camera
    assert np.isnan(uv[2]).all()  # far above: outside the image
    assert uv[3, 1] < 24  # world up is image up (row decreases)


def test_rig_is_deterministic_from_seed_and_jittered_across_seeds():
    cfg = RigConfig(num_views=5)
    a, b, c = make_rig(cfg, 64, 64, 1), make_rig(cfg, 64, 64, 1), make_rig(cfg, 64, 64, 2)
    assert all(np.array_equal(x.extrinsics, y.extrinsics) for x, y in zip(a, b))
    assert not np.allclose(a[0].extrinsics, c[0].extrinsics)
    assert [cam.name for cam in a] == [f"cam{i}" for i in range(5)]


def test_every_rig_camera_sees_the_workspace_centre():
    for cam in make_rig(RigConfig(num_views=8, center=(0.5, 0, 0.1)), 64, 64, 0):
        np.testing.assert_allclose(project(np.array([0.5, 0, 0.1]), cam), [32, 32], atol=1e-3)


def test_zero_views_is_an_error():
    with pytest.raises(ValueError, match="num_views"):
        RigConfig(num_views=0)


def azimuth_of(cam, center):
    offset = cam.position - np.asarray(center)
    return np.degrees(np.arctan2(offset[1], offset[0]))


def test_sector_rig_draws_training_and_held_out_cameras_from_disjoint_sectors():
    cfg = RigConfig(num_views=4, sampling="sectors", azimuth_range=(-120, 30), elevation_range=(20, 50),
                    heldout_views=2, heldout_azimuth_range=(60, 120))
    train, held = [], []
    for seed in range(200):
        cams = make_rig(cfg, 32, 32, seed)
        assert [c.name for c in cams] == ["cam0", "cam1", "cam2", "cam3", "held0", "held1"]
        train += [(i, azimuth_of(c, cfg.center)) for i, c in enumerate(cams[:4])]
        held += [(i, azimuth_of(c, cfg.center)) for i, c in enumerate(cams[4:])]
    az = np.array([a for _, a in train])
    assert az.min() >= -120 and az.max() <= 30 and az.max() - az.min() > 140  # the whole sector, per episode
    for i in range(4):  # stratified: view i stays in its slice of the sector
        mine = np.array([a for j, a in train if j == i])
        assert mine.min() >= -120 + 37.5 * i - 1e-6 and mine.max() <= -120 + 37.5 * (i + 1) + 1e-6
    near, far = (np.array([a for j, a in held if j == k]) for k in (0, 1))
    assert near.min() >= 60 and near.max() <= 90 and far.min() >= 90 and far.max() <= 120


def test_a_held_out_sector_that_overlaps_training_is_refused():
    with pytest.raises(ValueError, match="overlaps the training cameras"):
        RigConfig(num_views=4, sampling="sectors", azimuth_range=(-150, 60), heldout_views=1,
                  heldout_azimuth_range=(50, 100))
    with pytest.raises(ValueError, match="overlaps"):  # the ring's jitter counts
        RigConfig(num_views=4, azimuth_range=(-90, 60), jitter_azimuth=10, heldout_views=1,
                  heldout_azimuth_range=(65, 100))
    with pytest.raises(ValueError, match="overlaps"):  # across the +-180 seam
        RigConfig(num_views=4, sampling="sectors", azimuth_range=(-150, 60), heldout_views=1,
                  heldout_azimuth_range=(170, 220))
    with pytest.raises(ValueError, match="unknown rig sampling"):
        RigConfig(sampling="random")
    # a range written high to low would draw through the training sector, past the overlap check
    with pytest.raises(ValueError, match=r"heldout_azimuth_range \(100, -100\) runs backwards.*\(100, 260\)"):
        RigConfig(num_views=4, sampling="sectors", azimuth_range=(-90, 15), heldout_views=2,
                  heldout_azimuth_range=(100, -100))
    RigConfig(num_views=4, sampling="sectors", azimuth_range=(-90, 15), heldout_views=2,
              heldout_azimuth_range=(100, 260))  # the same sector, through 180: clear of training
    with pytest.raises(ValueError, match="azimuth_range .* runs backwards"):
        RigConfig(azimuth_range=(90, -90))
    with pytest.raises(ValueError, match=r"jitter_azimuth must be >= 0.*-10"):  # it would shrink the sector checked
        RigConfig(num_views=4, azimuth_range=(-90, 60), jitter_azimuth=-10, heldout_views=1,
                  heldout_azimuth_range=(65, 100))


def test_the_ring_rig_is_unchanged_by_the_sector_option():
    # The paper's ring with its jitter, drawn in the same order as before held-out views existed.
    cams = make_rig(RigConfig(num_views=3, azimuth_range=(-90, 90), jitter_azimuth=0, jitter_elevation=0,
                              jitter_radius=0), 32, 32, 0)
    np.testing.assert_allclose([azimuth_of(c, (0, 0, 0)) for c in cams], [-90, 0, 90], atol=1e-9)


def test_a_rigs_cameras_are_drawn_apart_from_the_scene_of_the_same_seed():
    from envs.pick import PickSimulator

    sim = PickSimulator()
    rig = dict(num_views=2, sampling="sectors", azimuth_range=(-120, 30), center=(0.35, 0.0, 0.15))
    placed, own, shared = [], [], []
    for seed in range(40):
        sim.reset(seed)
        placed.append(sim._object_pos()[0])  # the scene's first draw: where the object lies
        for cameras, draws in ((own, "own"), (shared, "scene")):
            centre = make_rig(RigConfig(**rig, draws=draws), 32, 32, seed)[0].position - np.array(rig["center"])
            cameras.append(np.degrees(np.arctan2(centre[1], centre[0])))
    sim.close()
    # drawn from the scene's numbers (files made before), cam0's azimuth told where the object lay
    assert np.corrcoef(placed, shared)[0, 1] > 0.99
    assert abs(np.corrcoef(placed, own)[0, 1]) < 0.35
    assert RigConfig().draws == "own"
    with pytest.raises(ValueError, match="unknown rig draws 'mine'.*own, scene"):
        RigConfig(draws="mine")


def test_a_file_made_before_the_rigs_own_draws_reads_as_drawn_from_the_scene(tmp_path):
    from envs.dataset_io import EpisodeFile, settings_as_made

    old = {"env": "pick", "rig": {k: v for k, v in RigConfig(num_views=2).to_json().items() if k != "draws"}}
    assert settings_as_made(old)["rig"]["draws"] == "scene"
    assert RigConfig(**settings_as_made(old)["rig"]).draws == "scene"
    made = {**old, "rig": {**old["rig"], "draws": "own"}}
    assert settings_as_made(made) == made  # a file that says how it drew is read as it says
    path = str(tmp_path / "old.hdf5")
    with h5py.File(path, "w") as f:
        f.create_group("data")
        f.attrs["generation"] = json.dumps(old)
    with EpisodeFile(path) as f:
        assert f.settings["rig"]["draws"] == "scene"
