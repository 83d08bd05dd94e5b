"""Behaviour cloning on the project's files with robomimic itself: its BC config, ``algo_factory``,
``SequenceDataset`` (through ``train_utils``), ``run_epoch`` and ``RolloutPolicy``. Nothing of robomimic's
algorithm is re-implemented here; this module chooses the observations and the vision backbone, keeps the
checkpoint that validation rollouts score best (as robomimic's ``scripts/train.py`` does), resumes an
interrupted run, and saves atomically.

Vision: robomimic's own ``VisualCore`` per camera, with its ``ResNet18Conv`` (``backbone=resnet18``, the
reference) or the project's DeiT with PAAB/PAAT (``alignment.backbone.PoseAwareViTConv``), pooled by
``SpatialSoftmax`` (``readout=tokens``) or read from CLS (``readout=cls``), with ``CropRandomizer``.
Backbones with PAAT train under ``pose_bc`` (``alignment.pose_bc``), which adds PAAT's loss to BC's.

(robomimic's ``scripts/train.py`` cannot be used as is: it builds rollout envs through
``robomimic.envs.env_robosuite``, which imports ``mujoco_py``. Rollouts run in ``alignment.rollout``.)
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from envs.dataset_io import obs_key
from poseaware.methods import check_method, needs_keypoints
from poseaware.runs import atomic_write, atomic_write_text

from . import backbone as _backbone  # registers PoseAwareViTConv and the pose_rgb modality with robomimic
from . import pose_bc
from .camera_input import camera_pose_key
from .policy_data import EMBEDDING_KEY
from .policy_plots import plot_training_curve

POLICY_FORMAT = "poseaware-bc-2"
PROPRIO_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
OBSERVATIONS = ("embedding", "state", "proprio", "image")
BACKBONES = ("resnet18", "baseline", "paab", "paat", "paab+paat")


@dataclass
class PolicyInputs:
    """What a policy reads: low-dim keys and, per robomimic modality, image keys (one per camera)."""

    low_dim: List[str]
    images: Dict[str, List[str]] = field(default_factory=dict)

    @property
    def keys(self) -> List[str]:
        return self.low_dim + [k for keys in self.images.values() for k in keys]


def backbone_needs_keypoints(backbone: str, training: bool = True) -> bool:
    """Whether the backbone reads keypoint channels: in training (PAAB and PAAT) or deployed (PAAB only)."""
    return backbone != "resnet18" and needs_keypoints(backbone, training)


def policy_inputs(obs: str, cameras: Sequence[str] = (), backbone: str = "resnet18",
                  camera_pose_of: Optional[str] = None) -> PolicyInputs:
    """Proprioception plus: the object's pose (``state``, the upper bound), a camera's frozen embedding
    (``embedding``), or the cameras' images (``image``: ``<camera>_image``, or ``<camera>_pose_image`` with
    keypoint channels for PAAB and PAAT); ``proprio`` alone is the lower bound. ``camera_pose_of``: an image
    policy's camera whose pose is also an input (``alignment.camera_input``)."""
    if obs not in OBSERVATIONS:
        raise ValueError(f"unknown policy observation {obs!r}; choose one of {', '.join(OBSERVATIONS)}")
    low_dim = list(PROPRIO_KEYS) + {"embedding": [EMBEDDING_KEY], "state": ["object"]}.get(obs, [])
    if camera_pose_of is not None:
        if obs != "image" or camera_pose_of not in cameras:
            raise ValueError(f"a camera pose input belongs to an image policy's camera; {camera_pose_of!r} is not "
                             f"one of cameras={list(cameras)} of obs={obs}")
        low_dim.append(camera_pose_key(camera_pose_of))
    if obs != "image":
        return PolicyInputs(low_dim)
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    if not cameras:
        raise ValueError("obs=image needs at least one camera (e.g. cameras=[cam0] or [cam0,first_person])")
    if backbone_needs_keypoints(backbone):
        return PolicyInputs(low_dim, {_backbone.POSE_MODALITY: [obs_key(c, _backbone.POSE_IMAGE) for c in cameras]})
    return PolicyInputs(low_dim, {"rgb": [obs_key(c, "image") for c in cameras]})


