"""``python -m alignment.policy``: a robomimic BC policy, trained and rolled out live.

- ``obs=image backbone=resnet18|baseline|paab|paat|paab+paat init=scratch|<alignment checkpoint>``: an
  image policy trained end to end on ``cameras`` (+ proprioception), the backbone inside robomimic's
  ``VisualCore`` (``alignment.bc``);
- ``obs=embedding checkpoint=.../best.pt``: on a frozen encoder's embeddings of ``train_views`` (each demo
  once per camera);
- ``obs=state`` and ``obs=proprio``: without vision (upper and lower bounds).

``validation.every=N`` rolls out every N epochs on validation seeds and keeps the best policy, as
robomimic's train script does; the kept policy is then tested on other seeds from each of ``eval_views``.
Writes ``policy.pt``, ``training.json``, ``rollouts.json`` and ``videos/`` into ``run_dir``; an interrupted
run resumes from ``training_state.pt`` when started again, and its test rollouts at the next episode
(``test_rollouts_in_progress.json``)."""
from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from dataclasses import asdict
from typing import Callable, Dict, Optional, Sequence, Tuple

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from envs.commands import one_line_errors, whole_number
from envs.cameras import FIRST_PERSON
from envs.dataset_io import EpisodeFile
from poseaware.inputs import default_device
from envs.eval_cameras import EVAL_BINS, EVAL_VIEW
from envs.registry import simulator_class
from envs.output_lock import exclusive_output
from poseaware.runs import atomic_write_text, clear_run_dir, read_checkpoint

from .backbone import POSE_MODALITY
from .camera_input import DemoCameraPoses, check_camera_input, load_camera_input
from .bc import (PolicyInputs, backbone_needs_keypoints, bc_config, default_crop, load_bc, policy_inputs,
                 resumable_state, train_bc, vit_core_kwargs)
from .embed import embed_file
from .inference import check_encoder_fits, load_encoder
from .policy_frame import check_frame
from .policy_data import (EMBEDDING_KEY, image_file_settings, policy_images_made_from, pool_training_views,
                          write_policy_images)
from .policy_plots import angle_rates, plot_success_by_angle
from .rollout import (ROLLOUT_SEED, VALIDATION_SEED, RolloutResult, camera_map, default_eval_views, home_camera,
                      run_rollouts)
from .rollout_workers import rollouts_in_workers


# envs.generate overrides for policy demos: one fixed training camera, as robomimic's agentview
FIXED_CAMERA = ("num_views=1", "rig.sampling=ring", "rig.jitter_azimuth=0", "rig.jitter_elevation=0",
                "rig.jitter_radius=0")


def warn_if_training_camera_moves(f: EpisodeFile, view: str, train_views: Sequence[str], demos: int = 5) -> None:
    """A sector-rig file draws ``cam<i>`` anew each episode; a policy trained on it sees many cameras. Said only
    where that is not the point: several ``train_views`` are camera-randomised training, on purpose."""
    if len(train_views) > 1:
        return
    poses = [f.view_obs(d, view, "extrinsics", 0) for d in f.demos[:demos] if f.has_view_obs(d, view, "extrinsics")]
    if len(poses) > 1 and max(np.abs(p - poses[0]).max() for p in poses) > 1e-4:
        warnings.warn(f"{f.path}: camera {view} moves between demos (a sector rig draws it per episode), so the "
                      f"policy learns from many cameras, not one; for a fixed training camera as robomimic's "
                      f"agentview, generate with {' '.join(FIXED_CAMERA)} (benchmarks/bc_table.py does)",
                      stacklevel=2)


# The test rollouts of a run in progress, saved after every episode so a killed run continues from the next one.
TEST_PROGRESS = "test_rollouts_in_progress.json"
PARTIAL = "partial"  # a view's entry while its rollouts run: the episodes so far (RolloutResult's fields)
# what a policy run writes (clear_run_dir refuses to delete anything else)
POLICY_RUN_ENTRIES = ("config.yaml", "policy.pt", "training_state.pt", "training.json", "rollouts.json", "videos",
                      "bc_data.hdf5", "embedded.hdf5", "policy_data.hdf5", "success_by_angle.png", TEST_PROGRESS,
                      ".*.tmp")
# what else, beside robomimic's config, decides a policy run: a resumed run must have the same
RESUME_KEYS = ("data", "obs", "checkpoint", "train_views", "cameras", "backbone", "init", "readout", "freeze", "crop",
               "encoder", "validation", "horizon", "camera_input", "keypoint_detector", "frame")
