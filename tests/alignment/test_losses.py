import pytest
import torch
import torch.nn.functional as F

from alignment.losses import tcn_loss


@pytest.mark.parametrize("name", ["triplet", "infonce"])
def test_a_gradient_step_pulls_positives_together_and_pushes_negatives_apart(name):
    torch.manual_seed(0)
    views = torch.randn(3, 8, 16, requires_grad=True)
    times = torch.arange(8) * 3
    loss = tcn_loss(name, views, times, window=2, margin=5.0, temperature=0.5)
    loss.backward()
    with torch.no_grad():
        after = F.normalize(views - 0.05 * views.grad, dim=-1)
        before = F.normalize(views, dim=-1)
        off = ~torch.eye(8, dtype=torch.bool)
        for i, j in [(0, 1), (0, 2), (1, 2)]:  # every pair of views: all of them are positives
            assert (after[i] - after[j]).norm(dim=1).mean() < (before[i] - before[j]).norm(dim=1).mean()
            assert torch.cdist(after[i], after[j])[off].mean() > torch.cdist(before[i], before[j])[off].mean()


def test_frames_within_the_window_are_not_negatives():
    # Both frames within the window: no negatives, so nothing to push apart.
    assert tcn_loss("triplet", torch.zeros(2, 2, 4), torch.tensor([0, 1]), window=2, margin=1.0) == 0


def test_every_other_view_at_the_same_time_is_a_positive():
    # Three views that agree perfectly on each time step and separate time steps: the loss is the
    # lowest multi-positive InfoNCE can reach with 2 positives per anchor: log 2 (cosine similarity 1 to
    # both positives, 0 to every negative, which weighs e^-100 at temperature 0.01).
    times = torch.arange(6) * 5
    distinct = torch.eye(6)
    perfect = tcn_loss("infonce", distinct.expand(3, 6, 6), times, window=2, temperature=0.01)
    torch.testing.assert_close(perfect, torch.log(torch.tensor(2.0)), atol=1e-4, rtol=0)
    # Break one view's agreement: the loss rises.
    broken = distinct.expand(3, 6, 6).clone()
    broken[2] = broken[2].flip(0)
    assert tcn_loss("infonce", broken, times, window=2, temperature=0.01) > perfect + 1


def test_bad_shapes_and_unknown_loss_are_named():
    with pytest.raises(ValueError, match="choose one of triplet, infonce"):
        tcn_loss("cosine", torch.zeros(2, 2, 4), torch.tensor([0, 5]), 1)
    with pytest.raises(ValueError, match="V >= 2 views"):
        tcn_loss("infonce", torch.zeros(1, 2, 4), torch.tensor([0, 5]), 1)


@pytest.mark.parametrize("name", ["triplet", "infonce"])
def test_centering_ignores_a_constant_offset_per_view(name):
    torch.manual_seed(0)
    views = torch.randn(2, 8, 16)
    offset = torch.tensor([5.0, -3.0])[:, None, None]
    times = torch.arange(8) * 3
    plain = tcn_loss(name, views, times, 2, center_views=True)
    torch.testing.assert_close(plain, tcn_loss(name, views + offset, times, 2, center_views=True))
    assert not torch.allclose(tcn_loss(name, views, times, 2), tcn_loss(name, views + offset, times, 2))


@pytest.mark.parametrize("name", ["triplet", "infonce"])
def test_other_episodes_are_negatives_even_at_the_same_time(name):
    # Two episodes whose frames at each time step embed identically: told apart only if the loss
    # knows they are different episodes, where every such frame is a negative with the positive's score.
    torch.manual_seed(0)
    one = F.normalize(torch.randn(8, 16), dim=-1)
    views = torch.cat([one, one], dim=0).expand(3, 16, 16)
    times = (torch.arange(8) * 5).repeat(2)
    episodes = torch.arange(2).repeat_interleave(8)
    merged = tcn_loss(name, views, times, 2, margin=0.5, temperature=0.1)
    separate = tcn_loss(name, views, times, 2, margin=0.5, temperature=0.1, episodes=episodes)
    assert separate > merged + 0.02  # triplet: one such negative of 15 per anchor, at the margin 0.5
    # Episodes that embed apart bring the loss back down.
    apart = torch.cat([one, -one], dim=0).expand(3, 16, 16)
    assert tcn_loss(name, apart, times, 2, margin=0.5, temperature=0.1, episodes=episodes) < separate - 0.02


def test_positives_never_cross_episodes():
    # Each episode's views agree at each time and every frame is orthogonal to every other: the loss
    # sits at its floor, log 2 (two positives per anchor), only if the other episode's frame at the same
    # time is not taken for a positive.
    times = (torch.arange(4) * 5).repeat(2)
    episodes = torch.arange(2).repeat_interleave(4)
    views = torch.eye(8).expand(3, 8, 8)
    loss = tcn_loss("infonce", views, times, 2, temperature=0.01, episodes=episodes)
    torch.testing.assert_close(loss, torch.log(torch.tensor(2.0)), atol=1e-4, rtol=0)


def test_episode_ids_must_match_the_time_steps():
    with pytest.raises(ValueError, match="one id per time step"):
        tcn_loss("infonce", torch.zeros(2, 4, 8), torch.arange(4), 1, episodes=torch.zeros(3))
