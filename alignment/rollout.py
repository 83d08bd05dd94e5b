"""Live evaluation of a BC policy: every step renders the policy's cameras, and robomimic's
``RolloutPolicy`` acts on what it was trained on, built from the live observation:

- images (``<camera>_image``), or images with keypoint channels (``<camera>_pose_image``: the keypoints
  the simulator projects for that camera, so PAAB sees them at rollout as in training);
- a frozen encoder's embedding of the camera's frame (``embedding``; PAAB gets the keypoints, or the robot mask);
- proprioception and other low-dim keys.

``view`` is the evaluation camera: it takes the place of the policy's third-person camera (the first-person
camera stays itself), so one policy can be scored from its training camera and from others. A bin name
(``train``, ``beyond15`` … ``beyond60``, ``elev+15``, ``elev-15``: ``envs.eval_cameras``) draws that camera
per episode at that angular distance from the training cameras.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from envs.cameras import FIRST_PERSON, HELDOUT_PREFIX
from envs.dataset_io import obs_key
from envs.eval_cameras import EVAL_BINS, EVAL_VIEW
from envs.gym_env import MultiViewEnv
from envs.preview import write_video
from envs.recorder import episode_seed

from .backbone import POSE_IMAGE, pose_image
from .camera_input import CameraPoseInput, camera_pose_key
from .data import ViewFrames
from .inference import embed_video
from .policy_frame import EEF_POS, EEF_QUAT, action_to_world, check_frame, eef_to_camera

# Rollout episodes draw their seeds as envs.generate does (episode_seed(base, index)) from bases of their own:
# demos come from the file's generation seed (0 by default), so tests and validations are other episodes.
ROLLOUT_SEED = 10_000  # test rollouts
VALIDATION_SEED = 20_000  # validation rollouts (checkpoint selection), never a test rollout's episode


@dataclass
class RolloutResult:
    view: str
    successes: List[bool] = field(default_factory=list)
    steps: List[int] = field(default_factory=list)
    frames_encoded: int = 0
    seeds: List[int] = field(default_factory=list)
    cameras: List[dict] = field(default_factory=list)  # where each episode's evaluation camera stood (bins)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")


def live_keypoints(obs: Dict[str, np.ndarray], view: str) -> np.ndarray:
    """A gym observation's keypoints of ``view``, invisible ones back to NaN (the files' convention)."""
    kp = obs[f"{view}_keypoints"].astype(np.float32).copy()
    kp[obs[f"{view}_keypoints_visible"] == 0] = np.nan
    return kp


def live_frame(obs: Dict[str, np.ndarray], view: str) -> ViewFrames:
    """One view of a gym observation as the encoder's input."""
    return ViewFrames(obs[f"{view}_image"][None], live_keypoints(obs, view)[None],
                      obs[f"{view}_robot_mask"][None].astype(bool))


def home_camera(cameras: Sequence[str]) -> str:
    """The camera an evaluation view replaces: the policy's one third-person camera, else the wrist camera."""
    third = [c for c in cameras if c != FIRST_PERSON]
    if len(third) > 1:
        raise ValueError(f"a policy with several third-person cameras {third} has no single camera to replace")
    return third[0] if third else FIRST_PERSON


def default_eval_views(cameras: Sequence[str]) -> List[str]:
    """The views a policy is tested from unless told: its third-person camera (``cam0`` without cameras), the
    held-out cameras and the wrist camera, less those its cameras rule out (a wrist-only policy is tested
    from the wrist only; one that has the wrist camera already is not tested from it again)."""
    held = [f"{HELDOUT_PREFIX}{i}" for i in range(2)]
    if not cameras:
        return ["cam0", *held, FIRST_PERSON]
    home = home_camera(cameras)
    if home == FIRST_PERSON:
        return [FIRST_PERSON]
    return [home, *held] + ([] if FIRST_PERSON in cameras else [FIRST_PERSON])


def camera_map(cameras: Sequence[str], view: str) -> Dict[str, str]:
    """Each policy camera -> the env camera that fills it: ``view`` replaces the third-person camera."""
    home = home_camera(cameras)
    if home == FIRST_PERSON and view != FIRST_PERSON:
        raise ValueError(f"a first-person policy is evaluated from first_person only, not {view!r}")
    if home != FIRST_PERSON and view == FIRST_PERSON and FIRST_PERSON in cameras:
        raise ValueError(f"evaluation view first_person would fill both of the policy's cameras {list(cameras)}; "
                         f"evaluate it from third-person cameras")
    return {c: (c if c == FIRST_PERSON else view) for c in cameras}


def image_inputs(obs: Dict[str, np.ndarray], keys: Sequence[str], cameras: Dict[str, str],
                 live_pose: bool = True) -> Dict[str, np.ndarray]:
    """The policy's image keys from a live observation (``<camera>_image`` or ``<camera>_pose_image``),
    processed by their robomimic modality as robomimic's env wrappers do (uint8 HWC -> float CHW).
    ``live_pose``: the keypoint channels hold the simulator's projection; else they are empty (a backbone
    that reads no keypoints at deployment, PAAT without PAAB, is deployed without them)."""
    import robomimic.utils.obs_utils as ObsUtils

    out = {}
    for camera, view in cameras.items():
        if obs_key(camera, "image") in keys:
            out[obs_key(camera, "image")] = obs[obs_key(view, "image")]
        if obs_key(camera, POSE_IMAGE) in keys:
            keypoints = live_keypoints(obs, view)
            if not live_pose:
                keypoints = np.full_like(keypoints, np.nan)
            out[obs_key(camera, POSE_IMAGE)] = pose_image(obs[obs_key(view, "image")], keypoints)
    return {k: ObsUtils.process_obs(obs=v, obs_key=k) for k, v in out.items()}


