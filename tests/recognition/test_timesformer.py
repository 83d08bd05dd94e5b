import pytest
import timm
import torch

from recognition.timesformer import PoseAwareTimeSformer, frames_to_tokens, tokens_to_frames

SMALL = dict(num_frames=3, img_size=32, patch_size=8, preset="micro", num_keypoints=2)


def test_token_order_is_patch_major_time_minor():
    patches = torch.arange(2 * 3 * 4).float().reshape(1, 3, 4, 2)[..., :1].expand(1, 3, 4, 5)  # (B,T,N,D)
    tokens = frames_to_tokens(patches)
    for t in range(3):
        for n in range(4):
            assert torch.equal(tokens[0, n * 3 + t], patches[0, t, n])
    assert torch.equal(tokens_to_frames(tokens, 3), patches)


def test_a_single_lit_keypoint_updates_exactly_its_video_token():
    torch.manual_seed(0)
    model = PoseAwareTimeSformer(method="paab", paab_dilation=0, **SMALL).eval()
    x = torch.randn(1, 1 + 16 * 3, model.norm.normalized_shape[0])
    kp = torch.full((1, 3, 2, 2), float("nan"))
    kp[0, 2, 1] = torch.tensor([20.0, 9.0])  # frame t=2, pixel (x=20, y=9) -> row 1, col 2 -> patch n=6
    from poseaware import pose_maps

    pose = pose_maps(kp, (32, 32), 8)[0]
    out = model.apply_paab(x, pose, frames=3)
    changed = torch.nonzero((out - x).abs().sum(-1)[0] > 0).flatten().tolist()
    assert changed == [0, 1 + 6 * 3 + 2]  # CLS and token 1 + n*T + t


def test_divided_attention_temporal_fc_starts_at_zero_and_frames_interact():
    """In one block, frame 0's patch tokens see frame 2 only through temporal attention: not at all
    while temporal_fc is zero (its initial value), and once it is not."""
    torch.manual_seed(0)
    model = PoseAwareTimeSformer(**{**SMALL, "num_keypoints": None}).eval()
    assert all(b.temporal_fc.weight.abs().sum() == 0 for b in model.blocks)
    video = torch.randn(1, 3, 3, 32, 32)
    other = video.clone()
    other[:, 2] = torch.randn_like(other[:, 2])

    def frame0_tokens(clip):
        with torch.no_grad():
            x = model.blocks[0](model._embed(clip), 3)
        return tokens_to_frames(x[:, 1:], 3)[:, 0]

    assert torch.equal(frame0_tokens(video), frame0_tokens(other))
    torch.nn.init.normal_(model.blocks[0].temporal_fc.weight, std=0.1)
    assert not torch.allclose(frame0_tokens(video), frame0_tokens(other), atol=1e-4)


@pytest.mark.parametrize("method", ["baseline", "paab", "paat", "paab+paat"])
@pytest.mark.parametrize("variant", ["spatial", "joint", "factorized"])
def test_methods_and_variants_run_on_clips(method, variant):
    model = PoseAwareTimeSformer(method=method, paab_variant=variant, num_classes=5, **SMALL).train()
    kp = torch.rand(2, 3, 2, 2) * 32
    out = model(torch.randn(2, 3, 3, 32, 32), kp)
    assert out.logits.shape == (2, 5) and torch.isfinite(out.logits).all()
    assert (out.aux_loss is not None) == ("paat" in method)


def test_paat_eval_matches_exported_baseline():
    torch.manual_seed(0)
    paat = PoseAwareTimeSformer(method="paat", num_classes=4, **SMALL).eval()
    base = PoseAwareTimeSformer(method="baseline", num_classes=4, **{**SMALL, "num_keypoints": None}).eval()
    base.load_state_dict(paat.export())
    video = torch.randn(2, 3, 3, 32, 32)
    torch.testing.assert_close(paat(video).logits, base(video).logits, rtol=0, atol=0)


