import pytest
import torch

from poseaware import PoseAwareEncoder

K = 4
SMALL = dict(img_size=32, patch_size=8, preset="tiny", depth=2, num_keypoints=K)


def toy_batch(n=16, seed=0):
    """Images with one bright dot per keypoint, so keypoints are visible in the pixels."""
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(n, K, 2, generator=g) * 31
    images = torch.zeros(n, 3, 32, 32)
    for i in range(n):
        for k in range(K):
            x, y = kp[i, k].long()
            images[i, k % 3, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = 1.0 + k
    return images, kp


def test_paat_aux_loss_drops_when_training_on_visible_keypoints():
    torch.manual_seed(0)
    enc = PoseAwareEncoder(method="paat", paat_lambda=1.0, **SMALL).train()
    images, kp = toy_batch()
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = enc(images, keypoints=kp).aux_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_paat_lambda_scales_the_loss():
    torch.manual_seed(0)
    a = PoseAwareEncoder(method="paat", paat_lambda=1.0, **SMALL).train()
    b = PoseAwareEncoder(method="paat", paat_lambda=1.6, **SMALL).train()
    b.load_state_dict(a.state_dict())
    images, kp = toy_batch(4)
    torch.testing.assert_close(b(images, kp).aux_loss, 1.6 * a(images, kp).aux_loss)


def test_paat_eval_forward_is_the_baseline_forward_and_export_drops_the_head():
    torch.manual_seed(0)
    paat = PoseAwareEncoder(method="paat", **SMALL).eval()
    exported = paat.export()
    assert not any(k.startswith("paat.") for k in exported)
    assert any(k.startswith("paat.") for k in paat.state_dict())
    baseline = PoseAwareEncoder(**paat.export_config())
    assert baseline.method == "baseline"
    baseline.load_state_dict(exported)
    baseline.eval()
    images, kp = toy_batch(4)
    out = paat(images)  # no keypoints needed at inference
    assert out.aux_loss is None
    torch.testing.assert_close(out.embedding, baseline(images).embedding, rtol=0, atol=0)
    assert sum(p.numel() for p in baseline.parameters()) < sum(p.numel() for p in paat.parameters())


def test_paab_uses_keypoints_and_baseline_ignores_them():
    torch.manual_seed(0)
    images, kp = toy_batch(2)
    moved = kp.flip(0)
    paab = PoseAwareEncoder(method="paab", **SMALL).eval()
    assert not torch.allclose(paab(images, kp).embedding, paab(images, moved).embedding)
    base = PoseAwareEncoder(method="baseline", **SMALL).eval()
    torch.testing.assert_close(base(images, kp).embedding, base(images, moved).embedding)


def test_paab_with_no_visible_keypoints_is_finite():
    enc = PoseAwareEncoder(method="paab+paat", **SMALL).train()
    images, _ = toy_batch(2)
    out = enc(images, torch.full((2, K, 2), float("nan")))
    assert torch.isfinite(out.embedding).all() and torch.isfinite(out.aux_loss)


def test_pool_and_projection_options():
    images, kp = toy_batch(2)
    torch.manual_seed(0)
    mean = PoseAwareEncoder(pool="mean", proj_dim=16, **SMALL).eval()
    cls = PoseAwareEncoder(pool="cls", proj_dim=16, **SMALL).eval()
    cls.load_state_dict(mean.state_dict())
    with torch.no_grad():
        tokens, _ = mean.forward_features(images)
        out_mean, out_cls = mean(images).embedding, cls(images).embedding
    assert out_mean.shape == (2, 16)
    torch.testing.assert_close(out_mean, mean.head(tokens[:, 1:].mean(1)))
    torch.testing.assert_close(out_cls, mean.head(tokens[:, 0]))
    assert not torch.allclose(out_mean, out_cls)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="paxx"), "unknown method"),
        (dict(method="paab", paab_variant="diagonal"), "variant"),
        (dict(img_size=30), "not divisible"),
        (dict(method="paat", paat_target="p4d"), "target"),
        (dict(preset="huge"), "preset"),
        (dict(stem="cnn"), "unknown stem"),
        (dict(stem="conv", img_size=36, patch_size=12), "patch_size must be a power of two"),
    ],
)
def test_bad_construction_names_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoseAwareEncoder(**{**SMALL, **kwargs})


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_each_stem_gives_timms_row_major_token_grid(stem):
    """A pixel at a patch's top-left corner lies in that token's receptive field alone (the conv stem's
    reaches 7 px up and left, none right or down), so only that token moves, at its row-major index."""
    torch.manual_seed(0)
    enc = PoseAwareEncoder(**{**SMALL, "stem": stem}).eval()
    blank = torch.zeros(1, 3, 32, 32)
    base = enc.vit.patch_embed(blank)
    assert base.shape == (1, 16, enc.vit.embed_dim)
    for row, col in [(0, 3), (3, 0), (2, 1)]:
        image = blank.clone()
        image[0, :, 8 * row, 8 * col] = 1.0
        moved = (enc.vit.patch_embed(image) - base).abs().amax(-1)[0]
        assert moved.nonzero().flatten().tolist() == [row * 4 + col]
    assert isinstance(enc.vit.patch_embed.proj, torch.nn.Sequential) == (stem == "conv")


def test_bad_forward_inputs_name_the_problem():
    images, kp = toy_batch(2)
    paab = PoseAwareEncoder(method="paab", **SMALL)
    with pytest.raises(ValueError, match="needs keypoints"):
        paab(images)
    with pytest.raises(ValueError, match="keypoints must be"):
        paab(images, kp[..., :1])
    with pytest.raises(ValueError, match="keypoints must be"):
        paab(images, kp[:, :2])
    with pytest.raises(ValueError, match="resize"):
        paab(torch.zeros(2, 3, 40, 40), kp)
    paat = PoseAwareEncoder(method="paat", **SMALL).train()
    with pytest.raises(ValueError, match="needs keypoints"):
        paat(images)


