import h5py
import numpy as np
import pytest
import torch

from alignment.data import ViewFrames, augment, sample_views, split_views, to_model_input


def test_keypoints_and_masks_move_with_the_crop_and_resize():
    images = np.zeros((1, 64, 64, 3), np.uint8)
    images[0, 40:44, 20:24] = 255  # a bright block whose centre is the keypoint, and the mask
    kp = np.array([[[22.0, 42.0]]], np.float32)
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 40:44, 20:24] = True
    x = to_model_input(ViewFrames(images, kp, masks, masks.copy()), 32, torch.device("cpu"))
    np.testing.assert_allclose(x.keypoints[0, 0].numpy(), [11.0, 21.0])
    assert x.masks.shape == (1, 32, 32) and x.masks[0, 20:22, 10:12].all() and x.masks.sum() == 4
    torch.testing.assert_close(x.foreground, x.masks)
    for seed in range(5):
        xa = augment(x, torch.Generator().manual_seed(seed), min_scale=0.7)
        col, row = xa.keypoints[0, 0].long().tolist()
        assert xa.images[0, :, row, col].mean() > xa.images[0].mean() + 0.5
        assert xa.masks[0, row, col] and xa.foreground[0, row, col]


def test_background_augmentation_changes_only_pixels_outside_the_robot_and_the_object():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 8:24, 8:24] = True  # robot and object together
    x = to_model_input(ViewFrames(images, None, None, masks), 32, torch.device("cpu"))
    # No crop (min_scale 1) and no colour jitter: what changes is the background only.
    plain = augment(x, torch.Generator().manual_seed(1), min_scale=1.0, jitter=0.0)
    bg = augment(x, torch.Generator().manual_seed(1), min_scale=1.0, jitter=0.0, background=1.0)
    inside = torch.from_numpy(masks)[:, None].expand_as(bg.images)
    torch.testing.assert_close(bg.images[inside], plain.images[inside])
    change = (bg.images[~inside] - plain.images[~inside]).abs().mean()
    assert change > 0.2
    weak = augment(x, torch.Generator().manual_seed(1), min_scale=1.0, jitter=0.0, background=0.25)
    torch.testing.assert_close((weak.images - plain.images).abs().mean() * 4,  # the strength scales the change
                               (bg.images - plain.images).abs().mean(), rtol=0.05, atol=0)
    with pytest.raises(ValueError, match="foreground masks"):
        augment(x._replace(foreground=None), torch.Generator(), background=1.0)


def test_the_foreground_is_the_robot_and_the_object_and_old_files_are_named(tmp_path):
    from alignment.data import load_frames
    from envs.generate import generate_dataset
    out = str(tmp_path / "pick.hdf5")
    generate_dataset(env="pick", out=out, episodes=1, image_size=32, num_views=2, num_workers=1)
    frames = load_frames(out, "train", ["cam0"], keypoints=False, foreground=True)["demo_0"]["cam0"]
    with h5py.File(out) as f:
        robot, obj = f["data/demo_0/obs/cam0_robot_mask"][()], f["data/demo_0/obs/cam0_object_mask"][()]
    assert obj.any() and robot.any() and not (robot & obj).any()
    np.testing.assert_array_equal(frames.foreground, robot | obj)
    assert frames.masks is None
    with h5py.File(out, "a") as f:  # a file written before object masks existed
        del f["data/demo_0/obs/cam0_object_mask"]
    with pytest.raises(ValueError, match="no object masks .*envs.generate.*envs.rerender"):
        load_frames(out, "train", ["cam0"], keypoints=False, foreground=True)


def test_held_out_sector_views_are_unseen_by_default():
    views = ["cam0", "cam1", "cam2", "cam3", "held0", "held1", "first_person"]
    split = split_views(views)
    assert split.train == ["cam0", "cam1", "cam2", "cam3"]
    assert split.test == ["held0", "held1", "first_person"]
    assert split_views(views, num_train=2).test == ["cam2", "cam3", "held0", "held1", "first_person"]
    # A fixed-ring file (no held-out sector) keeps 3DTRL's protocol: two views train.
    assert split_views(["cam0", "cam1", "cam2", "first_person"]).train == ["cam0", "cam1"]


def test_a_batch_of_several_episodes_keeps_each_demo_s_views_in_step():
    # Pixel value = demo * 100 + time, the same in every view: each batch row must be one demo's time step.
    def demo(d: int) -> ViewFrames:
        values = (d * 100 + np.arange(20 + d)).astype(np.uint8)
        return ViewFrames(np.broadcast_to(values[:, None, None, None], (20 + d, 2, 2, 3)))
    frames = {f"demo_{d}": {v: demo(d) for v in ("cam0", "cam1", "cam2")} for d in range(2)}
    views, times, episodes, demos = sample_views(frames, ["cam0", "cam1", "cam2"], 2, 6, np.random.default_rng(0),
                                                episodes=2)
    assert len(views) == 2 and len(times) == len(episodes) == 12
    pixel = views[0].images[:, 0, 0, 0].astype(int)
    demo_of = {e: set(pixel[episodes == e] // 100) for e in (0, 1)}
    assert demo_of[0] | demo_of[1] == {0, 1} and len(demo_of[0]) == len(demo_of[1]) == 1
    assert [f"demo_{p // 100}" for p in pixel] == demos  # each step's demo is named
    for v in views:
        np.testing.assert_array_equal(v.images[:, 0, 0, 0] % 100, times)
        np.testing.assert_array_equal(v.images[:, 0, 0, 0], views[0].images[:, 0, 0, 0])
    with pytest.raises(ValueError, match="episodes_per_batch=3 but the training split holds 2 demos"):
        sample_views(frames, ["cam0", "cam1"], 2, 6, np.random.default_rng(0), episodes=3)


def test_shared_times_take_the_same_steps_in_every_demo_of_a_batch():
    frames = {f"demo_{d}": {v: ViewFrames(np.zeros((30 + 5 * d, 2, 2, 3), np.uint8)) for v in ("cam0", "cam1")}
              for d in range(3)}
    _, times, episodes, _ = sample_views(frames, ["cam0", "cam1"], 2, 8, np.random.default_rng(1), episodes=3,
                                         shared_times=True)
    per_demo = [times[episodes == e] for e in range(3)]
    assert all(np.array_equal(t, per_demo[0]) for t in per_demo) and per_demo[0].max() < 30
    _, times, episodes, _ = sample_views(frames, ["cam0", "cam1"], 2, 8, np.random.default_rng(1), episodes=3)
    assert not all(np.array_equal(times[episodes == e], times[episodes == 0]) for e in range(3))
