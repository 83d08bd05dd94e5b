"""Load an ``envs.convert to=lerobot`` export with lerobot's own reader and compare it with its source file.

lerobot is no dependency of this project (it pins torch<2.12 and Python >= 3.12), so this script runs in a
separate environment that has lerobot and h5py (README, "LeRobot datasets")::

    HF_HUB_OFFLINE=1 /work/lerobot-venv/bin/python benchmarks/lerobot_validate.py \
        --source data/lift.hdf5 --export data/lift_lerobot --out lerobot_validation.json

Every frame of the dataset goes through ``LeRobotDataset(repo_id, root=export)[i]`` with each video
decoder (PyAV, and torchcodec where it loads) and is compared with the source: actions, proprioception,
rewards, dones, per-camera keypoints and extrinsics must be equal; for the images it reports the codec's
loss (absolute difference in 8-bit grey levels, over every pixel and channel) and how many decoded frames
are nearest to their own time step's source frame rather than a neighbour's. It also asks for ACT-style
action chunks (``delta_timestamps``). With ``--record`` lerobot records the same demos itself, for the import
direction (``envs.convert to=robomimic``) to read a dataset lerobot wrote.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; nothing is fetched

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import lerobot  # noqa: E402
from lerobot.datasets import LeRobotDataset  # noqa: E402
from lerobot.utils.feature_utils import dataset_to_policy_features  # noqa: E402

CHUNK = 10  # action steps per ACT-style query


def source_episodes(source: str, sidecar: dict) -> list:
    """Per exported episode, the source demo's arrays (what the export should hold)."""
    episodes = []
    with h5py.File(source, "r") as f:
        for meta in sidecar["episodes"]:
            demo = f["data"][meta["demo"]]
            obs = {k: demo["obs"][k][()] for k in demo["obs"] if not k.endswith(("_robot_mask", "_object_mask"))}
            state = np.concatenate([obs[k].reshape(len(obs[k]), -1) for k in sidecar["state_keys"]], axis=1)
            episodes.append({"actions": demo["actions"][()], "rewards": demo["rewards"][()],
                             "dones": demo["dones"][()], "state": state.astype(np.float32), "obs": obs})
    return episodes


def compare(dataset: LeRobotDataset, episodes: list, views: list) -> dict:
    """Every frame of ``dataset`` against the source; exact for arrays, the codec's loss for images."""
    mismatches: dict = {}
    decoded = {v: [np.empty_like(e["obs"][f"{v}_image"]) for e in episodes] for v in views}
    start = time.perf_counter()
    for i in range(len(dataset)):
        item = dataset[i]
        e, t = int(item["episode_index"]), int(item["frame_index"])
        src = episodes[e]
        checks = {"action": (item["action"].numpy(), src["actions"][t]),
                  "observation.state": (item["observation.state"].numpy(), src["state"][t]),
                  "next.reward": (item["next.reward"].numpy(), src["rewards"][t]),
                  "next.done": (item["next.done"].numpy(), bool(src["dones"][t]))}
        for v in views:
            checks[f"annotation.{v}.keypoints"] = (item[f"annotation.{v}.keypoints"].numpy(), src["obs"][f"{v}_keypoints"][t])
            checks[f"annotation.{v}.extrinsics"] = (item[f"annotation.{v}.extrinsics"].numpy(),
                                                    src["obs"][f"{v}_extrinsics"][t])
            image = item[f"observation.images.{v}"]
            decoded[v][e][t] = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        for key, (got, want) in checks.items():
            if not np.array_equal(np.asarray(got), np.asarray(want), equal_nan=np.asarray(want).dtype.kind == "f"):
                mismatches[key] = mismatches.get(key, 0) + 1
    seconds = time.perf_counter() - start
    images = {}
    for v in views:
        diff = np.concatenate([np.abs(d.astype(int) - e["obs"][f"{v}_image"]).reshape(-1)
                               for d, e in zip(decoded[v], episodes)])
        own = []
        for d, e in zip(decoded[v], episodes):
            x = e["obs"][f"{v}_image"].astype(np.int16)
            errors = np.stack([np.abs(d[j].astype(np.int16)[None] - x).mean(axis=(1, 2, 3)) for j in range(len(d))])
            own.append(errors.argmin(axis=1) == np.arange(len(d)))
        images[v] = {"mean_abs": float(diff.mean()), "max_abs": int(diff.max()), "p99_abs": float(np.percentile(diff, 99)),
                     "frames_nearest_own_step": float(np.concatenate(own).mean())}
    all_diff = {k: float(np.mean([images[v][k] for v in views])) for k in ("mean_abs", "p99_abs", "frames_nearest_own_step")}
    all_diff["max_abs"] = max(images[v]["max_abs"] for v in views)
    return {"frames": len(dataset), "seconds_per_frame": seconds / len(dataset), "mismatches": mismatches,
            "images_all_cameras": all_diff, "images": images}


def action_chunks(root: str, repo_id: str, fps: int, episodes: list, backend: str) -> dict:
    """ACT's query: ``CHUNK`` future actions per frame, padded past the episode's end (``action_is_pad``)."""
    deltas = {"action": [k / fps for k in range(CHUNK)]}
    dataset = LeRobotDataset(repo_id, root=root, delta_timestamps=deltas, video_backend=backend)
    wrong = 0
    for i in range(0, len(dataset), 7):
        item = dataset[i]
        e, t = int(item["episode_index"]), int(item["frame_index"])
        want = episodes[e]["actions"][np.minimum(np.arange(t, t + CHUNK), len(episodes[e]["actions"]) - 1)]
        pad = np.arange(t, t + CHUNK) >= len(episodes[e]["actions"])
        wrong += int(not (np.array_equal(item["action"].numpy(), want) and
                          np.array_equal(item["action_is_pad"].numpy(), pad)))
    return {"chunk": CHUNK, "items_checked": len(range(0, len(dataset), 7)), "wrong": wrong}


