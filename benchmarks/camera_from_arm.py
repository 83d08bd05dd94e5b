"""How well a camera is found from the arm it sees (``envs.camera_from_arm``): PnP on each view's arm
keypoints and the forward kinematics of the stored proprioception, against the stored extrinsics.

python benchmarks/camera_from_arm.py data/bench/lift_policy84.hdf5 [--demos 50] [--window 8] [--detector <paat ckpt>]

Keypoint sources, per frame:
- ``stored``: the file's keypoints (the exact projections, kept as float32);
- ``pixel``: each rounded to the centre of the pixel it falls in (a perfect detector at pixel resolution);
- ``+-1 px``: stored plus uniform noise in [-1, 1] px on each coordinate (seeded);
- ``+-1 px, W frames``: the same noise, the last W frames solved together (the camera stands still in an
  episode; not for the moving first-person camera);
- with ``--detector`` (an ``alignment.train`` checkpoint of a PAAT encoder): ``PAAT head``, the keypoints its
  head reads from the image (``alignment.keypoint_detector``), per frame with RANSAC at half a patch, and
  ``PAAT head, tracked``: the camera as a policy is given it (``alignment.camera_input``, ``camera_input=paat``:
  the frames so far, up to 32, solved together, the last solution kept while unsolvable).

Prints a markdown table per view: frames solved (the rest show fewer than 4 distinct keypoints), and the
median, 90th percentile and maximum rotation (degrees) and camera-centre (metres) errors.
"""
import argparse
import json
import time

import cv2
import numpy as np

from envs.camera_from_arm import extrinsics_error, extrinsics_from_arm, pose_vector_error
from envs.dataset_io import EpisodeFile
from envs.registry import make_simulator


def head_localisation(detector, images: np.ndarray, keypoints: np.ndarray) -> list:
    """(pixel error, probability) of the head's most probable token for every keypoint inside the image."""
    best, prob = detector.locate(images, threshold=0.0)
    inside = np.isfinite(keypoints).all(-1) & (keypoints >= 0).all(-1) & (keypoints < images.shape[1:3][::-1]).all(-1)
    return list(zip(np.linalg.norm(best - keypoints, axis=-1)[inside], prob[inside]))


def keypoint_sources(kp: np.ndarray, rng: np.random.Generator) -> dict:
    return {"stored": kp, "pixel": np.floor(kp) + 0.5, "+-1 px": kp + rng.uniform(-1, 1, kp.shape)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--demos", type=int, default=50)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector", help="a PAAT encoder's alignment.train checkpoint: also its head's keypoints")
    args = p.parse_args()
    detector = None
    if args.detector:
        from alignment.camera_input import CameraPoseInput
        from alignment.keypoint_detector import PaatKeypointDetector

        detector = PaatKeypointDetector(args.detector)
        tracked = CameraPoseInput("paat", detector)
    start = time.time()
    rng = np.random.default_rng(args.seed)
    errors: dict = {}  # (view, source) -> list of (rotation, translation) or None where unsolvable
    located: dict = {}  # view -> [(pixel error of the head's best token, its probability)] per seen keypoint
    with EpisodeFile(args.path) as f:
        sim = make_simulator(f.settings.get("env", "lift"))
        for demo in f.demos[:args.demos]:
            sim.restore_scene(int(f.demo_attr(demo, "seed")), f.demo_attr(demo, "model_file"), 0)
            joints, fingers = f.obs(demo, "robot0_joint_pos"), f.obs(demo, "robot0_gripper_qpos")
            cameras = json.loads(f.demo_attr(demo, "cameras"))
            for view in f.views:
                intrinsics = np.array(cameras[view]["intrinsics"])
                true = f.view_obs(demo, view, "extrinsics")
                sources = keypoint_sources(f.view_obs(demo, view, "keypoints"), rng)
                if view != "first_person":
                    sources[f"+-1 px, {args.window} frames"] = sources["+-1 px"]
                if detector is not None:
                    images = f.view_obs(demo, view, "image")
                    sources["PAAT head"] = detector(images)
                    located.setdefault(view, []).extend(head_localisation(detector, images,
                                                                          f.view_obs(demo, view, "keypoints")))
                    ransac = detector.token_pixels(images.shape[2]) / 2  # half a token, in these images' pixels
                    if view != "first_person":
                        poses = tracked.episode(sim, intrinsics, images.shape[2], images, None, true, joints, fingers)
                        errors.setdefault((view, "PAAT head, tracked"), []).extend(
                            pose_vector_error(p, e) if p[-1] else None for p, e in zip(poses, true))
                for name, kp in sources.items():
                    window = args.window if name.endswith("frames") else 1
                    for t in range(len(kp)):
                        frames = slice(max(t - window + 1, 0), t + 1)
                        try:
                            fit = extrinsics_from_arm(sim, kp[frames], joints[frames], fingers[frames], intrinsics,
                                                      ransac_threshold=ransac if name == "PAAT head" else None)
                            errors.setdefault((view, name), []).append(extrinsics_error(fit.extrinsics, true[t]))
                        except (ValueError, cv2.error):
                            errors.setdefault((view, name), []).append(None)
        sim.close()
        print(f"{args.path}: {min(args.demos, len(f.demos))} demos, {f.settings.get('image_size')} px, "
              f"{time.time() - start:.0f} s")
    print("| view | keypoints | frames solved | rotation median / p90 / max (deg) | "
          "camera centre median / p90 / max (m) |")
    print("| --- | --- | --- | --- | --- |")
    for (view, name), rows in errors.items():
        solved = np.array([r for r in rows if r is not None]).reshape(-1, 2)
        stats = ["–", "–"] if not len(solved) else [
            " / ".join(fmt.format(v) for v in (np.median(solved[:, i]), np.percentile(solved[:, i], 90),
                                               solved[:, i].max()))
            for i, fmt in ((0, "{:.3g}"), (1, "{:.3g}"))]
        print(f"| {view} | {name} | {len(solved)}/{len(rows)} | {stats[0]} | {stats[1]} |")
    if located:
        print("\nThe PAAT head as a detector, on the keypoints inside the image: the pixel distance from each to the "
              "head's most probable token (refined, whatever its probability), and that probability.\n")
        print("| view | keypoints | error median / p90 (px) | within half a token | probability median / p90 |")
        print("| --- | --- | --- | --- | --- |")
        for view, rows in located.items():
            err, prob = np.array(rows).reshape(-1, 2).T
            half = detector.token_pixels(f.settings["image_size"]) / 2
            print(f"| {view} | {len(err)} | {np.median(err):.1f} / {np.percentile(err, 90):.1f} | "
                  f"{np.mean(err <= half):.0%} | {np.median(prob):.3f} / {np.percentile(prob, 90):.3f} |")


if __name__ == "__main__":
    main()