def test_mask_tokens_are_the_patches_the_mask_covers_in_row_major_order():
    from poseaware.pose_maps import mask_token_map

    masks = torch.zeros(1, 32, 32, dtype=torch.bool)
    masks[0, 9, 26] = True  # row 9 -> patch row 1; column 26 -> patch column 3 (of 4)
    assert mask_token_map(masks, 8).nonzero()[:, 1].tolist() == [1 * 4 + 3]


def test_paab_with_mask_tokens_reads_the_mask_not_the_keypoints():
    torch.manual_seed(0)
    enc = PoseAwareEncoder(method="paab", paab_tokens="mask", paab_dilation=0, img_size=32, patch_size=8,
                           depth=2).eval()
    assert enc.needs_masks_at_inference and not enc.needs_keypoints_at_inference
    images, _ = toy_batch(2)
    left, right = torch.zeros(2, 32, 32, dtype=torch.bool), torch.zeros(2, 32, 32, dtype=torch.bool)
    left[:, :, :16], right[:, :, 16:] = True, True
    with torch.no_grad():
        a, b = enc(images, masks=left).embedding, enc(images, masks=right).embedding
        empty = enc(images, masks=torch.zeros(2, 32, 32, dtype=torch.bool)).embedding
    assert not torch.allclose(a, b) and torch.isfinite(empty).all()
    with pytest.raises(ValueError, match="needs the robot masks"):
        enc(images)
    with pytest.raises(ValueError, match="masks must be"):
        enc(images, masks=left[:, :16])


def test_keypoint_logits_are_what_paat_is_trained_on_and_need_a_paat_head():
    import torch.nn.functional as F
    from poseaware.pose_maps import pose_maps

    torch.manual_seed(0)
    encoder = PoseAwareEncoder("paat", img_size=32, patch_size=8, depth=2, num_keypoints=3, paat_after=2).train()
    images = torch.rand(2, 3, 32, 32)
    keypoints = torch.rand(2, 3, 2) * 32
    loss = encoder(images, keypoints).aux_loss
    _, p3d = pose_maps(keypoints, (32, 32), 8)
    expected = encoder.paat.loss_weight * F.binary_cross_entropy_with_logits(encoder.keypoint_logits(images),
                                                                            p3d.float())
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="no per-keypoint PAAT head"):
        PoseAwareEncoder("baseline", img_size=32, patch_size=8, depth=1).keypoint_logits(images)
    early_paab = PoseAwareEncoder("paab+paat", img_size=32, patch_size=8, depth=2, num_keypoints=3, paab_after=0)
    with pytest.raises(ValueError, match="paab_after >= paat_after"):  # it would need the keypoints it reads
        early_paab.keypoint_logits(images)


def test_token_softmax_loss_on_known_answers():
    import math

    from poseaware.auxiliary import PatchKeypointClassifier, token_cross_entropy

    target = torch.zeros(1, 16, 3)
    target[0, 5, 0] = 1.0  # keypoint 0 in token 5, keypoint 1 in token 0, keypoint 2 unseen
    target[0, 0, 1] = 1.0
    uniform = torch.zeros(1, 16, 3)
    assert token_cross_entropy(uniform, target).item() == pytest.approx(math.log(16))  # chance: log N
    sure = (target * 40 - 20).requires_grad_()
    assert token_cross_entropy(sure, target).item() == pytest.approx(0.0, abs=1e-6)
    wrong = torch.roll(target, 1, dims=1) * 40 - 20  # sure of the neighbouring token
    assert token_cross_entropy(wrong, target).item() == pytest.approx(40.0, abs=1e-3)
    # the unseen keypoint's logits do not count; with no keypoint seen the loss is 0 and still differentiable
    noisy = uniform.clone()
    noisy[..., 2] = torch.randn(1, 16)
    assert token_cross_entropy(noisy, target).item() == pytest.approx(math.log(16))
    empty = torch.zeros(1, 16, 3, requires_grad=True)
    loss = token_cross_entropy(empty, torch.zeros(1, 16, 3))
    loss.backward()
    assert loss.item() == 0.0 and empty.grad is not None
    head = PatchKeypointClassifier(8, 3, target="p3d_softmax")
    probabilities = head.token_probabilities(torch.randn(2, 16, 3))
    torch.testing.assert_close(probabilities.sum(-2), torch.ones(2, 3))  # a softmax over tokens, per keypoint


def test_a_softmax_head_learns_where_each_keypoint_is():
    """Trained on the toy dots, the p3d_softmax head finds most keypoints within a token (the refined best
    token's centre); untrained, it finds few."""
    from poseaware.pose_maps import keypoints_from_token_probabilities

    torch.manual_seed(0)
    enc = PoseAwareEncoder(method="paat", paat_target="p3d_softmax", paat_after=2, paat_lambda=1.0, **SMALL).train()
    images, kp = toy_batch(n=32)

    def within_a_token():
        with torch.no_grad():
            prob = enc.paat.token_probabilities(enc.keypoint_logits(images))
        found = keypoints_from_token_probabilities(prob, (4, 4), 8, threshold=0.0)
        return ((found - kp).abs().amax(-1) <= 8).float().mean().item()

    before = within_a_token()
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    for _ in range(80):
        loss = enc(images, keypoints=kp).aux_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before < 0.35 and within_a_token() > 0.8
