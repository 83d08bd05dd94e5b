import numpy as np
import pytest

from recognition.metrics import mean_class_accuracy, recall_at_k, top1_accuracy


def test_mean_class_accuracy_weights_classes_not_videos():
    labels = np.array([0, 0, 0, 0, 1])
    preds = np.array([0, 0, 0, 0, 0])
    assert top1_accuracy(labels, preds) == pytest.approx(0.8)
    assert mean_class_accuracy(labels, preds, num_classes=3) == pytest.approx(0.5)  # class 2 never occurs


def test_recall_at_k_uses_cosine_distance():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [10.0, 1.0]])
    query = np.array([[0.1, 1.0], [1.0, 0.05]])
    r = recall_at_k(query, ["b", "a"], gallery, ["a", "b", "a"], ks=(1, 2))
    assert r == {"R@1": 1.0, "R@2": 1.0}
    r = recall_at_k(query, ["a", "b"], gallery, ["a", "b", "a"], ks=(1, 3))
    assert r["R@1"] == 0.0 and r["R@3"] == 1.0
