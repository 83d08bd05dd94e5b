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
