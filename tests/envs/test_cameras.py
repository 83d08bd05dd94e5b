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
