"""The linear probe of benchmarks/state_probe.py, on cases whose answer is known."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from state_probe import pooled_probe, probe  # noqa: E402


def test_the_probe_reads_a_linear_code_and_nothing_from_noise_or_a_constant():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(2, 8))
    targets = [rng.normal(size=(5, 2)) for _ in range(50)]
    encoded = [np.concatenate([t @ mixing, 0.1 * rng.normal(size=(5, 56))], axis=1) for t in targets]
    assert probe(encoded, targets) > 0.99
    assert abs(probe([rng.normal(size=(5, 64)) for _ in targets], targets)) < 0.05
    assert abs(probe([np.ones((5, 64)) for _ in targets], targets)) < 0.05
    # a target dimension that never varies has no R² and must not drag the score down
    with_constant = [np.concatenate([t, np.full((5, 1), 0.8)], axis=1) for t in targets]
    assert probe(encoded, with_constant) > 0.99
    # nor may a feature that varies only by float noise be blown up into a signal
    noisy = [np.concatenate([e, 1 + 1e-7 * t[:, :1]], axis=1) for e, t in zip(encoded, targets)]
    assert abs(probe(noisy, targets) - probe(encoded, targets)) < 1e-3


def test_a_probe_carries_to_another_camera_only_if_the_embedding_does():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(2, 8))
    targets = [rng.normal(size=(5, 2)) for _ in range(50)]
    fit = [t @ mixing + 0.05 * rng.normal(size=(5, 8)) for t in targets]
    same_code = [t @ mixing + 0.05 * rng.normal(size=(5, 8)) for t in targets]  # a view-invariant embedding
    offset = [x + 3.0 for x in same_code]  # the same code plus a per-camera constant
    other_code = [t @ rng.normal(size=(2, 8)) for t in targets]  # what pixels of another camera look like
    assert probe(fit, targets, scored=same_code) > 0.95
    assert probe(fit, targets, scored=offset) < 0
    assert probe(fit, targets, scored=other_code) < 0.5


def test_a_probe_fitted_on_several_cameras_learns_to_ignore_what_tells_them_apart():
    rng = np.random.default_rng(2)
    mixing = rng.normal(size=(2, 8))
    targets = [rng.normal(size=(5, 2)) for _ in range(50)]
    code = [t @ mixing + 0.05 * rng.normal(size=(5, 8)) for t in targets]
    # each camera adds its own constant to the same code, along one direction (say, its azimuth)
    direction = rng.normal(size=8)
    per_view = {name: [x + shift * direction for x in code] for name, shift in (("a", 0.0), ("b", 3.0), ("new", 6.0))}
    assert pooled_probe(per_view, targets, ["a"], "new") < 0  # one camera: the constant looks like signal
    assert pooled_probe(per_view, targets, ["a", "b"], "new") > 0.95  # two: it is told apart from the code
    # one fit camera is the plain probe, on every frame or the first ones alone
    for frames in (slice(None), slice(0, 2)):
        assert pooled_probe(per_view, targets, ["a"], "b", frames) == probe(
            [x[frames] for x in per_view["a"]], [y[frames] for y in targets],
            scored=[x[frames] for x in per_view["b"]])