def record_with_lerobot(source: str, folder: str, views: list, repo_id: str, fps: int) -> dict:
    """The import direction's test data: lerobot itself records the source's demos as a dataset of its own
    (``LeRobotDataset.create``, ``add_frame``, ``save_episode``; cameras, state and action only), then a user
    adds per-camera keypoints with lerobot's ``dataset_tools.add_features`` (as a 2D pose detector's output
    would be added). Writes ``<folder>`` and ``<folder>_keypoints``."""
    from lerobot.datasets.dataset_tools import add_features
    start = time.perf_counter()
    with h5py.File(source, "r") as f:
        demos = sorted(f["data"], key=lambda n: int(n.split("_")[1]))
        first = f["data"][demos[0]]["obs"]
        names = json.loads(f.attrs["keypoint_names"])
        features = {"action": {"dtype": "float32", "shape": list(f["data"][demos[0]]["actions"].shape[1:]), "names": None},
                    "observation.state": {"dtype": "float32", "shape": [3], "names": ["x", "y", "z"]}}
        for v in views:
            features[f"observation.images.{v}"] = {"dtype": "video", "shape": list(first[f"{v}_image"].shape[1:]),
                                                   "names": ["height", "width", "channels"]}
        dataset = LeRobotDataset.create(repo_id, fps=fps, features=features, root=folder, use_videos=True)
        keypoints = {v: [] for v in views}
        for name in demos:
            demo = f["data"][name]
            for t in range(len(demo["actions"])):
                frame = {"action": demo["actions"][t].astype(np.float32),
                         "observation.state": demo["obs"]["robot0_eef_pos"][t].astype(np.float32), "task": "lift"}
                for v in views:
                    frame[f"observation.images.{v}"] = demo["obs"][f"{v}_image"][t]
                dataset.add_frame(frame)
            dataset.save_episode()
            for v in views:
                keypoints[v].append(demo["obs"][f"{v}_keypoints"][()])
        dataset.finalize()
    added = {f"annotation.{v}.keypoints": (np.concatenate(keypoints[v]).astype(np.float32),
                                           {"dtype": "float32", "shape": [len(names), 2],
                                            "names": {"keypoints": names, "coordinates": ["x", "y"]}})
             for v in views}
    add_features(LeRobotDataset(repo_id, root=folder), added, output_dir=folder + "_keypoints", repo_id=repo_id)
    return {"recorded": os.path.abspath(folder), "with_keypoints": os.path.abspath(folder) + "_keypoints",
            "episodes": len(demos), "cameras": views, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="the episode file that was exported")
    parser.add_argument("--export", required=True, help="the LeRobotDataset v3.0 folder envs.convert wrote")
    parser.add_argument("--repo-id", default="local/poseaware_export")
    parser.add_argument("--backends", nargs="+", default=["pyav", "torchcodec"])
    parser.add_argument("--out", default=None, help="write the results here (JSON) too")
    parser.add_argument("--record", default=None, help="also record the source with lerobot itself into this "
                        "folder, and a copy with keypoints added, for envs.convert to=robomimic to read")
    parser.add_argument("--record-views", nargs="+", default=["cam0", "cam1", "held0"])
    args = parser.parse_args()
    with open(os.path.join(args.export, "meta", "poseaware.json")) as f:
        sidecar = json.load(f)
    episodes = source_episodes(args.source, sidecar)
    with open(os.path.join(args.export, "meta", "info.json")) as f:
        views = [k.split(".", 2)[2] for k, ft in json.load(f)["features"].items() if ft["dtype"] == "video"]
    result = {"lerobot": lerobot.__version__, "torch": torch.__version__, "python": platform.python_version(),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "source": os.path.abspath(args.source),
              "export": os.path.abspath(args.export), "backends": {}}
    for backend in args.backends:
        try:
            dataset = LeRobotDataset(args.repo_id, root=args.export, video_backend=backend)
            meta = dataset.meta
            result["meta"] = {"codebase_version": meta.info.codebase_version, "fps": meta.fps,
                              "total_episodes": meta.total_episodes, "total_frames": meta.total_frames,
                              "camera_keys": meta.camera_keys, "tasks": list(meta.tasks.index),
                              "stats_keys": len(meta.stats),
                              # what lerobot's policies (ACT, diffusion, ...) take from these features
                              "policy_features": {k: str(v.type.name) for k, v in
                                                  dataset_to_policy_features(meta.features).items()}}
            result["backends"][backend] = compare(dataset, episodes, views)
            result["backends"][backend]["action_chunks"] = action_chunks(args.export, args.repo_id, meta.fps,
                                                                         episodes, backend)
        except Exception as err:  # a decoder that does not load here is reported, not fatal
            result["backends"][backend] = {"error": f"{type(err).__name__}: {err}"[:500]}
    if args.record:
        result["recorded_by_lerobot"] = record_with_lerobot(args.source, args.record, args.record_views,
                                                            args.repo_id + "_recorded", result["meta"]["fps"])
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