def default_crop(image_size: int, patch_size: Optional[int]) -> int:
    """robomimic's crop leaves 8 px of shift (84 -> 76); a ViT's crop is also a multiple of its patch."""
    crop = image_size - 8
    return crop - crop % patch_size if patch_size else crop


def vit_core_kwargs(encoder_config: Mapping, readout: str, init_checkpoint: Optional[str], freeze: bool) -> dict:
    """robomimic ``VisualCore`` kwargs for the project's DeiT: its patch-token map pooled by SpatialSoftmax
    (robomimic's default readout), or the CLS token (no pool), then robomimic's 64-d projection."""
    check_method(encoder_config["method"])
    return {"backbone_class": _backbone.PoseAwareViTConv.__name__,
            "backbone_kwargs": {"encoder_config": dict(encoder_config), "readout": readout,
                                "init_checkpoint": init_checkpoint, "freeze": freeze},
            "pool_class": "SpatialSoftmax" if readout == "tokens" else None,
            "pool_kwargs": {"num_kp": 32}, "feature_dimension": 64}


# robomimic config paths the policy's own options set (``*``: any one key): an override of them is refused, naming
# the option. The rest of an image encoder's config is open, e.g. SpatialSoftmax's keypoint count
# (observation.encoder.<modality>.core_kwargs.pool_kwargs.num_kp) or the feature dimension.
OWNED_PATHS = {"train.data": "data", "train.seed": "seed", "train.num_epochs": "bc.epochs",
               "train.batch_size": "bc.batch_size", "train.hdf5_filter_key": "bc.filter_key",
               "train.hdf5_normalize_obs": "bc.normalize_obs", "experiment.epoch_every_n_steps": "bc.steps_per_epoch",
               "observation.modalities": "obs, cameras and backbone",
               "observation.encoder.*.core_class": "backbone",
               "observation.encoder.*.core_kwargs.backbone_class": "backbone",
               "observation.encoder.*.core_kwargs.backbone_kwargs": "backbone, init, freeze and encoder",
               "observation.encoder.*.core_kwargs.pool_class": "readout",
               "observation.encoder.*.obs_randomizer_class": "crop",
               "observation.encoder.*.obs_randomizer_kwargs": "crop"}


def owner_of(path: str) -> Optional[str]:
    """The policy option that sets robomimic config ``path``, a path under it or one above it (which would
    replace it), if any."""
    keys = path.split(".")
    for owned, option in OWNED_PATHS.items():
        if all(p in ("*", k) for p, k in zip(owned.split("."), keys)):  # zip stops at the shorter: either side's prefix
            return option
    return None


def leaf_paths(values: Mapping, prefix: str = "") -> Dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: Dict[str, object] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(leaf_paths(value, path + "."))
        else:
            out[path] = value
    return out


def apply_robomimic_overrides(config, overrides: Mapping) -> None:
    """Set robomimic config values by their path (``bc.robomimic``: e.g. ``algo.gmm.enabled``), after the
    policy's own; a path robomimic's config lacks, or one the policy's options own, is refused."""
    for path, value in leaf_paths(overrides).items():
        owner = owner_of(path)
        if owner is not None:
            raise ValueError(f"bc.robomimic.{path} is set by the policy's own options ({owner}); give it there")
        keys = path.split(".")
        if keys[:2] == ["observation", "encoder"] and len(keys) > 2 and not config.observation.modalities.obs.get(keys[2]):
            used = [m for m, k in config.observation.modalities.obs.items() if k]
            raise ValueError(f"bc.robomimic.{path}: no observation of this policy is of modality {keys[2]!r}, so its "
                             f"encoder is unused; this policy's modalities are {', '.join(used)}")
        node = config
        for depth, key in enumerate(keys):
            if isinstance(node, Mapping) and key not in node and any(k.endswith("_kwargs") for k in keys[:depth]):
                # inside robomimic's keyword-argument dicts (core_kwargs, pool_kwargs ...) any name is an argument
                for outer in reversed(keys[depth + 1:]):
                    value = {outer: value}
                break
            if not isinstance(node, Mapping) or key not in node:
                where = ".".join(keys[:depth]) or "its top level"
                there = f"; its keys there: {', '.join(sorted(node))}" if isinstance(node, Mapping) else " (a value)"
                raise ValueError(f"bc.robomimic.{path}: robomimic's {config.algo_name} config has no {key!r} under "
                                 f"{where}{there}")
            if depth < len(keys) - 1:
                node = node[key]
        with config.values_unlocked():
            node[key] = value


