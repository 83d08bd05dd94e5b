import pytest
import torch

from alignment.losses import tcn_loss


@pytest.mark.parametrize("name", ["triplet", "infonce"])
def test_a_gradient_step_pulls_positives_together_and_pushes_negatives_apart(name):
    torch.manual_seed(0)
    a = torch.randn(8, 16, requires_grad=True)
    b = torch.randn(8, 16, requires_grad=True)
    times = torch.arange(8) * 3
    loss = tcn_loss(name, a, b, times, window=2, margin=5.0, temperature=0.5)
    loss.backward()
    with torch.no_grad():
        a2, b2 = a - 0.05 * a.grad, b - 0.05 * b.grad
        if name == "infonce":
            a, b, a2, b2 = (torch.nn.functional.normalize(x, dim=-1) for x in (a, b, a2, b2))
        pos_before, pos_after = (a - b).norm(dim=1).mean(), (a2 - b2).norm(dim=1).mean()
        neg_before = torch.cdist(a, b)[~torch.eye(8, dtype=torch.bool)].mean()
        neg_after = torch.cdist(a2, b2)[~torch.eye(8, dtype=torch.bool)].mean()
    assert pos_after < pos_before
    assert neg_after > neg_before


def test_frames_within_the_window_are_not_negatives():
    a = torch.zeros(2, 4)
    b = torch.zeros(2, 4)
    # Both frames within the window: no negatives, so nothing to push apart.
    assert tcn_loss("triplet", a, b, torch.tensor([0, 1]), window=2, margin=1.0) == 0


def test_unknown_loss_lists_choices():
    with pytest.raises(ValueError, match="choose one of triplet, infonce"):
        tcn_loss("cosine", torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0, 5]), 1)


@pytest.mark.parametrize("name", ["triplet", "infonce"])
def test_centering_ignores_a_constant_offset_per_view(name):
    torch.manual_seed(0)
    a, b = torch.randn(8, 16), torch.randn(8, 16)
    times = torch.arange(8) * 3
    plain = tcn_loss(name, a, b, times, 2, center_views=True)
    shifted = tcn_loss(name, a + 5.0, b - 3.0, times, 2, center_views=True)
    torch.testing.assert_close(plain, shifted)
    assert not torch.allclose(tcn_loss(name, a, b, times, 2), tcn_loss(name, a + 5.0, b - 3.0, times, 2))
