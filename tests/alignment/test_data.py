import numpy as np
import torch

from alignment.data import ViewFrames, augment, split_views, to_model_input


def test_keypoints_and_masks_move_with_the_crop_and_resize():
    images = np.zeros((1, 64, 64, 3), np.uint8)
    images[0, 40:44, 20:24] = 255  # a bright block whose centre is the keypoint, and the mask
    kp = np.array([[[22.0, 42.0]]], np.float32)
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 40:44, 20:24] = True
    x = to_model_input(ViewFrames(images, kp, masks), 32, torch.device("cpu"))
    np.testing.assert_allclose(x.keypoints[0, 0].numpy(), [11.0, 21.0])
    assert x.masks.shape == (1, 32, 32) and x.masks[0, 20:22, 10:12].all() and x.masks.sum() == 4
    for seed in range(5):
        xa = augment(x, torch.Generator().manual_seed(seed), min_scale=0.7)
        col, row = xa.keypoints[0, 0].long().tolist()
        assert xa.images[0, :, row, col].mean() > xa.images[0].mean() + 0.5
        assert xa.masks[0, row, col]


def test_background_augmentation_changes_only_pixels_outside_the_robot():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    masks = np.zeros((2, 32, 32), bool)
    masks[:, 8:24, 8:24] = True
    x = to_model_input(ViewFrames(images, None, masks), 32, torch.device("cpu"))
    # No crop (min_scale 1) and no colour jitter: what changes is the background only.
    plain = augment(x, torch.Generator().manual_seed(1), min_scale=1.0, jitter=0.0)
    bg = augment(x, torch.Generator().manual_seed(1), min_scale=1.0, jitter=0.0, background=True)
    inside = torch.from_numpy(masks)[:, None].expand_as(bg.images)
    torch.testing.assert_close(bg.images[inside], plain.images[inside])
    assert (bg.images[~inside] - plain.images[~inside]).abs().mean() > 0.2


def test_held_out_sector_views_are_unseen_by_default():
    views = ["cam0", "cam1", "cam2", "cam3", "held0", "held1", "first_person"]
    split = split_views(views)
    assert split.train == ["cam0", "cam1", "cam2", "cam3"]
    assert split.test == ["held0", "held1", "first_person"]
    assert split_views(views, num_train=2).test == ["cam2", "cam3", "held0", "held1", "first_person"]
    # A fixed-ring file (no held-out sector) keeps 3DTRL's protocol: two views train.
    assert split_views(["cam0", "cam1", "cam2", "first_person"]).train == ["cam0", "cam1"]