def bc_config(data: str, inputs: PolicyInputs, epochs: int, steps_per_epoch: int, batch_size: int, seed: int,
              normalize_obs: bool = False, core_kwargs: Optional[dict] = None, crop: Optional[int] = None,
              filter_key: Optional[str] = "train", robomimic: Optional[Mapping] = None):
    """robomimic's default BC config, pointed at ``data`` with ``inputs``. Images get robomimic's
    ``VisualCore`` (its defaults, ResNet18 + SpatialSoftmax, unless ``core_kwargs`` say otherwise) and its
    ``CropRandomizer`` to ``crop`` px. ``normalize_obs`` is robomimic's ``train.hdf5_normalize_obs``;
    ``robomimic``: any other robomimic config values, by path (``apply_robomimic_overrides``)."""
    from robomimic.config import config_factory

    if normalize_obs and inputs.images:  # robomimic 0.3.0 would fail only after reading every frame
        raise ValueError(f"bc.normalize_obs=true normalises every observation, images too: robomimic 0.3.0 takes "
                         f"the image statistics channels-first but applies them to its frames channels-last, and "
                         f"fails ({', '.join(k for keys in inputs.images.values() for k in keys)}); leave "
                         f"bc.normalize_obs=false for image policies, as robomimic's image configs do")
    ours = bool(core_kwargs) and core_kwargs.get("backbone_class") == _backbone.PoseAwareViTConv.__name__
    algo = pose_bc.ALGO_NAME if ours else "bc"  # pose_bc adds the backbone's auxiliary (PAAT) loss
    config = config_factory(algo)
    with config.values_unlocked():
        config.train.data = data
        config.train.seed = seed
        config.train.num_epochs = epochs
        config.train.batch_size = batch_size
        config.train.hdf5_filter_key = filter_key
        config.train.num_data_workers = 0
        config.train.hdf5_normalize_obs = normalize_obs
        config.train.hdf5_load_next_obs = False  # BC never reads s'
        config.experiment.validate = False
        config.experiment.epoch_every_n_steps = steps_per_epoch
        config.observation.modalities.obs.low_dim = list(inputs.low_dim)
        config.observation.modalities.obs.rgb = list(inputs.images.get("rgb", []))
        if inputs.images:
            config.train.hdf5_cache_mode = "low_dim"  # robomimic's image setting: frames are read per batch
        if _backbone.POSE_MODALITY in inputs.images:
            config.observation.modalities.obs[_backbone.POSE_MODALITY] = list(inputs.images[_backbone.POSE_MODALITY])
        for modality in inputs.images:
            if modality not in config.observation.encoder:
                config.observation.encoder[modality] = copy.deepcopy(config.observation.encoder.rgb)
            encoder = config.observation.encoder[modality]
            for key, value in (core_kwargs or {}).items():
                encoder.core_kwargs[key] = value
            if crop:
                encoder.obs_randomizer_class = ("KeypointCropRandomizer" if modality == _backbone.POSE_MODALITY
                                                else "CropRandomizer")
                for key, value in {"crop_height": crop, "crop_width": crop, "num_crops": 1, "pos_enc": False}.items():
                    encoder.obs_randomizer_kwargs[key] = value
    apply_robomimic_overrides(config, robomimic or {})
    return config


def build_model(config, shape_meta: Mapping):
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.torch_utils as TorchUtils
    from robomimic.algo import algo_factory

    with contextlib.redirect_stdout(io.StringIO()):  # robomimic prints its config and model summaries
        ObsUtils.initialize_obs_utils_with_config(config)
        return algo_factory(config.algo_name, config, obs_key_shapes=shape_meta["all_shapes"],
                            ac_dim=shape_meta["ac_dim"], device=TorchUtils.get_torch_device(try_to_use_cuda=True))


def rollout_policy(model, stats):
    from robomimic.algo import RolloutPolicy

    return RolloutPolicy(model, obs_normalization_stats=stats)


