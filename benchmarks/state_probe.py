"""Does a frozen encoder's embedding of one camera hold what a policy needs? A linear probe.

python benchmarks/state_probe.py --data data/bench/lift_bc.hdf5 --view cam0 \
    --deploy-views held0 held1 first_person \
    --encoders baseline=runs/alignment_table/lift/baseline/seed0/checkpoints/best.pt

Ridge regression from the raw embedding of one frame (what a live policy sees) to low-dim state
(by default the gripper-to-cube vector and the cube position) is fitted on the first 80% of the demos
and scored by R² on the rest; the ridge strength is chosen on the last quarter of the fitting demos.
Reference rows: the frame's pixels pooled to 16 x 16 (what the encoder could have kept) and the
proprioception alone (what needs no camera). R² near 0 means the policy cannot read that state from the
embedding, whatever it is trained on. Scored on every frame, and on each demo's first frames alone (the
arm has not moved yet, so proprioception cannot tell where the cube lies and only the camera can).
``--deploy-views`` scores the probe fitted on ``--view`` on other cameras of the same held-out demos: an
offline stand-in for a policy trained on one camera and deployed on another (pixels must fail there).
Several ``--view`` cameras fit one probe on all of them (each demo's frames from each), as a policy
with several ``train_views`` is trained.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from alignment.data import ViewFrames  # noqa: E402
from alignment.inference import embed_video, load_encoder  # noqa: E402
from alignment.references import pixel_embeddings  # noqa: E402
from envs.dataset_io import EpisodeFile  # noqa: E402

ALPHAS = np.logspace(-3, 3, 13)
PROPRIO = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-5, std, np.inf)  # a feature that does not vary (float noise aside) carries nothing
    z = (x - mean) / std
    weights = np.linalg.solve(z.T @ z + alpha * len(z) * np.eye(z.shape[1]), z.T @ (y - y.mean(0)))
    return mean, std, weights, y.mean(0)


def ridge_predict(model, x: np.ndarray) -> np.ndarray:
    mean, std, weights, offset = model
    return (x - mean) / std @ weights + offset


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination, averaged over the target's dimensions."""
    return float(np.mean(1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0).clip(min=1e-12)))


