"""``python -m alignment.evaluate_policy run_dir=<alignment.policy run>``: a trained policy scored again, from
other cameras, without training it again.

By default from every camera bin of ``envs.eval_cameras`` (``train``, ``beyond15`` … ``beyond60``,
``elev+15``/``elev-15``), ``rollouts`` seeded episodes each, the run's own test seeds, so a policy trained
before the bins existed gets its success by angle. Writes ``out`` (``<run_dir>/evaluation.json``) after every
episode, so an interrupted evaluation resumes at its next episode (a finished one is returned as it is), and
``<out>_by_angle.png``."""
from __future__ import annotations

import json
import os
from typing import Dict

import hydra
from omegaconf import DictConfig, OmegaConf

from envs.commands import one_line_errors, whole_number
from envs.dataset_io import EpisodeFile
from envs.output_lock import exclusive_output
from poseaware.inputs import default_device
from poseaware.runs import atomic_write_text, file_sha256

from .bc import load_bc
from .policy import (check_views_exist, finished_views, plot_by_angle, rollout_context, test_rollouts,
                     with_later_keys)

ASKED_LATER = ("policy_sha256", "keypoint_detector_sha256")


def evaluate_policy(cfg: DictConfig) -> Dict[str, dict]:
    run_dir = cfg.run_dir
    config_path, policy_path = os.path.join(run_dir, "config.yaml"), os.path.join(run_dir, "policy.pt")
    for path in (config_path, policy_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: run_dir must be a finished alignment.policy run (its "
                                    f"config.yaml and policy.pt)")
    whole_number("rollout_workers", cfg.rollout_workers, 1)
    run = with_later_keys(OmegaConf.load(config_path))
    if cfg.horizon is not None:
        run.horizon = cfg.horizon
    out = cfg.out or os.path.join(run_dir, "evaluation.json")
    with exclusive_output(out, "out"):
        return _evaluate(cfg, run, policy_path, out)


def _evaluate(cfg: DictConfig, run: DictConfig, policy_path: str, out: str) -> Dict[str, dict]:
    with EpisodeFile(run.data) as f:
        settings, views, keypoint_names = f.settings, f.views, f.keypoint_names
    check_views_exist(run.data, views, cfg.eval_views)
    policy, saved = load_bc(policy_path)
    asked = {"policy": os.path.abspath(policy_path), "kept_epoch": saved["epoch"], "rollouts_per_view": cfg.rollouts,
             "horizon": run.horizon, "seed": run.seed, "policy_sha256": file_sha256(policy_path),
             # a detector trained again in place reads other keypoints, so another camera input
             "keypoint_detector_sha256": file_sha256(run.keypoint_detector) if run.keypoint_detector else None}
    done: Dict[str, dict] = {}
    if os.path.exists(out) and not cfg.overwrite:
        with open(out) as f:
            before = json.load(f)
        # a policy (or its keypoint detector) trained again in place is not resumed from the old one's episodes
        # (evaluations written before the files' hashes were kept are matched by the rest)
        differ = [k for k, v in asked.items() if before.get(k, v if k in ASKED_LATER else None) != v]
        if differ:
            raise ValueError(f"{out} holds an evaluation with other {', '.join(differ)}; give overwrite=true to start "
                             f"again, or another out=")
        done = before["rollouts"]
        finished = finished_views(done)
        if all(v in finished for v in cfg.eval_views):  # nothing to roll out (overwrite=true runs it again)
            print(f"nothing to evaluate: {out} already holds {', '.join(cfg.eval_views)}")
            return {v: done[v] for v in cfg.eval_views}
    device = default_device()
    _, rollout_args = rollout_context(run, settings, keypoint_names, device, cfg.eval_views)

    def save(results: Dict[str, dict]) -> None:
        atomic_write_text(out, json.dumps({**asked, "rollouts": results}, indent=2))

    results = test_rollouts(policy, cfg.eval_views, cfg.rollouts, run.seed, rollout_args,
                            os.path.splitext(out)[0] + "_videos", cfg.videos, done=done, after_each=save,
                            workers=cfg.rollout_workers, policy_path=policy_path)
    results = finished_views(results)  # a view left in progress by an earlier call is not one of these
    plot_by_angle(run, results, os.path.splitext(out)[0] + "_by_angle.png", cfg.run_dir)
    return results


@hydra.main(config_path="pkg://configs", config_name="evaluate_policy", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        evaluate_policy(cfg)


if __name__ == "__main__":
    main()
