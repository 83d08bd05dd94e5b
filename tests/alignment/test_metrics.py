import numpy as np
import pytest

from alignment.metrics import (alignment_error, cycle_error, kendall_tau, pair_matrix, score_trajectories,
                               score_trajectory, to_geometry)


def line(n, start=0):
    """Embeddings that sit on a line, so the nearest frame is the closest time."""
    return np.arange(start, start + n, dtype=float)[:, None] * np.ones((1, 4))


def curve(n, dim=16, seed=0):
    """A smooth trajectory through embedding space that never comes back near itself."""
    t = np.linspace(0, 1, n)[:, None]
    freq = np.random.default_rng(seed).uniform(0.5, 1.5, (1, dim))
    return np.concatenate([np.cos(np.pi * freq * t), np.sin(np.pi * freq * t)], axis=1)


def test_identical_sequences_score_perfectly():
    a = np.random.default_rng(0).normal(size=(20, 8))
    assert alignment_error(a, a) == 0 and cycle_error(a, a) == 0 and kendall_tau(a, a) == pytest.approx(1)


def test_known_time_shift():
    a, b = line(20), line(20, start=3)  # b[j] == a[j + 3]
    # A->B: frames 3..19 find j=i-3 (error 3), frames 0..2 clamp to j=0 (errors 0,1,2): sum 54
    # B->A: frames 0..16 find i=j+3 (3 each), 17..19 clamp to 19 (2,1,0): sum 54
    assert alignment_error(a, b) == pytest.approx(54 / 20 / 20)


def test_reversed_sequence():
    a = line(10)
    b = a[::-1]
    expected = np.mean(np.abs(2 * np.arange(10) - 9)) / 10
    assert alignment_error(a, b) == pytest.approx(expected)
    assert kendall_tau(a, b) == pytest.approx(-1)


def test_unequal_lengths_are_normalised_per_direction():
    a, b = line(10), line(20)
    # A->B: exact matches (0). B->A: frames 10..19 clamp to 9: errors 1..10, sum 55, over 20 frames, / len(A)=10
    assert alignment_error(a, b) == pytest.approx(0.5 * (0 + 55 / 20 / 10))
    assert alignment_error(a, b) == pytest.approx(alignment_error(b, a))


def test_cycle_error_counts_broken_cycles():
    a = line(10)
    b = np.zeros((10, 4))  # every frame of A maps to frame 0 of B, which maps back to frame 0
    assert cycle_error(a, b) == pytest.approx(0.8)


def test_an_embedding_that_carries_no_time_scores_chance():
    # Every frame equally near: the error is the mean |i - j| / T over all pairs, (T^2 - 1) / (3 T^2).
    n = 30
    chance = (n**2 - 1) / (3 * n**2)
    constant = np.ones((n, 8))
    assert alignment_error(constant, constant) == pytest.approx(chance)
    # Centring a constant video leaves zeros; they are all equally near too, not "all frame 0".
    assert alignment_error(to_geometry(constant), to_geometry(constant)) == pytest.approx(chance)


def test_a_per_view_offset_is_degenerate_in_raw_geometry_and_harmless_in_the_centred_one():
    # Two views of one trajectory: the same small time signal plus a large constant per view, as a
    # camera's static background gives. Raw nearest neighbours all land on the frame of B closest to
    # A's offset (tau 0, error near chance); centred, the trajectory aligns.
    rng = np.random.default_rng(0)
    signal = 0.1 * curve(40)
    a = signal + 10 * rng.normal(size=(1, signal.shape[1])) + 0.002 * rng.normal(size=signal.shape)
    b = signal + 10 * rng.normal(size=(1, signal.shape[1])) + 0.002 * rng.normal(size=signal.shape)
    assert len(np.unique(np.linalg.norm(a[:, None] - b[None], axis=-1).argmin(1))) == 1  # one frame for all
    assert alignment_error(a, b) > 0.25 and kendall_tau(a, b) == 0
    ca, cb = to_geometry(a), to_geometry(b)
    assert alignment_error(ca, cb) < 0.02 and kendall_tau(ca, cb) > 0.95
    scores = score_trajectory({"cam0": a, "cam1": b}, ["cam0", "cam1"])
    assert scores["seen/alignment_error"] < 0.02 and scores["raw/seen/alignment_error"] > 0.25


def test_groups_separate_seen_unseen_third_person_and_first_person():
    a = curve(20)
    shuffled = a[np.random.default_rng(1).permutation(20)]
    views = {"cam0": a, "cam1": a, "held0": a, "held1": shuffled, "first_person": a[::-1]}
    scores = score_trajectories({"demo_0": views}, seen_views=["cam0", "cam1"])
    assert scores["seen/alignment_error"] == 0
    ae = lambda x, y: alignment_error(to_geometry(x), to_geometry(y))
    assert scores["view/held0/alignment_error"] == 0
    assert scores["view/held1/alignment_error"] == pytest.approx(ae(a, shuffled))
    assert scores["unseen/alignment_error"] == pytest.approx(ae(a, shuffled) / 2)  # held0 and held1 pairs
    assert scores["first_person/alignment_error"] == pytest.approx(ae(a, a[::-1]))
    assert scores["first_person/kendall_tau"] == pytest.approx(-1)


def test_pair_matrix_is_symmetric_with_the_pair_errors():
    a = curve(15)
    names, m = pair_matrix({"cam0": a, "cam1": a[::-1], "held0": a})
    assert names == ["cam0", "cam1", "held0"] and np.allclose(m, m.T) and np.allclose(np.diag(m), 0)
    assert m[0, 2] == 0 and m[0, 1] == pytest.approx(alignment_error(to_geometry(a), to_geometry(a[::-1])))


def test_a_first_person_view_in_training_is_scored_against_the_other_training_views():
    a = curve(20)
    views = {"cam0": a, "cam1": a, "first_person": a[::-1], "held0": a}
    scores = score_trajectory(views, ["cam0", "cam1", "first_person"])
    ae = alignment_error(to_geometry(a), to_geometry(a[::-1]))
    assert scores["view/first_person/alignment_error"] == pytest.approx(ae)
    assert scores["seen/alignment_error"] == pytest.approx(4 * ae / 6)  # 4 of the 6 ordered seen pairs
    assert "first_person/alignment_error" not in scores
    # held0 is scored against every training view, the first-person one included (1 of 3 pairs reversed)
    assert scores["unseen/alignment_error"] == pytest.approx(ae / 3)