# keys (dotted paths) added after runs were made, with the values those runs had: an older run's config.yaml
# lacks them, and its resume key must not change while they keep these values
LATER_KEYS = {"camera_input": "none", "keypoint_detector": None, "encoder.stem": "patch", "frame": "robot",
              "encoder.paat_after": 1, "encoder.paat_target": "p3d"}


def resume_key(cfg: DictConfig) -> Dict[str, object]:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for path, value in LATER_KEYS.items():
        *parents, leaf = path.split(".")
        node = resolved
        for parent in parents:
            node = node[parent]
        if node.get(leaf, value) == value:
            node.pop(leaf, None)
    return {k: resolved[k] for k in RESUME_KEYS if k in resolved}


def with_later_keys(run: DictConfig) -> DictConfig:
    """A saved run's config with the keys added since it was made, at the values it had."""
    later = OmegaConf.create()
    for path, value in LATER_KEYS.items():
        OmegaConf.update(later, path, value)  # makes the dotted path's parents
    return OmegaConf.merge(later, run)


def image_backbone(cfg: DictConfig, image_size: int, keypoint_names: Sequence[str], data: str):
    """(robomimic VisualCore kwargs or None for its ResNet18, crop size) for ``obs=image``."""
    if cfg.crop is not None and not 0 < cfg.crop < image_size:  # robomimic's CropRandomizer only asserts it
        raise ValueError(f"crop={cfg.crop} does not fit the demos' {image_size} px images: a random crop must be "
                         f"smaller than the image; choose 0 < crop < {image_size}, or crop=null "
                         f"({image_size} - 8, as robomimic's 84 -> 76)")
    head = {key: cfg.encoder[key] for key in ("paat_after", "paat_target")
            if cfg.encoder[key] != LATER_KEYS[f"encoder.{key}"]}  # PAAT's head settings the user changed
    if head and ("paat" not in cfg.backbone or cfg.init != "scratch"):
        raise ValueError(f"encoder.{' and encoder.'.join(head)} set PAAT's head, which only a PAAT backbone trained "
                         f"from scratch takes (backbone=paat or paab+paat, init=scratch; a checkpoint brings its "
                         f"own head); got backbone={cfg.backbone}, init={cfg.init}: drop them")
    if cfg.backbone == "resnet18":
        if cfg.init != "scratch":
            raise ValueError("init=<checkpoint> fine-tunes the project's DeiT; backbone=resnet18 trains from scratch "
                             "(robomimic's reference): leave init=scratch")
        return None, cfg.crop or default_crop(image_size, None)
    if cfg.init == "scratch":
        crop = cfg.crop or default_crop(image_size, cfg.encoder.patch_size)
        needs = backbone_needs_keypoints(cfg.backbone)
        config = {"method": cfg.backbone, "img_size": crop, "patch_size": cfg.encoder.patch_size,
                  "preset": cfg.encoder.preset, "depth": cfg.encoder.depth, "stem": cfg.encoder.stem,
                  "paat_lambda": cfg.encoder.paat_lambda,
                  "num_keypoints": len(keypoint_names) if needs else None,
                  **head}  # only where changed, so runs made before they could be set keep their config (and resume)
        init = None
    else:
        init = os.path.abspath(cfg.init)
        ckpt = read_checkpoint(init)
        # keypoints must be this env's; the image size may differ (position embeddings are resampled)
        check_encoder_fits(init, ckpt, data, ckpt["data"]["image_size"], keypoint_names)
        crop = cfg.crop or default_crop(image_size, ckpt["model_config"]["patch_size"])
        config = dict(ckpt["model_config"], img_size=crop)  # its architecture, for the crop's images
        if config["method"] != cfg.backbone:
            raise ValueError(f"{init} holds a {config['method']!r} encoder, but backbone={cfg.backbone}; give "
                             f"backbone={config['method']} or a checkpoint trained with method={cfg.backbone}")
        if "paat_lambda" in config:
            config["paat_lambda"] = cfg.encoder.paat_lambda
    return vit_core_kwargs(config, cfg.readout, init, cfg.freeze), crop


def check_views_exist(data: str, views: Sequence[str], wanted: Sequence[str]) -> None:
    """Refuse views the file lacks; an evaluation view may also be a camera bin."""
    missing = [v for v in dict.fromkeys(wanted) if v not in views and v not in EVAL_BINS]
    if missing:
        raise ValueError(f"{data} has no views {missing}; it has {list(views)} (an evaluation view may also be a "
                         f"camera bin: {', '.join(EVAL_BINS)})")


