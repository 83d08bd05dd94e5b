import numpy as np
import pytest
import timm
import torch

from poseaware import pose_maps


def lit_tokens(p2d):
    return np.flatnonzero(np.asarray(p2d))


@pytest.mark.parametrize(
    "xy, token",
    [
        ((0.0, 0.0), 0),
        ((15.99, 0.0), 0),
        ((16.0, 0.0), 1),  # first pixel of the second column
        ((0.0, 16.0), 4),  # first pixel of the second row: row-major
        ((63.9, 0.0), 3),  # last column
        ((0.0, 47.9), 8),  # last row (H=48)
        ((63.0, 47.0), 11),
        ((37.0, 20.0), 1 * 4 + 2),
    ],
)
def test_single_keypoint_lights_row_major_token(xy, token):
    kp = np.array([[xy]], dtype=np.float32)[0]  # (1, 2)
    p2d, p3d = pose_maps(kp, image_size=(48, 64), patch_size=16)
    assert p2d.shape == (12,) and p3d.shape == (12, 1)
    assert lit_tokens(p2d).tolist() == [token]


def test_lit_token_is_the_patch_timm_patch_embed_puts_there():
    vit = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=(48, 64), num_classes=0)
    embed = vit.patch_embed.eval()
    for x, y in [(5, 5), (40, 10), (63, 47), (17, 33)]:
        base = torch.zeros(1, 3, 48, 64)
        painted = base.clone()
        painted[..., y, x] = 10.0  # one pixel inside one patch
        changed = (embed(painted) - embed(base)).abs().sum(-1)[0]
        p2d, _ = pose_maps(torch.tensor([[float(x), float(y)]]), (48, 64), 16)
        assert torch.nonzero(changed > 1e-6).flatten().tolist() == torch.nonzero(p2d).flatten().tolist()


def test_p3d_keeps_joint_identity_and_ignores_missing_points():
    kp = np.array([[5, 5], [40, 5], [np.nan, 3], [70, 3], [-1, 2], [40, 6]], dtype=np.float32)
    p2d, p3d = pose_maps(kp, (32, 64), 16)
    assert p3d.shape == (8, 6)
    assert p3d[0].tolist() == [True, False, False, False, False, False]
    assert p3d[2].tolist() == [False, True, False, False, False, True]
    assert not p3d[:, 2:5].any()  # NaN, right of the image, left of the image
    assert lit_tokens(p2d).tolist() == [0, 2]


def test_dilation_grows_by_whole_patches_and_stops_at_borders():
    kp = np.array([[0.0, 0.0]], dtype=np.float32)  # top-left corner patch of a 4x4 grid
    p2d, _ = pose_maps(kp, (64, 64), 16, dilation=1)
    assert lit_tokens(p2d).tolist() == [0, 1, 4, 5]
    kp = np.array([[63.0, 63.0]], dtype=np.float32)
    p2d, _ = pose_maps(kp, (64, 64), 16, dilation=1)
    assert lit_tokens(p2d).tolist() == [10, 11, 14, 15]
    kp = np.array([[20.0, 20.0]], dtype=np.float32)
    p2d, _ = pose_maps(kp, (64, 64), 16, dilation=2)
    assert p2d.sum() == 16  # 5x5 window clipped to the 4x4 grid


def test_leading_batch_and_time_dims():
    kp = torch.full((2, 3, 4, 2), float("nan"))
    kp[1, 2, 3] = torch.tensor([20.0, 20.0])
    p2d, p3d = pose_maps(kp, (32, 32), 16)
    assert p2d.shape == (2, 3, 4) and p3d.shape == (2, 3, 4, 4)
    assert p2d.sum() == 1 and bool(p3d[1, 2, 3, 3])
    assert isinstance(p2d, torch.Tensor) and p2d.dtype == torch.bool


@pytest.mark.parametrize(
    "kp, size, patch, match",
    [
        (np.zeros((4, 3)), (32, 32), 16, "shape"),
        (np.zeros((4,)), (32, 32), 16, "shape"),
        (np.zeros((4, 2)), (30, 32), 16, "not divisible"),
    ],
)
def test_bad_input_names_the_problem(kp, size, patch, match):
    with pytest.raises(ValueError, match=match):
        pose_maps(kp, size, patch)


def test_keypoints_from_token_probabilities_invert_pose_maps_to_the_token_centre_and_split_ties():
    import torch
    from poseaware.pose_maps import keypoints_from_token_probabilities

    def keypoints_from_token_logits(logits, grid, patch):  # as the BCE head's sigmoid gives them
        return keypoints_from_token_probabilities(torch.sigmoid(logits), grid, patch)

    keypoints = torch.tensor([[[3.0, 5.0], [20.0, 30.0], [31.0, 0.5], [float("nan"), 1.0]]])  # 32 px, patch 8
    _, p3d = pose_maps(keypoints, (32, 32), 8)
    found = keypoints_from_token_logits(p3d.float() * 60 - 30, (4, 4), 8)  # sure: neighbours weigh ~1e-13
    torch.testing.assert_close(found[0, :3], torch.tensor([[4.0, 4.0], [20.0, 28.0], [28.0, 4.0]]))
    assert torch.isnan(found[0, 3]).all()  # no token sure of it: not seen
    # equally sure of two neighbouring tokens: their shared edge
    logits = torch.full((1, 16, 1), -30.0)
    logits[0, 5, 0] = logits[0, 6, 0] = 10.0  # row 1, columns 1 and 2
    torch.testing.assert_close(keypoints_from_token_logits(logits, (4, 4), 8)[0, 0], torch.tensor([16.0, 12.0]))
    with pytest.raises(ValueError, match="4x4 grid has 16"):
        keypoints_from_token_logits(torch.zeros(1, 9, 1), (4, 4), 8)
    # a 2 x 4 grid (rows x columns), sure of tokens 0 and 1 at its corner: the window clipped at the border
    # counts each token once, so the answer is their shared edge, not pulled towards the corner
    logits = torch.full((1, 8, 1), -30.0)
    logits[0, 0, 0] = logits[0, 1, 0] = 10.0
    torch.testing.assert_close(keypoints_from_token_logits(logits, (2, 4), 8)[0, 0], torch.tensor([8.0, 4.0]))
    keypoints = torch.tensor([[[29.0, 3.0], [2.0, 14.0]]])  # 16 x 32 image: columns 3 and 0
    _, p3d = pose_maps(keypoints, (16, 32), 8)
    torch.testing.assert_close(keypoints_from_token_logits(p3d.float() * 60 - 30, (2, 4), 8),
                               torch.tensor([[[28.0, 4.0], [4.0, 12.0]]]))