def run_rollouts(policy, env_name: str, settings: dict, view: str, keys: Sequence[str], count: int, seed: int = 0,
                 encoder=None, embedding_key: Optional[str] = None, video_dir: Optional[str] = None,
                 videos: int = 2, device: torch.device = torch.device("cpu"), cameras: Sequence[str] = (),
                 base_seed: int = ROLLOUT_SEED, progress: bool = False,
                 horizon: Optional[int] = None, camera_input: Optional[CameraPoseInput] = None,
                 done: Optional[RolloutResult] = None,
                 after_episode: Optional[Callable[[RolloutResult], None]] = None,
                 live_pose: bool = True, frame: str = "robot") -> RolloutResult:
    """``count`` seeded episodes from ``view``. ``cameras``: an image policy's cameras (``view`` replaces its
    third-person one); ``encoder`` fills ``embedding_key`` from ``view``'s live frame; ``camera_input`` fills
    the third-person camera's ``<camera>_camera_pose`` from the camera that replaces it; ``live_pose``:
    keypoint channels from the simulator (PAAB), else empty (``image_inputs``); ``frame="camera"``: the policy
    reads the end effector's pose and acts in the frame of the camera ``camera_input`` poses
    (``alignment.policy_frame``). An episode ends at
    success or after ``horizon`` steps (the env's episode length by default). Videos show the rendered
    cameras beside the fixed overview camera.

    ``done``: the episodes of an interrupted call, kept; the rest follow (each episode's seed and camera
    depend on its index only). ``after_episode`` is given the result after every episode (to save it)."""
    from tqdm import tqdm

    check_frame(frame, "none" if camera_input is None else camera_input.source)
    eval_bin = view if view in EVAL_BINS else None  # a camera drawn per episode from a bin (envs.eval_cameras)
    source = EVAL_VIEW if eval_bin else view
    mapping = camera_map(cameras, source) if cameras else {}
    rendered = list(dict.fromkeys(mapping.values() or [source]))
    video = bool(video_dir and videos)
    # only a frozen encoder reads the robot mask (PAAB's mask variants); MuJoCo renders masks in a pass of their own
    env = MultiViewEnv(env_name, image_size=settings["image_size"], first_person=settings["first_person"],
                       views=rendered, rig=settings["rig"], max_episode_steps=horizon, eval_camera=eval_bin,
                       masks=encoder is not None)
    if done is not None and done.view != view:
        raise ValueError(f"the episodes to continue are {done.view!r}'s, not {view!r}'s")
    result = RolloutResult(view) if done is None else done
    image_keys = [k for k in keys if k.endswith(("_image",))]
    pose_key = camera_pose_key(home_camera(cameras)) if camera_input is not None else None
    try:
        for index in tqdm(range(len(result.successes), count), desc=f"rollouts {view}", unit="episode",
                          disable=not progress, leave=False, initial=len(result.successes), total=count):
            episode = episode_seed(base_seed + seed, index)
            obs, info = env.reset(options={"episode_seed": episode})
            if eval_bin:
                result.cameras.append(info["eval_camera"])
            policy.start_episode()
            if camera_input is not None:
                camera = env.camera(source)
                camera_input.start(env.sim, camera.intrinsics, camera.width)
            frames, success, steps = [], False, 0
            for steps in range(1, env.max_episode_steps + 1):
                ob = {k: obs[k] for k in keys if k not in (embedding_key, pose_key) and k not in image_keys}
                ob.update(image_inputs(obs, image_keys, mapping, live_pose))
                if camera_input is not None:
                    ob[pose_key] = camera_input(obs[obs_key(source, "image")], live_keypoints(obs, source),
                                                env.camera(source).extrinsics, obs["robot0_joint_pos"],
                                                obs["robot0_gripper_qpos"])
                if frame == "camera":
                    ob.update({k: v[0] for k, v in eef_to_camera({k: ob[k][None] for k in (EEF_POS, EEF_QUAT)
                                                                  if k in ob}, ob[pose_key][None]).items()})
                if encoder is not None:
                    ob[embedding_key] = embed_video(encoder, live_frame(obs, source), device)[0]
                    result.frames_encoded += 1
                if video and index < videos:  # the overview is rendered for these episodes only
                    frames.append(np.concatenate([obs[f"{v}_image"] for v in rendered] + [env.overview_image()], axis=1))
                camera_pose = ob[pose_key].copy() if frame == "camera" else None  # the policy may normalise ob
                with torch.no_grad():  # robomimic's get_action keeps autograd on: no graph at deployment
                    action = policy(ob)
                if frame == "camera":
                    action = action_to_world(action, camera_pose)
                obs, _, success, truncated, _ = env.step(action)
                if success or truncated:
                    break
            result.successes.append(bool(success))
            result.steps.append(steps)
            result.seeds.append(int(episode))
            if frames:
                write_video(frames, os.path.join(video_dir, f"{view}_rollout{index}.mp4"), fps=20)
            if after_episode is not None:
                after_episode(result)
    finally:
        env.close()
    return result
