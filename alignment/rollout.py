"""Live evaluation of a BC policy: every step renders the evaluation camera, the deployed encoder
embeds that one frame (PAAB gets the keypoints the simulator projects for it, or its robot mask), and
robomimic's ``RolloutPolicy`` acts on the embedding plus proprioception."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from envs.cameras import OVERVIEW
from envs.gym_env import MultiViewEnv
from envs.preview import write_video
from envs.recorder import episode_seed

from .data import ViewFrames
from .inference import embed_video

ROLLOUT_SEED = 10_000  # rollout episodes never reuse a training demo's seed (those are seeds 0..)


@dataclass
class RolloutResult:
    view: str
    successes: List[bool] = field(default_factory=list)
    steps: List[int] = field(default_factory=list)
    frames_encoded: int = 0

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")


def live_frame(obs: Dict[str, np.ndarray], view: str) -> ViewFrames:
    """One view of a gym observation as the encoder's input; invisible keypoints back to NaN."""
    kp = obs[f"{view}_keypoints"].astype(np.float32).copy()
    kp[obs[f"{view}_keypoints_visible"] == 0] = np.nan
    return ViewFrames(obs[f"{view}_image"][None], kp[None], obs[f"{view}_robot_mask"][None].astype(bool))


def run_rollouts(policy, env_name: str, settings: dict, view: str, keys: Sequence[str], count: int, seed: int = 0,
                 encoder=None, embedding_key: Optional[str] = None, video_dir: Optional[str] = None,
                 videos: int = 2, device: torch.device = torch.device("cpu")) -> RolloutResult:
    """``count`` seeded episodes from ``view``; ``encoder`` fills ``embedding_key`` from the live frame.
    Videos show the evaluation camera beside the fixed overview camera."""
    render = [view] + ([OVERVIEW] if video_dir and videos else [])
    env = MultiViewEnv(env_name, image_size=settings["image_size"], first_person=settings["first_person"],
                       views=render, rig=settings["rig"])
    result = RolloutResult(view)
    try:
        for index in range(count):
            obs, _ = env.reset(options={"episode_seed": episode_seed(ROLLOUT_SEED + seed, index)})
            policy.start_episode()
            frames, success, steps = [], False, 0
            for steps in range(1, env.sim.max_steps + 1):
                ob = {k: obs[k] for k in keys if k != embedding_key}
                if encoder is not None:
                    ob[embedding_key] = embed_video(encoder, live_frame(obs, view), device)[0]
                    result.frames_encoded += 1
                if OVERVIEW in render and index < videos:
                    frames.append(np.concatenate([obs[f"{v}_image"] for v in render], axis=1))
                obs, _, success, truncated, _ = env.step(policy(ob))
                if success or truncated:
                    break
            result.successes.append(bool(success))
            result.steps.append(steps)
            if frames:
                write_video(frames, os.path.join(video_dir, f"{view}_rollout{index}.mp4"), fps=20)
    finally:
        env.close()
    return result
