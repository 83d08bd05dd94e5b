"""Evaluation cameras by angular distance: the bins, their seeds, and the gym env's ``eval`` view."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.cameras import RigConfig, degrees_past_arc, make_rig, project
from envs.eval_cameras import EVAL_BINS, check_eval_bin, draw_eval_camera, eval_camera_seed
from envs.gym_env import MultiViewEnv
from envs.registry import simulator_class

BEYOND = {"beyond15": 15, "beyond30": 30, "beyond45": 45, "beyond60": 60}
RIGS = {env: simulator_class(env).default_rig() for env in ("pick", "lift", "can", "minecraft")}
RIGS["ring"] = RigConfig(num_views=9, azimuth_range=(-120, 120), heldout_views=0)  # the paper's rig, jittered
RIGS["one_view_ring"] = RigConfig(num_views=1, azimuth_range=(-90, 15), elevation_range=(25, 50), jitter_azimuth=0,
                                  jitter_elevation=0, jitter_radius=0, radius=1.0, height=0.1, center=(-0.15, 0, 0.9))


def look_at_point(cfg):
    return np.asarray(cfg.center) + [0, 0, cfg.height]


def where(cam, cfg):
    """(azimuth, elevation, distance) of a camera around the rig's look-at point, from its extrinsics."""
    offset = cam.position - look_at_point(cfg)
    distance = np.linalg.norm(offset)
    return np.degrees(np.arctan2(offset[1], offset[0])), np.degrees(np.arcsin(offset[2] / distance)), distance


def draws(cfg, bin_name, seeds=range(500)):
    return [draw_eval_camera(cfg, bin_name, 32, 32, s) for s in seeds]


@pytest.mark.parametrize("rig", list(RIGS))
def test_the_rigs_training_cameras_stand_inside_the_sector_the_bins_measure_from(rig):
    """The beyond-bins are measured from ``training_sector()``: every training camera a rig draws is inside it,
    so a camera past it is one training never saw."""
    cfg = RIGS[rig]
    sector, (el_lo, el_hi) = cfg.training_sector(), cfg.training_elevations()
    for seed in range(200):
        for camera in make_rig(cfg, 32, 32, seed):
            if not camera.name.startswith("cam"):
                continue
            azimuth, elevation, _ = where(camera, cfg)
            assert degrees_past_arc(azimuth, sector) < 1e-6, (rig, seed, camera.name, azimuth, sector)
            assert el_lo - 1e-6 <= elevation <= el_hi + 1e-6, (rig, seed, camera.name, elevation)


def has_room(cfg, name) -> bool:
    try:
        check_eval_bin(cfg, name)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("rig", list(RIGS))
def test_beyond_bins_never_enter_the_training_sector_and_keep_their_distance(rig):
    """Every bin the rig has room for (the paper's ring has none for beyond60: refused below)."""
    cfg = RIGS[rig]
    sector, (el_lo, el_hi) = cfg.training_sector(), cfg.training_elevations()
    bins = {name: d for name, d in BEYOND.items() if has_room(cfg, name)}
    assert len(bins) >= 3
    for name, d in bins.items():
        past, sides = [], []
        for drawn in draws(cfg, name):
            azimuth, elevation, _ = where(drawn.camera, cfg)  # where the camera really stands
            gap = degrees_past_arc(azimuth, sector)
            assert d - 7.5 - 1e-6 <= gap <= d + 7.5 + 1e-6, (rig, name, azimuth, sector)
            assert abs(gap - drawn.azimuth_past_sector) < 1e-6 and drawn.elevation_past_range == 0
            assert el_lo - 1e-6 <= elevation <= el_hi + 1e-6
            past.append(gap)
            sides.append(degrees_past_arc(azimuth, (sector[1], sector[1] + d + 7.5)) == 0)  # past the high edge
        assert min(past) < d - 6 and max(past) > d + 6  # the whole band is drawn
        assert 0.4 < np.mean(sides) < 0.6  # either side of the sector, equally often


@pytest.mark.parametrize("rig", list(RIGS))
def test_train_and_elevation_bins_stay_inside_the_sector(rig):
    cfg = RIGS[rig]
    sector, (el_lo, el_hi) = cfg.training_sector(), cfg.training_elevations()
    for name, lo, hi in (("train", el_lo, el_hi), ("elev+15", el_hi + 7.5, el_hi + 22.5),
                         ("elev-15", el_lo - 22.5, el_lo - 7.5)):
        elevations = []
        for drawn in draws(cfg, name, range(300)):
            azimuth, elevation, distance = where(drawn.camera, cfg)
            assert degrees_past_arc(azimuth, sector) < 1e-6 and drawn.azimuth_past_sector < 1e-6
            assert lo - 1e-6 <= elevation <= hi + 1e-6, (rig, name, elevation)
            assert abs(distance - cfg.radius) <= cfg.radius * cfg.jitter_radius + 1e-9
            elevations.append(elevation)
        assert max(elevations) - min(elevations) >= 0.9 * (hi - lo)