def test_load_pretrained_from_a_local_deit_state_dict_seeds_spatial_and_temporal(tmp_path):
    vit = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=0)
    path = tmp_path / "deit.pth"
    torch.save({"model": vit.state_dict()}, path)
    model = PoseAwareTimeSformer(num_frames=2, img_size=64, patch_size=16, preset="tiny")
    missing, _ = model.load_pretrained(str(path))
    assert torch.equal(model.blocks[3].attn.qkv.weight, vit.blocks[3].attn.qkv.weight)
    assert torch.equal(model.blocks[3].temporal_attn.qkv.weight, vit.blocks[3].attn.qkv.weight)
    assert model.pos_embed.shape == (1, 1 + 16, 192)
    assert all("temporal_fc" in k or "time_embed" in k or "temporal_norm1" in k for k in missing)


def test_load_a_facebookresearch_pyth_checkpoint(tmp_path):
    src = PoseAwareTimeSformer(num_frames=2, img_size=32, patch_size=8, preset="micro", num_classes=3)
    path = tmp_path / "TimeSformer.pyth"
    torch.save({"model_state": {f"model.{k}": v for k, v in src.state_dict().items()}}, path)
    dst = PoseAwareTimeSformer(num_frames=2, img_size=32, patch_size=8, preset="micro", num_classes=3)
    missing, unexpected = dst.load_pretrained(str(path))
    assert not missing and not unexpected
    video = torch.randn(1, 2, 3, 32, 32)
    torch.testing.assert_close(dst.eval()(video).logits, src.eval()(video).logits)


class Payload:
    def __reduce__(self):
        return (print, ("ran",))


def test_pretrained_weights_that_match_nothing_or_hold_objects_are_refused(tmp_path, capsys):
    vit = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=0)
    good = tmp_path / "deit.pth"
    torch.save({"model": vit.state_dict()}, good)
    PoseAwareTimeSformer(num_frames=2, img_size=32, patch_size=16, preset="tiny", pretrained_path=str(good))
    assert "deit.pth: loaded " in capsys.readouterr().out  # how many of the backbone's tensors, said
    other = tmp_path / "other.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(2)}}, other)
    with pytest.raises(ValueError, match="other.pth matches 0 of the backbone's .* tensors"):
        PoseAwareTimeSformer(num_frames=2, img_size=32, patch_size=16, preset="tiny", pretrained_path=str(other))
    pickled = tmp_path / "pickled.pth"
    torch.save({"model": {"x": Payload()}}, pickled)
    with pytest.raises(ValueError, match="pickled.pth is not pretrained weights: it holds Python objects") as err:
        PoseAwareTimeSformer(num_frames=2, img_size=32, patch_size=16, preset="tiny", pretrained_path=str(pickled))
    assert "weights_only" not in str(err.value) and "ran" not in capsys.readouterr().out


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown method"):
        PoseAwareTimeSformer(method="pab", **SMALL)
    model = PoseAwareTimeSformer(method="paab", **SMALL)
    with pytest.raises(ValueError, match="needs keypoints"):
        model(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match="frames"):
        model(torch.randn(1, 4, 3, 32, 32), torch.zeros(1, 4, 2, 2))
    with pytest.raises(FileNotFoundError):
        model.load_pretrained("/nonexistent.pyth")


@pytest.mark.parametrize("method", ["baseline", "paab", "paat", "paab+paat"])
@pytest.mark.parametrize("variant", ["spatial", "joint", "factorized"])
def test_the_device_gives_what_the_cpu_gives_and_bf16_stays_finite(method, variant, device, full_fp32):
    torch.manual_seed(0)
    cpu = PoseAwareTimeSformer(method=method, paab_variant=variant, num_classes=5, **SMALL).train()
    moved = PoseAwareTimeSformer(method=method, paab_variant=variant, num_classes=5, **SMALL).train()
    moved.load_state_dict(cpu.state_dict())
    moved.to(device)
    video, kp = torch.randn(2, 3, 3, 32, 32), torch.rand(2, 3, 2, 2) * 32
    kp[1, 0] = float("nan")  # a frame with no visible keypoint
    want = cpu(video, kp).logits
    torch.testing.assert_close(moved(video.to(device), kp.to(device)).logits.cpu(), want, atol=1e-4, rtol=1e-4)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        out = moved(video.to(device), kp.to(device))
    out.logits.float().sum().backward()
    assert torch.isfinite(out.logits).all()
    assert all(torch.isfinite(p.grad).all() for p in moved.parameters() if p.grad is not None)
    torch.testing.assert_close(out.logits.float().cpu(), want, atol=0.1, rtol=0.1)
