"""``python -m alignment.policy env=lift checkpoint=.../best.pt``: a robomimic BC policy on a frozen
encoder's embeddings of the training camera(s) (``train_views``: each demo once per camera), rolled out
live from a training camera, held-out cameras and the first-person view. ``obs=state`` and
``obs=proprio`` train the same policy without vision (upper and lower bounds). Writes ``policy.pt``,
``rollouts.json`` and ``videos/`` into ``run_dir``."""
from __future__ import annotations

import json
import os
import warnings
from typing import Dict

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from envs.dataset_io import EpisodeFile
from poseaware.inputs import default_device
from poseaware.runs import atomic_write_text

from .bc import load_bc, observation_keys, train_bc
from .embed import embed_file
from .inference import load_encoder
from .policy_data import EMBEDDING_KEY, pool_training_views
from .rollout import run_rollouts


def check_encoder_fits(checkpoint: str, ckpt: dict, data: str, settings: dict, keypoint_names) -> None:
    """A policy sees live frames at the data's size with the env's keypoints: refuse an encoder made for others."""
    trained = ckpt["data"]
    if trained["image_size"] != settings["image_size"]:
        raise ValueError(f"{checkpoint} was trained on {trained['image_size']} px frames, but {data} (and the live "
                         f"env) render {settings['image_size']} px; train the encoder on this data or generate the "
                         f"demos at {trained['image_size']} px")
    if list(trained["keypoint_names"]) != list(keypoint_names):
        raise ValueError(f"{checkpoint} was trained with keypoints {trained['keypoint_names']}, but {data} has "
                         f"{list(keypoint_names)}: it belongs to another env")


# envs.generate overrides for policy demos: one fixed training camera, as robomimic's agentview
FIXED_CAMERA = ("num_views=1", "rig.sampling=ring", "rig.jitter_azimuth=0", "rig.jitter_elevation=0",
                "rig.jitter_radius=0")


def warn_if_training_camera_moves(f: EpisodeFile, view: str, demos: int = 5) -> None:
    """A sector-rig file draws ``cam<i>`` anew each episode; a policy trained on it sees many cameras."""
    poses = [f.view_obs(d, view, "extrinsics", 0) for d in f.demos[:demos] if f.has_view_obs(d, view, "extrinsics")]
    if len(poses) > 1 and max(np.abs(p - poses[0]).max() for p in poses) > 1e-4:
        warnings.warn(f"{f.path}: camera {view} moves between demos (a sector rig draws it per episode), so the "
                      f"policy learns from many cameras, not one; for a fixed training camera as robomimic's "
                      f"agentview, generate with {' '.join(FIXED_CAMERA)} (benchmarks/bc_table.py does)",
                      stacklevel=2)


def run_policy(cfg: DictConfig) -> Dict[str, dict]:
    run_dir = cfg.run_dir
    if os.path.exists(os.path.join(run_dir, "rollouts.json")) and not cfg.overwrite:
        raise FileExistsError(f"{run_dir} already holds a policy run; choose another run_dir or overwrite=true")
    train_views = list(cfg.train_views)
    with EpisodeFile(cfg.data) as f:
        settings, views, keypoint_names = f.settings, f.views, f.keypoint_names
        if len(train_views) == 1 and train_views[0] in views:
            warn_if_training_camera_moves(f, train_views[0])
        low_dim = sorted(f.low_dim_obs(f.demos[0]))
    missing = [v for v in [*train_views, *cfg.eval_views] if v not in views]
    if missing:
        raise ValueError(f"{cfg.data} has no views {missing}; it has {views}")
    keys = observation_keys(cfg.obs)
    device, encoder, embedding_key, data = default_device(), None, None, cfg.data
    if cfg.obs == "embedding":
        if not cfg.checkpoint:
            raise ValueError("obs=embedding needs checkpoint=<alignment run>/checkpoints/best.pt")
        encoder, ckpt = load_encoder(cfg.checkpoint, device)
        check_encoder_fits(cfg.checkpoint, ckpt, cfg.data, settings, keypoint_names)
        data, embedded = os.path.join(run_dir, "bc_data.hdf5"), os.path.join(run_dir, "embedded.hdf5")
        # raw geometry: a live policy embeds one frame at a time
        embed_file(cfg.checkpoint, cfg.data, embedded, views=train_views, geometry="raw")
        pool_training_views(embedded, data, train_views, low_dim)
        os.remove(embedded)  # a copy of the demos' images; bc_data.hdf5 holds what the policy reads
        embedding_key = EMBEDDING_KEY
    os.makedirs(run_dir, exist_ok=True)
    atomic_write_text(os.path.join(run_dir, "config.yaml"), OmegaConf.to_yaml(cfg, resolve=True))
    policy_path = os.path.join(run_dir, "policy.pt")
    train_log = train_bc(data, keys, policy_path, cfg.bc.epochs, cfg.bc.steps_per_epoch, cfg.bc.batch_size,
                         cfg.seed, extra={"checkpoint": cfg.checkpoint, "obs": cfg.obs},
                         normalize_obs=cfg.bc.normalize_obs)
    policy, _ = load_bc(policy_path)
    results = {}
    for view in cfg.eval_views:
        if encoder is None and results:  # no pixels reach the policy: every camera gives the same episodes
            results[view] = {**next(iter(results.values())), "same_as": cfg.eval_views[0]}
            continue
        r = run_rollouts(policy, cfg.env.name, settings, view, keys, cfg.rollouts, cfg.seed, encoder, embedding_key,
                         os.path.join(run_dir, "videos"), cfg.videos, device=device)
        results[view] = {"success_rate": r.success_rate, "episodes": len(r.successes), "steps": r.steps,
                         "frames_encoded": r.frames_encoded}
        print(f"{view}: success {r.success_rate:.0%} over {len(r.successes)} rollouts")
    atomic_write_text(os.path.join(run_dir, "rollouts.json"), json.dumps(
        {"rollouts": results, "train": train_log, "obs": cfg.obs, "keys": keys}, indent=2))
    return results


@hydra.main(config_path="pkg://configs", config_name="policy", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_policy(cfg)


if __name__ == "__main__":
    main()
