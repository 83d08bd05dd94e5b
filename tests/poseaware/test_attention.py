import pytest
import torch

from poseaware import PoseAwareAttentionBlock


def naive_spatial(block, cls, patches, pose):
    """Explicit masked softmax over CLS + pose tokens of each frame, computed by hand."""
    blk = block.block
    out_cls, out_patches = [], patches.clone()
    for b in range(patches.shape[0]):
        frame_cls = []
        for t in range(patches.shape[1]):
            x = torch.cat([cls[b : b + 1], patches[b, t]], 0)  # (1+N, D)
            keep = torch.cat([torch.tensor([True]), pose[b, t]])
            h = blk.norm1(x)
            qkv = blk.attn.qkv(h).reshape(x.shape[0], 3, blk.attn.num_heads, -1).permute(1, 2, 0, 3)
            q, k, v = qkv[0], qkv[1], qkv[2]
            logits = (q @ k.transpose(-1, -2)) * blk.attn.scale
            allowed = (keep[:, None] & keep[None, :]) | torch.eye(x.shape[0], dtype=torch.bool)
            logits = logits.masked_fill(~allowed, float("-inf"))
            att = (logits.softmax(-1) @ v).transpose(0, 1).reshape(x.shape[0], -1)
            x1 = x + blk.attn.proj(att)
            x2 = x1 + blk.mlp(blk.norm2(x1))
            frame_cls.append(x2[0])
            out_patches[b, t][pose[b, t]] = x2[1:][pose[b, t]]
        out_cls.append(torch.stack(frame_cls).mean(0))
    return torch.stack(out_cls), out_patches


def make_inputs(batch=2, frames=1, tokens=9, dim=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    cls = torch.randn(batch, dim, generator=g)
    patches = torch.randn(batch, frames, tokens, dim, generator=g)
    pose = torch.rand(batch, frames, tokens, generator=g) > 0.5
    return cls, patches, pose


@pytest.mark.parametrize("frames", [1, 3])
def test_spatial_matches_naive_masked_softmax(frames):
    torch.manual_seed(0)
    block = PoseAwareAttentionBlock(24, 3, "spatial").eval()
    cls, patches, pose = make_inputs(frames=frames)
    got_cls, got_patches = block(cls, patches, pose)
    want_cls, want_patches = naive_spatial(block, cls, patches, pose)
    torch.testing.assert_close(got_cls, want_cls, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_patches, want_patches, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["spatial", "joint"])
def test_non_pose_tokens_pass_through_unchanged(variant):
    block = PoseAwareAttentionBlock(24, 3, variant).eval()
    cls, patches, pose = make_inputs(frames=2)
    new_cls, new_patches = block(cls, patches, pose)
    assert torch.equal(new_patches[~pose], patches[~pose])
    assert not torch.allclose(new_patches[pose], patches[pose])
    assert not torch.allclose(new_cls, cls)


@pytest.mark.parametrize("variant", ["spatial", "joint", "factorized"])
def test_all_missing_keypoints_give_finite_outputs_and_gradients(variant):
    block = PoseAwareAttentionBlock(24, 3, variant)
    cls, patches, _ = make_inputs(frames=2)
    cls.requires_grad_(True)
    pose = torch.zeros(2, 2, 9, dtype=torch.bool)
    new_cls, new_patches = block(cls, patches, pose)
    (new_cls.sum() + new_patches.sum()).backward()
    assert torch.isfinite(new_cls).all() and torch.isfinite(new_patches).all()
    assert torch.isfinite(cls.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)


@pytest.mark.parametrize("variant", ["spatial", "joint", "factorized"])
def test_variants_run_on_video_and_differ_in_how_frames_mix(variant):
    torch.manual_seed(0)
    block = PoseAwareAttentionBlock(24, 3, variant).eval()
    cls, patches, pose = make_inputs(frames=3)
    pose[:, :, 0] = True
    out_cls, out_patches = block(cls, patches, pose)
    assert out_cls.shape == cls.shape and out_patches.shape == patches.shape
    # Perturb a pose token of frame 2: does frame 0's pose token notice?
    bumped = patches.clone()
    bumped[:, 2, 0] = torch.randn_like(bumped[:, 2, 0])  # a shift alone would vanish in LayerNorm
    _, bumped_out = block(cls, bumped, pose)
    frame0_changed = (bumped_out[:, 0, 0] - out_patches[:, 0, 0]).abs().max() > 1e-3
    assert frame0_changed == (variant in ("joint", "factorized"))


def test_bad_variant_and_shapes():
    with pytest.raises(ValueError, match="variant"):
        PoseAwareAttentionBlock(24, 3, "diagonal")
    block = PoseAwareAttentionBlock(24, 3)
    cls, patches, pose = make_inputs(frames=2)
    with pytest.raises(ValueError, match="pose map"):
        block(cls, patches, pose[:, :1])
