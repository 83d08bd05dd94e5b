"""Offline multi-view mocap action set in the Toyota Smarthome layout (``env=mocap``).

The DeepMimic humanoid and its motion-capture clips ship with pybullet_data. Each clip is one
action class; every video is rendered from several cameras around the subject and written as
``<Activity>_pNN_rNN_vNN_cNN.mp4`` plus ``<stem>_pose3d.json`` (LCR-Net format, 13 joints), so the
Smarthome loader reads it unchanged. Seeds vary camera jitter, playback speed, start phase,
mirroring (image and skeleton, left/right swapped), body colours and background.
"""
from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import imageio.v2 as imageio
import numpy as np
import pybullet as pb
import pybullet_data
from tqdm import tqdm

from .pybullet_camera import render_pybullet
from .cameras import RigConfig, make_rig, project
from .dataset_io import land, temp_path_for
from .skeletons import LCRNET13, MOCAP_CLASSES, flip_keypoints, write_lcrnet

CLIPS: Dict[str, str] = dict(zip(MOCAP_CLASSES, (  # activity name -> DeepMimic clip
    "walk", "run", "jump", "kick", "punch", "spin", "spinkick", "cartwheel", "backflip", "roll", "crawl",
    "dance_a", "dance_b", "getup_faceup", "getup_facedown")))
SCALE = 0.25  # the DeepMimic humanoid URDF is 4x human size
# LCR-Net joint -> (humanoid link, offset in the link frame, before scaling)
LCR_FROM_HUMANOID = [(11, 0), (14, 0), (10, 0), (13, 0), (9, 0), (12, 0), (5, 0), (8, 0), (4, 0), (7, 0), (3, 0),
                     (6, 0), (2, 1)]
HEAD_OFFSET = np.array([0.0, 0.7, 0.0]) * SCALE  # neck frame -> head centre (y is up in the model)
Y_UP_TO_Z_UP = pb.getQuaternionFromEuler([np.pi / 2, 0, 0])


def _interpolator():
    """pybullet's own DeepMimic pose interpolator, loaded by path (pybullet_envs imports the retired gym)."""
    path = os.path.join(os.path.dirname(pb.__file__), "pybullet_envs", "deep_mimic", "env",
                        "humanoid_pose_interpolator.py")
    if not os.path.exists(path):
        import pybullet_envs  # noqa: F401  (only to find the folder in unusual installs)
    spec = importlib.util.spec_from_file_location("humanoid_pose_interpolator", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HumanoidPoseInterpolator()


def load_clip(name: str) -> np.ndarray:
    path = os.path.join(pybullet_data.getDataPath(), "data", "motions", f"humanoid3d_{name}.txt")
    with open(path) as f:
        return np.asarray(json.load(f)["Frames"], dtype=np.float64)


@dataclass
class MocapConfig:
    num_cameras: int = 4
    videos_per_class: int = 4
    num_frames: int = 32
    fps: int = 15
    image_size: Tuple[int, int] = (96, 128)  # (H, W)
    seed: int = 0


class MocapRenderer:
    """Poses the humanoid kinematically from a clip and renders it from a camera ring."""

    def __init__(self) -> None:
        self.client = pb.connect(pb.DIRECT)
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        self.floor = pb.loadURDF("plane.urdf", [0, 0, 0], physicsClientId=self.client)
        self.body = pb.loadURDF("humanoid/humanoid.urdf", [0, 0, 1], globalScaling=SCALE, useFixedBase=True,
                                physicsClientId=self.client)
        self.interp = _interpolator()
        self.order = [1, 2, 9, 10, 11, 3, 4, 12, 13, 14, 6, 7]

    def style(self, rng: np.random.Generator) -> None:
        shirt, pants, skin = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3), rng.uniform(0.5, 0.9, 3)
        for link in range(-1, pb.getNumJoints(self.body, physicsClientId=self.client)):
            colour = pants if link >= 9 else skin if link in (2, 4, 5, 7, 8) else shirt
            pb.changeVisualShape(self.body, link, rgbaColor=list(colour) + [1], physicsClientId=self.client)
        pb.changeVisualShape(self.floor, -1, rgbaColor=list(rng.uniform(0.3, 1.0, 3)) + [1],
                             physicsClientId=self.client)

    def pose(self, frames: np.ndarray, t: float, origin: np.ndarray) -> None:
        """Pose at time ``t`` seconds (looping), with the horizontal root motion removed."""
        durations = frames[:, 0]
        t = t % durations[:-1].sum()
        i = int(np.searchsorted(np.cumsum(durations[:-1]), t, side="right"))
        frac = (t - np.cumsum(durations[:-1])[i - 1] if i else t) / durations[i]
        self.interp.Slerp(frac, frames[i], frames[min(i + 1, len(frames) - 1)], pb)
        p = self.interp
        pos = np.array(p._basePos) * SCALE * 4 - origin  # motion data is in the model's metres
        base, orn = pb.multiplyTransforms([0, 0, 0], Y_UP_TO_Z_UP, pos.tolist(), p._baseOrn)
        pb.resetBasePositionAndOrientation(self.body, base, orn, physicsClientId=self.client)
        rots = [p._chestRot, p._neckRot, p._rightHipRot, p._rightKneeRot, p._rightAnkleRot, p._rightShoulderRot,
                p._rightElbowRot, p._leftHipRot, p._leftKneeRot, p._leftAnkleRot, p._leftShoulderRot, p._leftElbowRot]
        pb.resetJointStatesMultiDof(self.body, self.order, [list(r) for r in rots], physicsClientId=self.client)

    def keypoints(self) -> np.ndarray:
        points = []
        for link, is_head in LCR_FROM_HUMANOID:
            pos, orn = pb.getLinkState(self.body, link, computeForwardKinematics=True, physicsClientId=self.client)[4:6]
            offset = np.array(pb.getMatrixFromQuaternion(orn)).reshape(3, 3) @ HEAD_OFFSET if is_head else 0
            points.append(np.array(pos) + offset)
        return np.asarray(points)

    def render(self, camera) -> np.ndarray:
        return render_pybullet(self.client, camera, near=0.05, far=30.0)[0]

    def close(self) -> None:
        pb.disconnect(self.client)