def _stats_tensors(stats):
    # tensors, so the file still loads with weights_only=True
    return None if stats is None else {k: {s: torch.as_tensor(v[s]) for s in ("mean", "std")} for k, v in stats.items()}


def _stats_arrays(stats):
    return None if stats is None else {k: {s: v[s].numpy() for s in ("mean", "std")} for k, v in stats.items()}


def _training_state(model) -> dict:
    def states(things):
        return {k: ([o.state_dict() for o in v] if isinstance(v, list) else (v.state_dict() if v is not None else None))
                for k, v in things.items()}

    return {"model": model.serialize(), "optimizers": states(model.optimizers),
            "lr_schedulers": states(model.lr_schedulers), "torch_rng": torch.get_rng_state(),
            # dropout and random crops on a GPU draw from its own generators
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _restore_training_state(model, state: dict) -> None:
    def restore(things, saved):
        for k, v in things.items():
            if isinstance(v, list):
                for o, s in zip(v, saved[k]):
                    o.load_state_dict(s)
            elif v is not None:
                v.load_state_dict(saved[k])

    model.deserialize(state["model"])
    restore(model.optimizers, state["optimizers"])
    restore(model.lr_schedulers, state["lr_schedulers"])
    torch.set_rng_state(state["torch_rng"])  # batches and crops are drawn from torch's generator
    cuda_rng = state.get("cuda_rng", [])  # states saved before it was kept have none
    if cuda_rng and torch.cuda.is_available() and len(cuda_rng) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_rng)


Validator = Callable[[object, int], float]  # (RolloutPolicy, epoch) -> success rate
TRAINING_STATE = "training_state.pt"


def resumable_state(config, out_dir: str, resume_key: Optional[Mapping] = None,
                    demos_digest: Optional[str] = None) -> Optional[dict]:
    """The training state ``out_dir`` holds to resume (None where it holds none), refused where it was made with
    another config or other inputs, or on demos that have changed since (``demos_digest``, the demo file's
    ``EpisodeFile.digest``; states saved before it was kept are not checked for it): a caller checks it before it
    rewrites anything else in ``out_dir``."""
    state_path = os.path.join(out_dir, TRAINING_STATE)
    if not os.path.exists(state_path):
        return None
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    if state["config"] != config.dump() or state.get("resume_key") != _key_text(resume_key):
        raise ValueError(f"{out_dir} holds a policy training with another config or other inputs; run with "
                         f"overwrite=true to start again, or choose another run_dir")
    if None not in (state.get("demos_digest"), demos_digest) and state["demos_digest"] != demos_digest:
        raise ValueError(f"{out_dir} holds a policy training on demos that have changed since (made again with "
                         f"other settings or episodes); run with overwrite=true to train again on them, or choose "
                         f"another run_dir")
    return state


def _key_text(resume_key: Optional[Mapping]) -> str:
    return json.dumps(dict(resume_key or {}), sort_keys=True, default=str)


def constant_action_dims(data: str) -> List[int]:
    """The action dimensions that hold one value at every step of every demo in ``data`` (a scripted demo's
    rotation, say)."""
    import h5py

    with h5py.File(data, "r") as f:
        actions = np.concatenate([f[f"data/{demo}/actions"][()] for demo in f["data"]])
    return [i for i in range(actions.shape[1]) if np.all(actions[:, i] == actions[0, i])]


def warn_if_gmm_cannot_fit(gmm: bool, data: str) -> None:
    """robomimic's GMM head maximises a likelihood that has no bound on an action dimension that never changes
    (its std falls to ``min_std``): measured on the scripted Lift demos, whose rotations are all zero, it learnt
    a policy that ignores its observations (0%). Said before training, with the remedy."""
    dims = constant_action_dims(data) if gmm else []
    if dims:
        warnings.warn(f"robomimic's GMM head (algo.gmm.enabled) on demos whose action dimensions {dims} never change "
                      f"({data}): its likelihood grows without bound as their std shrinks, and on such demos it was "
                      f"measured to learn a policy that ignores its observations (benchmarks/RESULTS.md); train the "
                      f"default MLP head instead, or demos whose every action dimension varies", stacklevel=2)


