"""Tiny files in the datasets' real on-disk formats: 64x48 videos with a moving square, and skeletons."""
import json
import os

import imageio.v2 as imageio
import numpy as np

W, H, T = 64, 48, 10


def frames_and_track(seed: int):
    rng = np.random.default_rng(seed)
    x0, y0 = rng.integers(8, 40), rng.integers(8, 30)
    frames, track = [], []
    for t in range(T):
        img = np.full((H, W, 3), 30, np.uint8)
        x, y = x0 + t, y0 + (t % 3)
        img[y:y + 8, x:x + 8] = (220, 60, 60)
        frames.append(img)
        track.append((x + 4.0, y + 4.0))
    return frames, np.array(track)


def joints_around(track: np.ndarray, k: int) -> np.ndarray:
    """(T, k, 2) keypoints spread around the square's centre; joint j sits j px to the right."""
    offsets = np.stack([np.arange(k) % 5 - 2.0, np.arange(k) % 3 - 1.0], 1)
    return track[:, None, :] + offsets[None]


def write_video(path: str, frames) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kwargs = {"codec": "mpeg4"} if path.endswith(".avi") else {}
    imageio.mimsave(path, frames, fps=10, macro_block_size=1, **kwargs)


def write_pose_json(path: str, kp: np.ndarray, empty_frames=()) -> None:
    frames = [[] if t in empty_frames else [{"pose2d": kp[t, :, 0].tolist() + kp[t, :, 1].tolist(),
                                             "pose3d": [0.0] * (3 * kp.shape[1]), "cumscore": 5.0}]
              for t in range(len(kp))]
    with open(path, "w") as f:
        json.dump({"njts": kp.shape[1], "frames": frames}, f)


def write_smarthome(root: str, activity: str, subject: int, camera: int, seed: int) -> str:
    stem = f"{activity}_p{subject:02d}_r01_v01_c{camera:02d}"
    frames, track = frames_and_track(seed)
    write_video(os.path.join(root, f"{stem}.mp4"), frames)
    write_pose_json(os.path.join(root, f"{stem}_pose3d.json"), joints_around(track, 13), empty_frames=(3,))
    return stem


def write_ntu(root: str, setup: int, camera: int, subject: int, rep: int, action: int, seed: int) -> str:
    stem = f"S{setup:03d}C{camera:03d}P{subject:03d}R{rep:03d}A{action:03d}"
    frames, track = frames_and_track(seed)
    write_video(os.path.join(root, f"{stem}_rgb.avi"), frames)
    kp = joints_around(track, 25)
    lines = [str(T)]
    for t in range(T):
        bodies = 0 if t == 2 else 1
        lines.append(str(bodies))
        for _ in range(bodies):
            lines += ["72057594037931101 0 1 1 1 1 0 0.1 0.2 2", "25"]
            lines += [f"0.1 0.2 3.0 100.0 120.0 {kp[t, j, 0]:.3f} {kp[t, j, 1]:.3f} 1 0 0 0 2" for j in range(25)]
    with open(os.path.join(root, f"{stem}.skeleton"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return stem


def write_nucla(root: str, view: int, action: int, subject: int, episode: int, seed: int) -> str:
    stem = f"a{action:02d}_s{subject:02d}_e{episode:02d}"
    frames, track = frames_and_track(seed)
    folder = os.path.join(root, f"view_{view}")
    write_video(os.path.join(folder, f"{stem}.mp4"), frames)
    write_pose_json(os.path.join(folder, f"{stem}.json"), joints_around(track, 18))
    return stem
