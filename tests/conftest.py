import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """Run a test on the CPU and, where there is one, on a CUDA device (skipped otherwise)."""
    import torch  # imported here: the simulator tests must not pay for torch

    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here")
    return torch.device(request.param)


@pytest.fixture
def full_fp32():
    """cuDNN runs fp32 convolutions (the patch embedding) in TF32 by default on Ampere and later GPUs, about
    1e-3 off; comparing a device's arithmetic with the CPU's needs full fp32 there."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
