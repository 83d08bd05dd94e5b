"""Alignment metrics between embedded videos of the same trajectory, in the geometry the loss trains.

**Geometry.** ``centred`` (the default, used in training, validation, test, ``alignment.evaluate`` and
``alignment.embed``): each video's mean embedding is subtracted, then every frame is L2-normalised.
The TCN loss centres each view's batch the same way, so a per-view constant (the camera's static
background) is what it learns to ignore; in the ``raw`` geometry that constant dominates Euclidean
distance and every frame of A finds one and the same frame of B (Kendall's tau 0). ``raw`` scores
stay as a second column (``raw/...``), the nearest-neighbour error 3DTRL's code reports.

**Alignment error.** For each frame i of A take its nearest frame j* of B and score |i - j*| / len(B);
average over A, then do the same from B to A and average the two directions. Frames at the same
distance are all nearest: the error of a frame is its mean over them, so an embedding that carries
no time at all (constant) scores chance (about 1/3), not the error of whichever index came first.

**Groups.** A view pair is ``seen`` when both views trained; ``unseen`` when one view trained and the
other is an unseen third-person view; ``first_person`` when one view trained and the other is the
unseen first-person view. ``view/<name>/...`` is one unseen third-person view against the training views (``held0``
is the nearest held-out camera, the last ``held<i>`` the farthest); where the first-person view trains,
``view/first_person/...`` is it against the other training views.
"""
from __future__ import annotations

from itertools import permutations
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np
from scipy.stats import kendalltau

from envs.cameras import FIRST_PERSON

GEOMETRIES = ("centred", "raw")
GROUPS = ("seen", "unseen", FIRST_PERSON)


def to_geometry(embeddings: np.ndarray, geometry: str = "centred") -> np.ndarray:
    """One video's ``(T, D)`` embeddings in ``geometry`` (see the module docstring)."""
    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (T, D), got {x.shape}")
    if geometry == "raw":
        return x
    if geometry != "centred":
        raise ValueError(f"unknown geometry {geometry!r}; choose one of {', '.join(GEOMETRIES)}")
    x = x - x.mean(0, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)


def frame_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be (T, D) with the same D, got {a.shape} and {b.shape}")
    return np.maximum((a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None, :], 0.0)


def _nearest_sets(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Boolean ``(len(a), len(b))``: the frames of ``b`` at the smallest distance from each frame of ``a``."""
    d = frame_distances(a, b)
    scale = max(float(np.abs(d).max()), 1e-12)
    return d <= d.min(1, keepdims=True) + 1e-9 * scale


def nearest_frames(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index in ``b`` of the nearest frame to each frame of ``a`` (the first of equally near ones)."""
    return frame_distances(a, b).argmin(1)


def one_way_error(a: np.ndarray, b: np.ndarray) -> float:
    nearest = _nearest_sets(a, b)
    gaps = np.abs(np.arange(len(a))[:, None] - np.arange(len(b))[None, :])
    per_frame = (gaps * nearest).sum(1) / nearest.sum(1)
    return float(per_frame.mean() / len(b))


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


def pair_group(va: str, vb: str, seen: Iterable[str]) -> str:
    """``seen``, ``unseen``, ``first_person``, or ``""`` for a pair of two unseen views (not scored)."""
    seen = set(seen)
    if va in seen and vb in seen:
        return "seen"
    if va not in seen and vb not in seen:
        return ""
    unseen = vb if va in seen else va
    return FIRST_PERSON if unseen == FIRST_PERSON else "unseen"


def score_trajectory(views: Mapping[str, np.ndarray], seen_views: Iterable[str]) -> Dict[str, float]:
    """Each metric averaged over the ordered view pairs of each group (see the module docstring), in
    the centred geometry; the alignment error in the raw geometry as ``raw/<group>/alignment_error``."""
    seen = list(seen_views)
    centred = {v: to_geometry(e, "centred") for v, e in views.items()}
    values: Dict[str, List[float]] = {}
    for va, vb in permutations(views, 2):
        group = pair_group(va, vb, seen)
        if not group:
            continue
        keys = [group] + ([f"view/{vb if va in seen else va}"] if group == "unseen" else [])
        if group == "seen" and FIRST_PERSON in (va, vb):  # trained on: how well it aligns with the rest
            keys.append(f"view/{FIRST_PERSON}")
        for name, fn in METRICS.items():
            score = fn(centred[va], centred[vb])
            for key in keys:
                values.setdefault(f"{key}/{name}", []).append(score)
        values.setdefault(f"raw/{group}/alignment_error", []).append(alignment_error(views[va], views[vb]))
    return {k: float(np.mean(v)) for k, v in values.items()}


def pair_matrix(views: Mapping[str, np.ndarray], geometry: str = "centred") -> Tuple[List[str], np.ndarray]:
    """Alignment error of every view pair of one trajectory: names and a symmetric ``(V, V)`` matrix."""
    names = list(views)
    emb = {v: to_geometry(views[v], geometry) for v in names}
    matrix = np.zeros((len(names), len(names)))
    for i, va in enumerate(names):
        for j, vb in enumerate(names[i + 1:], start=i + 1):
            matrix[i, j] = matrix[j, i] = alignment_error(emb[va], emb[vb])
    return names, matrix


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