def train_bc(config, out_dir: str, progress: bool = True, extra: Optional[Dict] = None,
             validate: Optional[Validator] = None, validate_every: int = 0,
             resume_key: Optional[Mapping] = None, demos_digest: Optional[str] = None) -> Dict[str, object]:
    """Train robomimic BC as ``config`` says and save ``<out_dir>/policy.pt`` (atomically).

    With ``validate``, every ``validate_every`` epochs (and at the last) the policy is rolled out and the
    best-scoring epoch's policy is kept, as robomimic's ``scripts/train.py`` does with its rollouts;
    without, the last epoch's. ``<out_dir>/training_state.pt`` (model, optimisers, RNG, epoch) is written
    after every epoch with the best policy so far, so calling again with the same config and ``resume_key``
    (what else decides the run: its data, encoder, validation, rollouts), on the same demos (``demos_digest``),
    resumes where it stopped. Returns the last epoch's log, every epoch's (``history``), the validation history,
    the kept epoch and ``seconds``, the wall-clock of every epoch run (in all sessions, where it resumed);
    ``training_curve.png`` plots the losses and the validation success."""
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils

    os.makedirs(out_dir, exist_ok=True)
    data, batch_size = config.train.data, config.train.batch_size
    warn_if_gmm_cannot_fit(config.algo.gmm.enabled, data)
    torch.manual_seed(config.train.seed)
    np.random.seed(config.train.seed)
    with contextlib.redirect_stdout(io.StringIO()):
        ObsUtils.initialize_obs_utils_with_config(config)  # the shapes depend on each key's modality
        shape_meta = FileUtils.get_shape_metadata_from_dataset(data, all_obs_keys=config.all_obs_keys)
    model = build_model(config, shape_meta)
    with contextlib.redirect_stdout(io.StringIO()):
        trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=shape_meta["all_obs_keys"])
    if len(trainset) < batch_size:
        raise ValueError(f"the policy's demos in {data!r} hold {len(trainset)} samples, fewer than one batch "
                         f"(bc.batch_size={batch_size}); generate more demos or lower bc.batch_size")
    loader = DataLoader(trainset, sampler=trainset.get_dataset_sampler(), batch_size=batch_size,
                        shuffle=trainset.get_dataset_sampler() is None, num_workers=0, drop_last=True)
    stats = trainset.get_obs_normalization_stats() if config.train.hdf5_normalize_obs else None
    shapes = {"ac_dim": int(shape_meta["ac_dim"]), "all_obs_keys": list(shape_meta["all_obs_keys"]),
              "all_shapes": {k: [int(d) for d in v] for k, v in shape_meta["all_shapes"].items()},
              "use_images": bool(shape_meta["use_images"])}
    config_json = config.dump()

    def policy_file(epoch: int) -> dict:
        weights = {k: v.detach().clone() for k, v in model.serialize().items()}  # a copy: training goes on
        return {"format": POLICY_FORMAT, "model": weights, "config": config_json, "shape_meta": shapes,
                "keys": list(shape_meta["all_obs_keys"]), "epoch": epoch, "obs_normalization": _stats_tensors(stats), **(extra or {})}

    state_path, policy_path = os.path.join(out_dir, TRAINING_STATE), os.path.join(out_dir, "policy.pt")
    progress_path = os.path.join(out_dir, "training.json")
    record = {"epoch": 0, "validation": [], "best": None, "log": {}, "history": [], "seconds": 0.0}
    key = _key_text(resume_key)
    best_policy: Optional[dict] = None  # the kept epoch's policy file, also in the state, so policy.pt follows it
    state = resumable_state(config, out_dir, resume_key, demos_digest)
    if state is not None:
        _restore_training_state(model, state)
        record, best_policy = json.loads(state["record"]), state.get("best_policy")
        record.setdefault("history", [])  # a run started before per-epoch losses were kept
        if best_policy is not None:  # a kill between the two writes cannot leave another epoch in policy.pt
            atomic_write(policy_path, lambda tmp: torch.save(best_policy, tmp))
    epochs = config.train.num_epochs
    validating = validate is not None and validate_every > 0
    bar = tqdm(range(record["epoch"] + 1, epochs + 1), desc="bc", unit="epoch", disable=not progress,
               initial=record["epoch"], total=epochs)
    for epoch in bar:
        epoch_started = time.time()
        with contextlib.redirect_stdout(io.StringIO()):
            # robomimic 0.3.0's SequenceDataset already normalises what it returns; its scripts/train.py also
            # hands the stats to run_epoch, which normalises again (and, for BC, fails on the batch shape)
            log = TrainUtils.run_epoch(model, loader, epoch, num_steps=config.experiment.epoch_every_n_steps)
        model.on_epoch_end(epoch)
        record["log"] = {k: float(v) for k, v in log.items() if isinstance(v, (int, float))}
        record["history"].append({"epoch": epoch, **record["log"]})
        if not validating:
            record["best"] = {"epoch": epoch, "success_rate": None}
            best_policy = policy_file(epoch)
        elif epoch % validate_every == 0 or epoch == epochs:
            rate = float(validate(rollout_policy(model, stats), epoch))
            record["validation"].append({"epoch": epoch, "success_rate": rate})
            if record["best"] is None or rate > record["best"]["success_rate"]:  # the first best, as robomimic
                record["best"] = {"epoch": epoch, "success_rate": rate}
                best_policy = policy_file(epoch)
            bar.set_postfix(val=f"{rate:.0%}", best=f"{record['best']['success_rate']:.0%}@{record['best']['epoch']}")
        record["epoch"] = epoch
        # wall-clock of training and validation, summed over every session that ran it
        record["seconds"] = record.get("seconds", 0.0) + time.time() - epoch_started
        atomic_write(state_path, lambda tmp: torch.save({**_training_state(model), "config": config_json,
                                                         "resume_key": key, "demos_digest": demos_digest,
                                                         "best_policy": best_policy, "record": json.dumps(record)},
                                                        tmp))
        if best_policy is not None and best_policy["epoch"] == epoch:
            atomic_write(policy_path, lambda tmp: torch.save(best_policy, tmp))
        atomic_write_text(progress_path, json.dumps(record, indent=2))
        if epoch == epochs or (validating and epoch % validate_every == 0):
            plot_training_curve(record["history"], record["validation"], os.path.join(out_dir, "training_curve.png"),
                                title=out_dir)
    return record


