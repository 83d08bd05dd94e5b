"""Recognition and retrieval metrics on hand-checkable arrays."""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def top1_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def mean_class_accuracy(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Accuracy per ground-truth class, averaged over the classes that occur (Smarthome's mCA)."""
    matrix = confusion_matrix(labels, predictions, num_classes)
    present = matrix.sum(1) > 0
    return float(np.mean(np.diag(matrix)[present] / matrix.sum(1)[present]))


def recall_at_k(query: np.ndarray, query_labels: Sequence, gallery: np.ndarray, gallery_labels: Sequence,
                ks: Sequence[int] = (1, 5, 10, 20)) -> Dict[str, float]:
    """Fraction of queries with a same-label gallery item among the k nearest by cosine distance."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True).clip(1e-12)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True).clip(1e-12)
    order = np.argsort(-(q @ g.T), axis=1, kind="stable")
    hits = np.asarray(gallery_labels)[order] == np.asarray(query_labels)[:, None]
    return {f"R@{k}": float(hits[:, :k].any(1).mean()) for k in ks}
