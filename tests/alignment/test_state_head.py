"""The privileged state readout: batches carry each step's own state, and the head learns a shared map."""
import numpy as np
import pytest
import torch

from alignment.data import ViewBatches, ViewFrames
from alignment.state_head import StateHead, state_statistics


def test_each_batch_step_carries_its_own_demo_s_state_at_its_time():
    # Pixel = demo * 100 + time in every view; the state is the same number, so rows must match.
    def frames(d: int) -> ViewFrames:
        values = (d * 100 + np.arange(20 + d)).astype(np.uint8)
        return ViewFrames(np.broadcast_to(values[:, None, None, None], (20 + d, 2, 2, 3)))
    data = {f"demo_{d}": {v: frames(d) for v in ("cam0", "cam1")} for d in range(2)}
    states = {f"demo_{d}": np.stack([d * 100 + np.arange(20 + d), -np.arange(20 + d)], 1).astype(np.float32)
              for d in range(2)}
    batch = ViewBatches(data, ["cam0", "cam1"], 2, 6, steps=3, seed=0, episodes_per_batch=2, states=states)[1]
    pixel = batch["views"][0].images[:, 0, 0, 0].astype(float)
    assert batch["states"].shape == (12, 2)
    np.testing.assert_array_equal(batch["states"][:, 0], pixel)
    np.testing.assert_array_equal(batch["states"][:, 1], -batch["times"])
    assert "states" not in ViewBatches(data, ["cam0", "cam1"], 2, 6, steps=3, seed=0)[0]


def test_the_head_fits_a_state_every_view_writes_the_same_way_and_not_one_they_write_apart():
    torch.manual_seed(0)
    state = torch.randn(64, 3) * torch.tensor([5.0, 0.1, 1.0]) + 2.0
    stats = state_statistics({"demo_0": state.numpy()})
    mix = torch.randn(3, 16)

    def fit(views: torch.Tensor) -> float:
        head = StateHead(16, stats["mean"], stats["std"])
        opt = torch.optim.Adam(head.parameters(), lr=0.05)
        for _ in range(300):
            opt.zero_grad()
            loss = head.loss(views, state)
            loss.backward()
            opt.step()
        return head.loss(views, state).item()

    standard = (state - state.mean(0)) / state.std(0)
    shared = torch.stack([standard @ mix, standard @ mix])
    assert fit(shared) < 1e-3  # one linear map reads both views
    apart = torch.stack([standard @ mix, -(standard @ mix)])
    assert fit(apart) > 0.9  # no one map reads a code each view writes with opposite sign


def test_constant_state_dimensions_and_wrong_shapes():
    stats = state_statistics({"a": np.array([[1.0, 3.0], [2.0, 3.0]], np.float32)})
    assert stats["std"][1] == 1.0 and stats["mean"] == [1.5, 3.0]
    head = StateHead(4, stats["mean"], stats["std"])
    with pytest.raises(ValueError, match=r"states must be \(B=5, d=2\)"):
        head.loss(torch.zeros(2, 5, 4), torch.zeros(5, 3))