def default_run_dir(cfg: DictConfig) -> str:
    """``runs/<env>/policy/<obs>[-<backbone>]/seed<seed>``: image policies of each backbone apart."""
    kind = f"{cfg.obs}-{cfg.backbone}" if cfg.obs == "image" else cfg.obs
    if cfg.camera_input != "none":
        kind += f"-camera_{cfg.camera_input}"
    if cfg.frame != "robot":
        kind += f"-{cfg.frame}_frame"
    return os.path.join("runs", cfg.env.name, "policy", kind, f"seed{cfg.seed}")


def run_policy(cfg: DictConfig) -> Dict[str, dict]:
    run_dir = cfg.run_dir or default_run_dir(cfg)
    with exclusive_output(run_dir, "run_dir"):
        return _run_policy(cfg, run_dir)


def _run_policy(cfg: DictConfig, run_dir: str) -> Dict[str, dict]:
    if os.path.exists(os.path.join(run_dir, "rollouts.json")) and not cfg.overwrite:
        raise FileExistsError(f"{run_dir} already holds a policy run; choose another run_dir or overwrite=true")
    whole_number("rollout_workers", cfg.rollout_workers, 1)  # said now, not after training
    if cfg.validation.every and cfg.validation.rollouts < 1:
        raise ValueError(f"validation.every={cfg.validation.every} needs validation.rollouts >= 1, got "
                         f"{cfg.validation.rollouts}; give rollouts to validate with, or validation.every=0")
    train_views, cameras = list(cfg.train_views), list(cfg.cameras) if cfg.obs == "image" else []
    if cfg.eval_views is None:  # resolved here, so config.yaml says which views were tested
        cfg.eval_views = default_eval_views(cameras)
    with EpisodeFile(cfg.data) as f:
        settings, views, keypoint_names, file_cameras = f.settings, f.views, f.keypoint_names, f.cameras
        watched = cameras if cfg.obs == "image" else train_views
        third = [v for v in watched if v != FIRST_PERSON]
        if len(third) == 1 and third[0] in views:
            warn_if_training_camera_moves(f, third[0], train_views)
        low_dim = sorted(f.low_dim_obs(f.demos[0]))
        digest = f.digest()  # the demos as they are now: a resumed training must have been on these
    check_views_exist(cfg.data, views, [*cameras, *train_views, *cfg.eval_views])
    if settings.get("seed") in (ROLLOUT_SEED + cfg.seed, VALIDATION_SEED + cfg.seed):
        raise ValueError(f"{cfg.data} was generated with seed={settings['seed']}, whose episodes are this policy's "
                         f"test or validation rollouts (seeds {ROLLOUT_SEED}+seed, {VALIDATION_SEED}+seed); generate "
                         f"the demos with another seed")
    home = home_camera(cameras) if cameras else train_views[0]
    # camera-randomised image training: the file's train_views fill the third-person camera in turn
    pooled = bool(cameras) and home != FIRST_PERSON and list(train_views) != [home]
    device, data = default_device(), cfg.data
    inputs, rollout_args = rollout_context(cfg, settings, keypoint_names, device, cfg.eval_views)
    camera_in, posed = rollout_args["camera_input"], cfg.camera_input != "none"
    core_kwargs, crop = None, None
    if cfg.obs == "image":
        core_kwargs, crop = image_backbone(cfg, settings["image_size"], keypoint_names, cfg.data)
    own_data = cfg.obs == "embedding" or bool(cameras and (POSE_MODALITY in inputs.images or pooled or posed))
    if own_data:  # what the policy reads, made below from the demos
        data = os.path.join(run_dir, "bc_data.hdf5" if cfg.obs == "embedding" else "policy_data.hdf5")
    batch_size = cfg.bc.batch_size or (16 if inputs.images else 100)  # robomimic's image and low-dim templates
    config = bc_config(data, inputs, cfg.bc.epochs, cfg.bc.steps_per_epoch, batch_size, cfg.seed,
                       cfg.bc.normalize_obs, core_kwargs, crop, cfg.bc.filter_key,
                       OmegaConf.to_container(cfg.bc.robomimic, resolve=True) if cfg.bc.get("robomimic") else {})
    if os.path.exists(run_dir) and cfg.overwrite:
        clear_run_dir(run_dir, POLICY_RUN_ENTRIES)
    os.makedirs(run_dir, exist_ok=True)
    # a run_dir holding another training is refused before its data file and config.yaml are rewritten
    resumable_state(config, run_dir, resume_key(cfg), digest)
    if cfg.obs == "embedding":
        embedded = os.path.join(run_dir, "embedded.hdf5")
        if os.path.exists(embedded):  # this run's own intermediate, left by a kill
            os.remove(embedded)
        # raw geometry: a live policy embeds one frame at a time
        embed_file(cfg.checkpoint, cfg.data, embedded, views=train_views, geometry="raw")
        pool_training_views(embedded, data, train_views, low_dim)
        os.remove(embedded)  # a copy of the demos' images; bc_data.hdf5 holds what the policy reads
    elif own_data:
        pose = POSE_MODALITY in inputs.images
        described = f"{cfg.camera_input}:{os.path.abspath(cfg.keypoint_detector)}" if cfg.keypoint_detector \
            else cfg.camera_input
        made_from = image_file_settings(cfg.data, cameras, home, train_views if pooled else (), pose, described,
                                        cfg.frame)
        if not policy_images_made_from(data, made_from):  # made once; a resumed run reuses it
            with DemoCameraPoses(camera_in, cfg.env.name, file_cameras) if posed else contextlib.nullcontext() as poses:
                write_policy_images(cfg.data, data, cameras, low_dim, pose, home, train_views if pooled else (),
                                    camera_poses=poses, camera_input=described, frame=cfg.frame)
                if poses is not None:  # measured against the demos' true cameras, before any training
                    print(f"camera_input={cfg.camera_input}: {poses.summary()} (against the true cameras)")
                    if not poses.reliable():
                        warnings.warn(f"camera_input={cfg.camera_input} gives the policy little of its camera: "
                                      f"{poses.summary()} over the training frames"
                                      + ("; the keypoint detector does not find the arm's keypoints well enough "
                                         "(benchmarks/camera_from_arm.py --detector measures it)"
                                         if cfg.camera_input == "paat" else ""), stacklevel=2)
    atomic_write_text(os.path.join(run_dir, "config.yaml"), OmegaConf.to_yaml(cfg, resolve=True))

    # camera-randomised training is validated from cameras drawn across its training sector (the ``train`` bin),
    # as it is tested, not from the one camera whose name it trains under; a policy on the embeddings of several
    # training cameras, from each of them, the rollouts shared out
    validation_views = ["train"] if pooled else list(dict.fromkeys(train_views)) if cfg.obs == "embedding" else [home]

    def validate(policy, epoch: int) -> float:
        total, count = cfg.validation.rollouts, len(validation_views)
        shares = [total // count + (i < total % count) for i in range(count)]
        successes = sum(run_rollouts(policy, view=view, count=share, seed=cfg.seed, video_dir=None, videos=0,
                                     base_seed=VALIDATION_SEED, **rollout_args).success_rate * share
                        for view, share in zip(validation_views, shares) if share)
        return successes / total

    record = train_bc(config, run_dir, extra={"checkpoint": cfg.checkpoint, "obs": cfg.obs, "cameras": cameras,
                                              "backbone": cfg.backbone if cameras else None},
                      validate=validate if cfg.validation.every else None, validate_every=cfg.validation.every,
                      resume_key=resume_key(cfg), demos_digest=digest)
    policy, saved = load_bc(os.path.join(run_dir, "policy.pt"))
    progress = os.path.join(run_dir, TEST_PROGRESS)
    asked = {"kept_epoch": saved["epoch"], "rollouts_per_view": cfg.rollouts, "horizon": cfg.horizon}
    done, seconds_before = read_progress(progress, asked)
    testing = time.time()

    def tested() -> float:  # wall-clock of the test rollouts, over every session that ran them
        return seconds_before + time.time() - testing

    def save(results: Dict[str, dict]) -> None:
        atomic_write_text(progress, json.dumps({**asked, "rollouts": results, "seconds": tested()}))

    results = test_rollouts(policy, cfg.eval_views, cfg.rollouts, cfg.seed, rollout_args,
                            os.path.join(run_dir, "videos"), cfg.videos, done=done, after_each=save,
                            workers=cfg.rollout_workers, policy_path=os.path.join(run_dir, "policy.pt"))
    atomic_write_text(os.path.join(run_dir, "rollouts.json"), json.dumps(
        {"rollouts": results, "train": record, "kept_epoch": saved["epoch"], "obs": cfg.obs, "keys": inputs.keys,
         "cameras": cameras, "backbone": cfg.backbone if cameras else None, "init": cfg.init if cameras else None,
         "camera_input": cfg.camera_input, "frame": cfg.frame,
         "horizon": cfg.horizon, "device": str(device),
         "threads": torch.get_num_threads(),  # CPU training is reproducible only at the same thread count
         "wall_seconds": {"train": record["seconds"], "test_rollouts": tested()}}, indent=2))
    if os.path.exists(progress):  # rollouts.json holds it all (no views: nothing was saved)
        os.remove(progress)
    plot_by_angle(cfg, results, os.path.join(run_dir, "success_by_angle.png"), run_dir)
    return results


def read_progress(path: str, asked: Dict) -> Tuple[Dict[str, dict], float]:
    """The test rollouts a killed run saved and the seconds they took, where they were made with ``asked``
    (kept epoch, rollouts per view, horizon); none otherwise."""
    if not os.path.exists(path):
        return {}, 0.0
    with open(path) as f:
        saved = json.load(f)
    differ = [k for k, v in asked.items() if saved.get(k) != v]
    if differ:
        print(f"{path} holds test rollouts of another {', '.join(differ)}: testing again")
        return {}, 0.0
    return saved["rollouts"], float(saved.get("seconds", 0.0))


def plot_by_angle(cfg: DictConfig, results: Dict[str, dict], path: str, title: str) -> None:
    """``success_by_angle.png`` when some of ``results`` are camera bins."""
    if angle_rates(results):
        label = f"{cfg.obs} {cfg.backbone if cfg.obs == 'image' else ''}".strip()
        if cfg.camera_input != "none":
            label += f" + camera ({cfg.camera_input})"
        if cfg.frame != "robot":
            label += f", {cfg.frame} frame"
        plot_success_by_angle({label: angle_rates(results)}, path, title=title)


def rollout_context(cfg: DictConfig, settings: dict, keypoint_names: Sequence[str], device,
                    eval_views: Sequence[str]) -> Tuple[PolicyInputs, dict]:
    """A policy run's inputs and ``run_rollouts``' arguments for it, from its config: the frozen encoder of
    ``obs=embedding``, the camera-pose input; ``eval_views`` are checked against its cameras."""
    cameras = list(cfg.cameras) if cfg.obs == "image" else []
    home = home_camera(cameras) if cameras else None
    check_camera_input(cfg.camera_input, cfg.keypoint_detector)
    check_frame(cfg.frame, cfg.camera_input)
    posed = cfg.camera_input != "none"
    if posed and (not cameras or home == FIRST_PERSON):
        raise ValueError(f"camera_input={cfg.camera_input} gives an image policy its third-person camera's pose; "
                         f"give obs=image with a third-person camera (e.g. cameras=[cam0]), or camera_input=none")
    inputs = policy_inputs(cfg.obs, cameras, cfg.backbone, camera_pose_of=home if posed else None)
    for view in eval_views if cameras else ():  # refused now, not after training
        camera_map(cameras, EVAL_VIEW if view in EVAL_BINS else view)
    if cfg.camera_input in ("arm", "paat") and not simulator_class(cfg.env.name).has_forward_kinematics():
        raise ValueError(f"camera_input={cfg.camera_input} solves the camera from the arm, and {cfg.env.name} has no "
                         f"arm forward kinematics (pick, lift and can have); use camera_input=extrinsics or none")
    camera_in = load_camera_input(cfg.camera_input, cfg.keypoint_detector, device)
    if camera_in is not None and camera_in.detector is not None:  # this env's keypoints; other sizes are resized
        check_encoder_fits(cfg.keypoint_detector, {"data": camera_in.detector.trained_on}, cfg.data,
                           settings["image_size"], keypoint_names, resize=True)
    encoder = None
    if cfg.obs == "embedding":
        if not cfg.checkpoint:
            raise ValueError("obs=embedding needs checkpoint=<alignment run>/checkpoints/best.pt")
        encoder, ckpt = load_encoder(cfg.checkpoint, device)
        check_encoder_fits(cfg.checkpoint, ckpt, cfg.data, settings["image_size"], keypoint_names)
    return inputs, dict(env_name=cfg.env.name, settings=settings, keys=inputs.keys, encoder=encoder,
                        embedding_key=EMBEDDING_KEY if encoder is not None else None, device=device, cameras=cameras,
                        horizon=cfg.horizon, camera_input=camera_in, frame=cfg.frame,
                        # only PAAB reads keypoints at deployment: a PAAT-only policy is rolled out without them
                        live_pose=cfg.obs == "image" and backbone_needs_keypoints(cfg.backbone, training=False))


def test_rollouts(policy, views: Sequence[str], count: int, seed: int, rollout_args: dict, video_dir: Optional[str],
                  videos: int, done: Optional[Dict[str, dict]] = None,
                  after_each: Optional[Callable[[Dict[str, dict]], None]] = None,
                  workers: int = 1, policy_path: Optional[str] = None) -> Dict[str, dict]:
    """``count`` seeded test rollouts from each of ``views`` (cameras or bins). ``done``: what an interrupted
    call saved: finished views are kept as they are, a view in progress (``{"partial": ...}``) continues from
    its next episode. ``after_each`` is given the results so far after every episode (to save them).
    ``workers`` > 1 rolls views out side by side, each worker loading the policy from ``policy_path``
    (``alignment.rollout_workers``): the same episodes as one process at this process's torch threads."""
    # a view left in progress and not asked for now is dropped: only finished views are kept as they are
    results = {v: r for v, r in (done or {}).items() if PARTIAL not in r or v in views}
    pixels = rollout_args["encoder"] is not None or bool(rollout_args["cameras"])
    todo = [v for v in views if v not in finished_views(results)]
    if workers > 1 and pixels and len(todo) > 1:
        rollouts_side_by_side(todo, count, seed, rollout_args, video_dir, videos, results, after_each, workers,
                              policy_path)
    for view in views:
        if view in results and PARTIAL not in results[view]:
            continue
        finished = finished_views(results)
        if not pixels and finished:  # no pixels reach the policy: the same episodes from every camera
            first = next(iter(finished))
            results[view] = {**finished[first], "same_as": first}
        else:
            partial = RolloutResult(**results[view][PARTIAL]) if view in results else None

            def save_episode(r: RolloutResult, view: str = view) -> None:
                results[view] = {PARTIAL: asdict(r)}
                after_each(results)

            r = run_rollouts(policy, view=view, count=count, seed=seed, progress=True, video_dir=video_dir,
                             videos=videos, done=partial, after_episode=save_episode if after_each else None,
                             **rollout_args)
            results[view] = view_summary(r)
        if after_each is not None:
            after_each(results)
    return results


def view_summary(r: RolloutResult) -> dict:
    """A view's finished test rollouts as saved, said in one line."""
    print(f"{r.view}: success {r.success_rate:.0%} over {len(r.successes)} rollouts")
    return {"success_rate": r.success_rate, "episodes": len(r.successes), "successes": r.successes,
            "steps": r.steps, "frames_encoded": r.frames_encoded, "episode_seeds": r.seeds,
            **({"cameras": r.cameras} if r.cameras else {})}


def rollouts_side_by_side(views: Sequence[str], count: int, seed: int, rollout_args: dict, video_dir: Optional[str],
                          videos: int, results: Dict[str, dict],
                          after_each: Optional[Callable[[Dict[str, dict]], None]], workers: int,
                          policy_path: Optional[str]) -> None:
    """``test_rollouts``' views rolled out in ``workers`` processes, ``results`` filled in (and saved through
    ``after_each``) as their episodes end."""
    from tqdm import tqdm

    if policy_path is None:
        raise ValueError("rollouts in several workers load the policy from its file: give policy_path")
    done = {v: RolloutResult(**results[v][PARTIAL]) for v in views if v in results}
    bar = tqdm(total=count * len(views), initial=sum(len(r.successes) for r in done.values()),
               desc=f"rollouts ({len(views)} views, {workers} workers)", unit="episode")

    def progress(view: str, r: RolloutResult) -> None:  # one call per episode
        bar.update()
        results[view] = {PARTIAL: asdict(r)}
        if after_each is not None:
            after_each(results)

    with bar:
        finished = rollouts_in_workers(policy_path, views, workers, done, progress, threads=torch.get_num_threads(),
                                       count=count, seed=seed, video_dir=video_dir, videos=videos, **rollout_args)
    for view, r in finished.items():
        results[view] = view_summary(r)
    if after_each is not None:
        after_each(results)


def finished_views(results: Dict[str, dict]) -> Dict[str, dict]:
    """The views of saved test results whose rollouts all ran (not one in progress)."""
    return {view: r for view, r in results.items() if PARTIAL not in r}


@hydra.main(config_path="pkg://configs", config_name="policy", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        run_policy(cfg)


if __name__ == "__main__":
    main()
