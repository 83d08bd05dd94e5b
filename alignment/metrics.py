"""Alignment metrics between two embedded videos of the same trajectory.

``alignment_error``: for each frame i of A take its nearest frame j* of B (Euclidean) and
score |i - j*| / len(B); average over A, then do the same from B to A and average the two
directions. Normalising by the length of the video being searched keeps the error in [0, 1)
for videos of unequal length, and the symmetric mean makes it independent of argument order.
"""
from __future__ import annotations

from itertools import permutations
from typing import Dict, Iterable, Mapping

import numpy as np
from scipy.stats import kendalltau


def nearest_frames(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index in ``b`` of the nearest frame to each frame of ``a`` (Euclidean)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be (T, D) with the same D, got {a.shape} and {b.shape}")
    d = (a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None, :]
    return d.argmin(1)


def one_way_error(a: np.ndarray, b: np.ndarray) -> float:
    nn = nearest_frames(a, b)
    return float(np.mean(np.abs(np.arange(len(a)) - nn)) / len(b))


def alignment_error(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric alignment error (see module docstring); 0 for identical videos."""
    return 0.5 * (one_way_error(a, b) + one_way_error(b, a))


def cycle_error(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of frames of A whose A -> B -> A nearest-neighbour cycle lands more than 1 frame away."""
    back = nearest_frames(b, a)[nearest_frames(a, b)]
    return float(np.mean(np.abs(back - np.arange(len(a))) > 1))


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau between frame order in A and the order of their nearest frames in B."""
    nn = nearest_frames(a, b)
    if len(np.unique(nn)) < 2:
        return 0.0
    return float(kendalltau(np.arange(len(a)), nn).statistic)


METRICS = {"alignment_error": alignment_error, "cycle_error": cycle_error, "kendall_tau": kendall_tau}


def score_trajectory(views: Mapping[str, np.ndarray], seen_views: Iterable[str]) -> Dict[str, float]:
    """Each metric averaged over the ordered view pairs of one trajectory.

    Pairs of two seen (training) views are reported as ``seen/<metric>``; pairs with at least
    one unseen view as ``unseen/<metric>``.
    """
    seen = set(seen_views)
    pairs: Dict[str, Dict[str, list]] = {"seen": {m: [] for m in METRICS}, "unseen": {m: [] for m in METRICS}}
    for va, vb in permutations(views, 2):
        group = "seen" if va in seen and vb in seen else "unseen"
        for name, fn in METRICS.items():
            pairs[group][name].append(fn(views[va], views[vb]))
    return {f"{g}/{m}": float(np.mean(v)) for g in pairs for m, v in pairs[g].items() if v}


def mean_scores(per_trajectory: Iterable[Mapping[str, float]]) -> Dict[str, float]:
    """Average per-trajectory scores; a key counts only the trajectories that have it."""
    values: Dict[str, list] = {}
    for scores in per_trajectory:
        for key, value in scores.items():
            values.setdefault(key, []).append(value)
    return {k: float(np.mean(v)) for k, v in values.items()}


def score_trajectories(
    embeddings: Mapping[str, Mapping[str, np.ndarray]], seen_views: Iterable[str]
) -> Dict[str, float]:
    """``score_trajectory`` per trajectory, then averaged over trajectories."""
    seen = list(seen_views)
    return mean_scores(score_trajectory(views, seen) for views in embeddings.values())
