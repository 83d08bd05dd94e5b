"""A tiny multi-view episode file written through the project's own writer, with no simulator: smooth
per-view backgrounds and a coloured block that moves (the "robot"), its corners as keypoints (one unseen,
NaN), its pixels as the robot mask."""
import json

import numpy as np

from envs.dataset_io import Episode, EpisodeWriter

VIEWS = ("cam0", "cam1", "held0")
KEYPOINTS = ("corner0", "corner1", "corner2", "hidden")


def synthetic_episode(index: int, views=VIEWS, size: int = 32, length: int = 16) -> Episode:
    rng = np.random.default_rng(index)
    y, x = np.mgrid[0:size, 0:size] / size
    obs, cameras = {}, {}
    for v, view in enumerate(views):
        background = np.stack([0.3 + 0.4 * x, 0.3 + 0.3 * y, 0.5 + 0.2 * (v + 1) / len(views) + 0 * x], -1)
        images, keypoints, masks = [], [], []
        for t in range(length):
            image = background.copy()
            top, left = 4 + (t + v) % (size // 2), 4 + (2 * t + index) % (size // 2)
            image[top:top + 8, left:left + 8] = (0.9, 0.2, 0.1)
            mask = np.zeros((size, size), bool)
            mask[top:top + 8, left:left + 8] = True
            images.append((image * 255).astype(np.uint8))
            masks.append(mask)
            keypoints.append([[left + 0.5, top + 0.5], [left + 7.5, top + 0.5], [left + 3.25, top + 7.75],
                              [np.nan, np.nan]])
        obs[f"{view}_image"] = np.stack(images)
        obs[f"{view}_keypoints"] = np.asarray(keypoints, np.float32)
        obs[f"{view}_robot_mask"] = np.stack(masks)
        obs[f"{view}_object_mask"] = ~np.stack(masks)
        obs[f"{view}_extrinsics"] = rng.normal(size=(length, 4, 4)).astype(np.float32)
        cameras[view] = {"intrinsics": [[30.0, 0.0, size / 2], [0.0, 30.0, size / 2], [0.0, 0.0, 1.0]],
                         "image_size": [size, size], "fovy": 50.0, "extrinsics": np.eye(4).tolist()}
    low_dim = {"robot0_eef_pos": (length + 1, 3), "robot0_eef_quat": (length + 1, 4),
               "robot0_gripper_qpos": (length + 1, 2), "object": (length + 1, 7)}
    steps = {k: rng.normal(size=shape).astype(np.float32) for k, shape in low_dim.items()}
    obs.update({k: v[:-1] for k, v in steps.items()})
    dones = np.zeros(length, np.int64)
    dones[-1] = 1
    return Episode(seed=100 + index, success=index % 2 == 0, actions=rng.normal(size=(length, 7)).astype(np.float32),
                   states=rng.normal(size=(length, 10)), rewards=(np.arange(length) == length - 1).astype(np.float32),
                   dones=dones, obs=obs, cameras=cameras, model_file=f"<mujoco model='{index}'/>",
                   next_obs={k: v[1:] for k, v in steps.items()})


def write_synthetic_demos(path: str, episodes: int = 3, views=VIEWS, size: int = 32, length: int = 16) -> str:
    attrs = {"keypoint_names": list(KEYPOINTS), "views": list(views)}
    with EpisodeWriter(path, {"env": "synthetic", "image_size": size}, attrs) as writer:
        writer.set_env_args(json.dumps({"env_name": "Synthetic", "type": 2, "env_kwargs": {"control_freq": 20}}))
        for i in range(episodes):
            writer.add(i, synthetic_episode(i, views, size, length))
    return path