def video_stem(activity: str, subject: int, repetition: int, video: int, camera: int) -> str:
    return f"{activity}_p{subject:02d}_r{repetition:02d}_v{video:02d}_c{camera:02d}"


MARKER = ".poseaware_mocap.json"  # written by the generator: its settings


def write_video(path: str, frames: List[np.ndarray], fps: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".", suffix=".tmp.mp4")
    os.close(fd)
    try:
        imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def made_by_generator(folder: str) -> Optional[dict]:
    """The settings a mocap folder was generated with, or None where no generator made it."""
    marker = os.path.join(folder, MARKER)
    if not os.path.exists(marker):
        return None
    with open(marker) as f:
        return json.load(f)


def mocap_settings(config: MocapConfig) -> dict:
    """The settings as the marker file stores them."""
    return json.loads(json.dumps(asdict(config)))


def claim_folder(out_dir: str, config: MocapConfig) -> None:
    """Render only into an empty folder or one this generator made with the same settings: a folder
    of someone else's videos never gets generated ones mixed in."""
    settings = mocap_settings(config)
    os.makedirs(out_dir, exist_ok=True)
    made = made_by_generator(out_dir)
    if made is None and os.listdir(out_dir):
        raise ValueError(f"{out_dir!r} holds files the mocap generator did not make; render into an empty folder "
                         f"(or read this one as it is)")
    if made is not None and made != settings:
        differ = ", ".join(f"{k}: folder has {made.get(k)!r}, asked {settings.get(k)!r}"
                           for k in sorted(set(made) | set(settings)) if made.get(k) != settings.get(k))
        raise ValueError(f"{out_dir!r} was generated with other settings ({differ}); use them, or another folder")
    if made is None:
        marker = os.path.join(out_dir, MARKER)
        tmp = temp_path_for(marker)
        with open(tmp, "w") as f:
            json.dump(settings, f)
        land(tmp, marker)


def generate_mocap(out_dir: str, config: MocapConfig, progress: bool = True) -> Dict[str, int]:
    """Render every class x video x camera; existing files are kept (resume). Only into an empty folder
    or one made by this generator with the same settings (``claim_folder``)."""
    claim_folder(out_dir, config)
    renderer = MocapRenderer()
    height, width = config.image_size
    written = 0
    jobs = [(a, v) for a in CLIPS for v in range(config.videos_per_class)]
    try:
        for activity, video in tqdm(jobs, desc="mocap videos", unit="video", disable=not progress):
            seed = int(np.random.SeedSequence([config.seed, MOCAP_CLASSES.index(activity), video]).generate_state(1)[0])
            rng = np.random.default_rng(seed)
            subject, repetition = 1 + video % 5, 1 + video // 5
            stems = [video_stem(activity, subject, repetition, video + 1, c + 1) for c in range(config.num_cameras)]
            if all(os.path.exists(os.path.join(out_dir, f"{s}.mp4")) for s in stems):
                continue
            frames = load_clip(CLIPS[activity])
            speed, start = rng.uniform(0.8, 1.2), rng.uniform(0, frames[:-1, 0].sum())
            mirror = bool(rng.random() < 0.5)
            renderer.style(rng)
            renderer.pose(frames, start, np.zeros(3))
            root = np.array(renderer.interp._basePos) * SCALE * 4
            origin = np.array([root[0], 0.0, root[2]])  # keep the subject near the rig's centre
            rig = make_rig(RigConfig(num_views=config.num_cameras, radius=3.2, azimuth_range=(-180, 180),
                                     elevation_range=(5, 25), fovy=55.0, center=(0.0, 0.0, 0.8),
                                     jitter_azimuth=15.0, jitter_elevation=5.0, jitter_radius=0.1,
                                     draws="scene"),  # the set as its recorded results were measured on
                           width, height, seed)
            images = [[] for _ in rig]
            kps = [[] for _ in rig]
            points3d = []
            for i in range(config.num_frames):
                renderer.pose(frames, start + i * speed / config.fps, origin)
                world = renderer.keypoints()
                points3d.append(world)
                for c, cam in enumerate(rig):
                    images[c].append(renderer.render(cam))
                    kps[c].append(project(world, cam))
            for c, stem in enumerate(stems):
                video_frames, keypoints = images[c], np.asarray(kps[c])
                if mirror:
                    video_frames = [np.ascontiguousarray(f[:, ::-1]) for f in video_frames]
                    keypoints = flip_keypoints(keypoints, width, LCRNET13)
                write_lcrnet(os.path.join(out_dir, f"{stem}_pose3d.json"), keypoints, np.asarray(points3d))
                write_video(os.path.join(out_dir, f"{stem}.mp4"), video_frames, config.fps)
                written += 1
    finally:
        renderer.close()
    return {"videos": written, "classes": len(CLIPS), "cameras": config.num_cameras}
