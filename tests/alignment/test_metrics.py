import numpy as np
import pytest

from alignment.metrics import alignment_error, cycle_error, kendall_tau, score_trajectories


def line(n, start=0):
    """Embeddings that sit on a line, so the nearest frame is the closest time."""
    return np.arange(start, start + n, dtype=float)[:, None] * np.ones((1, 4))


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


def test_score_trajectories_splits_seen_and_unseen_pairs():
    a = line(10)
    emb = {"demo_0": {"cam0": a, "cam1": a, "cam2": a[::-1]}}
    scores = score_trajectories(emb, seen_views=["cam0", "cam1"])
    assert scores["seen/alignment_error"] == 0
    assert scores["unseen/alignment_error"] == pytest.approx(alignment_error(a, a[::-1]))