def batch_actions(policy, obs: Mapping[str, np.ndarray], batch: int = 64) -> np.ndarray:
    """The actions of a ``load_bc`` policy's network for ``(N, ...)`` raw observations (images as stored,
    uint8 HWC), ``batch`` at a time, without its rollout's per-step state: for looking at many frames at once."""
    import robomimic.utils.obs_utils as ObsUtils

    net, count, actions = policy.policy.nets["policy"], len(next(iter(obs.values()))), []
    for start in range(0, count, batch):
        raw = {k: torch.as_tensor(np.asarray(v[start:start + batch])) for k, v in obs.items()}
        part = ObsUtils.process_obs_dict(raw)
        with torch.no_grad():
            actions.append(net(obs_dict={k: v.float() for k, v in part.items()}).cpu().numpy())
    return np.concatenate(actions)


def load_bc(path: str):
    """A saved policy as robomimic's ``RolloutPolicy`` and the saved dict. The backbone's weights come from
    the file: an ``alignment.train`` checkpoint it was fine-tuned from is not needed any more."""
    from robomimic.config import config_factory

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # no code in the file runs
    except Exception as err:
        raise ValueError(f"{path!r} is not a policy saved by alignment.policy ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path!r} is not a policy saved by this version of alignment.policy (format "
                         f"{saved.get('format') if isinstance(saved, dict) else None!r}, expected {POLICY_FORMAT!r}); "
                         f"train it again")
    config = json.loads(saved["config"])
    for encoder in config["observation"]["encoder"].values():
        kwargs = (encoder.get("core_kwargs") or {}).get("backbone_kwargs") or {}
        if "init_checkpoint" in kwargs:
            kwargs["init_checkpoint"] = None  # the file holds the fine-tuned weights
    config = config_factory(config["algo_name"], dic=config)
    model = build_model(config, saved["shape_meta"])
    model.deserialize(saved["model"])
    model.set_eval()
    return rollout_policy(model, _stats_arrays(saved.get("obs_normalization"))), saved
