import numpy as np
import torch

from alignment.data import augment, to_model_input


def test_keypoints_move_with_the_crop_and_resize():
    images = np.zeros((1, 64, 64, 3), np.uint8)
    images[0, 40:44, 20:24] = 255  # a bright block whose centre is the keypoint
    kp = np.array([[[22.0, 42.0]]], np.float32)
    x, k = to_model_input(images, kp, 32, torch.device("cpu"))
    np.testing.assert_allclose(k[0, 0].numpy(), [11.0, 21.0])
    for seed in range(5):
        xa, ka = augment(x, k, torch.Generator().manual_seed(seed), min_scale=0.7)
        col, row = ka[0, 0].long().tolist()
        assert xa[0, :, row, col].mean() > xa[0].mean() + 0.5
