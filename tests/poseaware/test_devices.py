"""The layers on each device and under bf16 autocast, the precision ``poseaware.engine`` trains with on a GPU.

On the CPU these compare a computation with itself in another precision; on a CUDA device they also check
that the device's attention kernels (``scaled_dot_product_attention`` with a boolean mask) give what the CPU
gives, fully masked frames included.
"""
import pytest
import torch

from poseaware import PoseAwareAttentionBlock, PoseAwareEncoder
from tests.poseaware.test_attention import make_inputs, naive_spatial

K = 4
SMALL = dict(img_size=32, patch_size=8, preset="tiny", depth=2, num_keypoints=K)
METHODS = ("baseline", "paab", "paat", "paab+paat")


def keypoints_with_missing(batch: int = 4, seed: int = 0) -> torch.Tensor:
    """Keypoints in pixels; the last image has none visible (all NaN), so PAAB sees a frame with no pose token."""
    kp = torch.rand(batch, K, 2, generator=torch.Generator().manual_seed(seed)) * 31
    kp[-1] = float("nan")
    return kp


def test_paab_block_on_the_device_matches_the_naive_masked_softmax(device):
    torch.manual_seed(0)
    block = PoseAwareAttentionBlock(24, 3, "spatial").eval()
    cls, patches, pose = make_inputs(frames=2)
    pose[0, 1] = False  # a frame with no pose token: CLS attends to itself alone
    want_cls, want_patches = naive_spatial(block, cls, patches, pose)
    got_cls, got_patches = block.to(device)(cls.to(device), patches.to(device), pose.to(device))
    torch.testing.assert_close(got_cls.cpu(), want_cls, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_patches.cpu(), want_patches, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_encoder_on_the_device_matches_the_cpu_and_trains(method, device, full_fp32):
    torch.manual_seed(0)
    cpu = PoseAwareEncoder(method=method, **SMALL).train()
    moved = PoseAwareEncoder(method=method, **SMALL).train()
    moved.load_state_dict(cpu.state_dict())
    moved.to(device)
    images, kp = torch.rand(4, 3, 32, 32), keypoints_with_missing()
    want = cpu(images, kp)
    got = moved(images.to(device), kp.to(device))
    torch.testing.assert_close(got.embedding.cpu(), want.embedding, atol=1e-4, rtol=1e-4)
    loss = got.embedding.pow(2).mean() + (got.aux_loss if got.aux_loss is not None else 0)
    loss.backward()
    grads = [p.grad for p in moved.parameters() if p.grad is not None]
    assert grads and all(g.device.type == device.type and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("method", METHODS)
def test_bf16_autocast_stays_finite_and_close_to_fp32(method, device):
    torch.manual_seed(0)
    enc = PoseAwareEncoder(method=method, **SMALL).train().to(device)
    images, kp = torch.rand(4, 3, 32, 32, device=device), keypoints_with_missing().to(device)
    want = enc(images, kp)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        got = enc(images, kp)
    assert torch.isfinite(got.embedding).all()
    cosine = torch.nn.functional.cosine_similarity(got.embedding.float(), want.embedding, dim=-1)
    assert cosine.min() > 0.99, cosine
    if "paat" in method:
        assert torch.isfinite(got.aux_loss)
        torch.testing.assert_close(got.aux_loss.float(), want.aux_loss, atol=0.05, rtol=0.05)