def test_a_seed_gives_the_same_camera_and_bins_differ_only_in_distance():
    cfg = RIGS["lift"]
    a, b, c = (draw_eval_camera(cfg, "beyond30", 32, 32, s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.camera.extrinsics, b.camera.extrinsics)
    assert not np.allclose(a.camera.extrinsics, c.camera.extrinsics)
    near, far = draw_eval_camera(cfg, "beyond15", 32, 32, 4), draw_eval_camera(cfg, "beyond60", 32, 32, 4)
    assert abs(far.azimuth_past_sector - near.azimuth_past_sector - 45) < 1e-9  # same side, same place in the band
    assert (near.elevation, near.radius) == (far.elevation, far.radius)
    assert eval_camera_seed(4) != 4 and eval_camera_seed(4) == eval_camera_seed(4)


def test_eval_cameras_are_built_as_the_rig_builds_its_own():
    cfg = RIGS["lift"]
    drawn = draw_eval_camera(cfg, "beyond45", 48, 48, 0)
    rig = make_rig(cfg, 48, 48, 0)
    np.testing.assert_array_equal(drawn.camera.intrinsics, rig[0].intrinsics)
    np.testing.assert_allclose(project(look_at_point(cfg), drawn.camera), [24, 24], atol=1e-3)  # looks at the workspace
    # A one-view ring trains on one camera: its train bin is that camera, the beyond bins are measured from it.
    one = RIGS["one_view_ring"]
    assert one.training_sector() == (-37.5, -37.5) and one.training_elevations() == (37.5, 37.5)
    np.testing.assert_allclose(draw_eval_camera(one, "train", 48, 48, 3).camera.extrinsics,
                               make_rig(one, 48, 48, 3)[0].extrinsics, atol=1e-12)


def test_bins_a_rig_has_no_room_for_are_refused():
    with pytest.raises(ValueError, match="unknown evaluation camera bin 'beyond90'.*beyond60"):
        check_eval_bin(RIGS["lift"], "beyond90")
    with pytest.raises(ValueError, match=r"beyond60.*67.5 degrees past both edges.*-125..125.*110 degrees outside"):
        check_eval_bin(RIGS["ring"], "beyond60")
    check_eval_bin(RIGS["ring"], "beyond45")
    # a 225-degree sector leaves 135 outside: beyond60's far end (67.5 past) would lie as near the other edge
    edge = dict(sampling="sectors", heldout_views=0)
    with pytest.raises(ValueError, match=r"beyond60.*135 degrees outside"):
        check_eval_bin(RigConfig(azimuth_range=(-112.5, 112.5), **edge), "beyond60")
    check_eval_bin(RigConfig(azimuth_range=(-112, 112), **edge), "beyond60")
    with pytest.raises(ValueError, match=r"elev\+15.*within \+-89"):
        check_eval_bin(RigConfig(sampling="sectors", elevation_range=(40, 70)), "elev+15")
    assert set(EVAL_BINS) == {"train", *BEYOND, "elev+15", "elev-15"}


def test_the_gym_env_renders_an_eval_camera_drawn_per_episode():
    plain = MultiViewEnv("lift", image_size=32, num_views=2, views=["cam1"])
    env = MultiViewEnv("lift", image_size=32, num_views=2, views=["cam1"], eval_camera="beyond30")
    assert env.views == ["cam1", "eval"] and plain.views == ["cam1"]
    expected, _ = plain.reset(options={"episode_seed": 11})
    obs, info = env.reset(options={"episode_seed": 11})
    assert obs["eval_image"].shape == (32, 32, 3) and obs["eval_robot_mask"].any()  # the arm is in view
    assert obs["eval_keypoints_visible"].sum() >= 4
    assert info["eval_camera"]["bin"] == "beyond30" and 22.5 <= info["eval_camera"]["azimuth_past_sector"] <= 37.5
    first = env.rig[-1].extrinsics
    for t in range(3):  # the rig's own views are what they are without the eval camera
        np.testing.assert_array_equal(obs["cam1_image"], expected["cam1_image"], err_msg=f"step {t}")
        action = plain.scripted_action()
        expected, *_ = plain.step(action)
        obs, *_ = env.step(action)
    plain.close()
    _, again = env.reset(options={"episode_seed": 11})
    np.testing.assert_array_equal(env.rig[-1].extrinsics, first)  # a rollout seed always meets the same camera
    _, other = env.reset(options={"episode_seed": 12, "eval_camera": "elev-15"})
    assert other["eval_camera"]["bin"] == "elev-15" and other["eval_camera"]["elevation_past_range"] < -7.4
    assert again["eval_camera"] == info["eval_camera"]
    with pytest.raises(ValueError, match="unknown evaluation camera bin"):
        env.reset(options={"episode_seed": 1, "eval_camera": "behind"})
    env.close()


def test_without_eval_camera_the_env_is_unchanged_and_asking_for_one_is_refused():
    env = MultiViewEnv("pick", image_size=32, num_views=2)
    assert "eval" not in env.views and "eval_image" not in env.observation_space.spaces
    with pytest.raises(ValueError, match="make it with eval_camera=<bin>"):
        env.reset(options={"episode_seed": 1, "eval_camera": "beyond15"})
    env.close()
    with pytest.raises(ValueError, match="comes with eval_camera=<bin>"):
        MultiViewEnv("pick", image_size=32, views=["eval"])
    with pytest.raises(ValueError, match="unknown evaluation camera bin"):
        MultiViewEnv("pick", image_size=32, eval_camera="far")
    checked = MultiViewEnv("pick", image_size=32, num_views=2, views=["eval"], eval_camera="beyond60")
    check_env(checked)
    checked.close()