def probe(features: List[np.ndarray], targets: List[np.ndarray], fit_fraction: float = 0.8,
          scored: Optional[List[np.ndarray]] = None, scored_targets: Optional[List[np.ndarray]] = None) -> float:
    """Held-out R² of a ridge probe over per-demo ``features`` -> ``targets`` (split by demo). A target
    dimension that does not vary over these frames (the cube's height before it is lifted) has no R²
    and is left out. ``scored``: the held-out demos' features from another camera (same demos, same
    frames), to score the probe where the policy would be deployed; by default ``features`` itself.
    ``scored_targets``: their targets, where ``features`` hold several cameras' frames per demo."""
    varies = np.concatenate(targets).std(0) > 1e-4
    targets = [y[:, varies] for y in targets]
    scored_targets = targets if scored_targets is None else [y[:, varies] for y in scored_targets]
    n_fit = int(round(fit_fraction * len(features)))
    n_tune = max(1, n_fit // 4)
    tune_x, tune_y = np.concatenate(features[n_fit - n_tune:n_fit]), np.concatenate(targets[n_fit - n_tune:n_fit])
    sub_x, sub_y = np.concatenate(features[:n_fit - n_tune]), np.concatenate(targets[:n_fit - n_tune])
    alpha = max(ALPHAS, key=lambda a: r2(tune_y, ridge_predict(ridge_fit(sub_x, sub_y, a), tune_x)))
    fit_x, fit_y = np.concatenate(features[:n_fit]), np.concatenate(targets[:n_fit])
    test_x = np.concatenate((features if scored is None else scored)[n_fit:])
    test_y = np.concatenate(scored_targets[n_fit:])
    return r2(test_y, ridge_predict(ridge_fit(fit_x, fit_y, alpha), test_x))


def pooled_probe(per_view: Dict[str, List[np.ndarray]], targets: List[np.ndarray], fit_views: List[str],
                 view: str, frames: slice = slice(None)) -> float:
    """The probe fitted on ``fit_views`` together (each demo's ``frames`` from every one of them) and scored
    on ``view``'s frames of the held-out demos."""
    fit = [np.concatenate([per_view[v][i][frames] for v in fit_views]) for i in range(len(targets))]
    return probe(fit, [np.concatenate([y[frames]] * len(fit_views)) for y in targets],
                 scored=[x[frames] for x in per_view[view]], scored_targets=[y[frames] for y in targets])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--view", nargs="+", default=["cam0"],
                   help="the camera(s) the probe is fitted on (the policy's training views; several: pooled)")
    p.add_argument("--deploy-views", nargs="*", default=[],
                   help="other cameras of the same demos to score the fitted probe on (e.g. held0 first_person)")
    p.add_argument("--encoders", nargs="+", default=[], help="label=checkpoint")
    p.add_argument("--targets", nargs="+", default=["gripper_to_cube_pos", "cube_pos"])
    p.add_argument("--demos", type=int, default=None, help="probe only the first N demos")
    p.add_argument("--first-frames", type=int, default=1, help="the second score: each demo's first N frames")
    args = p.parse_args()
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))))
    device = torch.device("cpu")
    encoders = {label: load_encoder(path, device)[0] for label, path in (e.split("=", 1) for e in args.encoders)}
    views = [*args.view, *[v for v in args.deploy_views if v not in args.view]]
    # features[name][view]: one (T, D) array per demo
    features: Dict[str, Dict[str, List[np.ndarray]]] = {
        name: {v: [] for v in views} for name in [*encoders, "pixels 16x16"]}
    proprio: List[np.ndarray] = []  # the same from every camera
    features["proprio"] = {v: proprio for v in views}
    needs_keypoints = any(e.needs_keypoints_at_inference for e in encoders.values())
    needs_masks = any(e.needs_masks_at_inference for e in encoders.values())
    targets: Dict[str, List[np.ndarray]] = {t: [] for t in args.targets}
    with EpisodeFile(args.data) as f:
        absent = [v for v in views if v not in f.views]
        if absent:
            raise ValueError(f"{args.data} has no images for views {absent}; it has {f.views}")
        for demo in f.demos[:args.demos]:
            obs = f.low_dim_obs(demo)
            missing = [k for k in [*args.targets, *PROPRIO] if k not in obs]
            if missing:
                raise ValueError(f"{args.data} {demo} has no obs {missing}; choose --targets among {sorted(obs)}")
            for view in views:
                frames = ViewFrames(f.view_obs(demo, view, "image"),
                                    f.view_obs(demo, view, "keypoints") if needs_keypoints else None,
                                    f.view_obs(demo, view, "robot_mask").astype(bool) if needs_masks else None)
                for label, encoder in encoders.items():
                    features[label][view].append(embed_video(encoder, frames, device))
                features["pixels 16x16"][view].append(pixel_embeddings(frames.images))
            proprio.append(np.concatenate([obs[k] for k in PROPRIO], axis=1))
            for t in args.targets:
                targets[t].append(obs[t].reshape(len(obs[PROPRIO[0]]), -1))
    n = len(targets[args.targets[0]])
    lines = [f"State probe: {args.data}, fitted on {' + '.join(args.view)}, {n} demos (fit on 80%, scored on the rest, "
             f"from each camera listed), {datetime.date.today()}, {platform.processor() or platform.machine()}"]
    early = slice(0, args.first_frames)
    for t in args.targets:
        lines += ["", f"R² of {t}, all frames / first {args.first_frames}:", "",
                  "| features | " + " | ".join(f"{v}{' (fit)' if v in args.view else ''}" for v in views) + " |",
                  "| --- | " + " | ".join("---" for _ in views) + " |"]
        for name, per_view in features.items():
            cells = [" / ".join(f"{pooled_probe(per_view, targets[t], args.view, v, frames):.3f}"
                                for frames in (slice(None), early)) for v in views]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
