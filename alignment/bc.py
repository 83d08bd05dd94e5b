"""Behaviour cloning on the project's files with robomimic itself: its BC config, ``algo_factory``,
``SequenceDataset`` (through ``train_utils``) and ``run_epoch``. Nothing of robomimic's algorithm is
re-implemented here; this module only chooses the observation keys and saves the result atomically.

(robomimic's ``scripts/train.py`` cannot be used as is: it builds rollout envs through
``robomimic.envs.env_robosuite``, which imports ``mujoco_py``. Rollouts run in ``alignment.rollout``.)
"""
from __future__ import annotations

import contextlib
import io
from typing import Dict, List, Sequence

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from poseaware.runs import atomic_write

from .policy_data import EMBEDDING_KEY

POLICY_FORMAT = "poseaware-bc-1"
PROPRIO_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
OBSERVATIONS = ("embedding", "state", "proprio")


def observation_keys(obs: str) -> List[str]:
    """The policy's low-dim inputs: proprioception, plus the object's pose (``state``, the upper bound)
    or a camera's embedding (``embedding``); ``proprio`` alone is the lower bound."""
    if obs not in OBSERVATIONS:
        raise ValueError(f"unknown policy observation {obs!r}; choose one of {', '.join(OBSERVATIONS)}")
    extra = {"embedding": [EMBEDDING_KEY], "state": ["object"], "proprio": []}[obs]
    return list(PROPRIO_KEYS) + extra


def bc_config(data: str, keys: Sequence[str], epochs: int, steps_per_epoch: int, batch_size: int, seed: int,
              normalize_obs: bool = False):
    """robomimic's default BC config, pointed at ``data`` with ``keys`` as low-dim observations;
    ``normalize_obs`` is robomimic's ``train.hdf5_normalize_obs`` (per-dimension mean and std over the
    training demos, applied in training and, through ``RolloutPolicy``, at rollout)."""
    from robomimic.config import config_factory

    config = config_factory("bc")
    with config.values_unlocked():
        config.train.data = data
        config.train.seed = seed
        config.train.num_epochs = epochs
        config.train.batch_size = batch_size
        config.train.hdf5_filter_key = "train"
        config.train.num_data_workers = 0
        config.train.hdf5_normalize_obs = normalize_obs
        config.experiment.validate = False
        config.experiment.epoch_every_n_steps = steps_per_epoch
        config.observation.modalities.obs.low_dim = list(keys)
        config.observation.modalities.obs.rgb = []
    return config


def train_bc(data: str, keys: Sequence[str], out: str, epochs: int = 50, steps_per_epoch: int = 100,
             batch_size: int = 100, seed: int = 0, progress: bool = True, extra: Dict = None,
             normalize_obs: bool = False) -> Dict[str, float]:
    """Train robomimic BC on ``data`` and save it to ``out`` (atomically); returns the last epoch's log."""
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.torch_utils as TorchUtils
    import robomimic.utils.train_utils as TrainUtils
    from robomimic.algo import algo_factory

    config = bc_config(data, keys, epochs, steps_per_epoch, batch_size, seed, normalize_obs)
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # robomimic prints its config and dataset summaries
        ObsUtils.initialize_obs_utils_with_config(config)
        shape_meta = FileUtils.get_shape_metadata_from_dataset(data, all_obs_keys=config.all_obs_keys)
        model = algo_factory(config.algo_name, config, obs_key_shapes=shape_meta["all_shapes"],
                             ac_dim=shape_meta["ac_dim"], device=TorchUtils.get_torch_device(try_to_use_cuda=True))
        trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=shape_meta["all_obs_keys"])
    if len(trainset) < batch_size:
        raise ValueError(f"the train split of {data!r} holds {len(trainset)} samples, fewer than one batch "
                         f"(bc.batch_size={batch_size}); generate more demos or lower bc.batch_size")
    loader = DataLoader(trainset, sampler=trainset.get_dataset_sampler(), batch_size=batch_size,
                        shuffle=trainset.get_dataset_sampler() is None, num_workers=0, drop_last=True)
    stats = trainset.get_obs_normalization_stats() if normalize_obs else None
    log: Dict[str, float] = {}
    for epoch in tqdm(range(1, epochs + 1), desc="bc", unit="epoch", disable=not progress):
        with contextlib.redirect_stdout(io.StringIO()):
            # robomimic 0.3.0's SequenceDataset already normalises what it returns; its scripts/train.py also
            # hands the stats to run_epoch, which normalises again (and, for BC, fails on the batch shape)
            log = TrainUtils.run_epoch(model, loader, epoch, num_steps=steps_per_epoch)
        model.on_epoch_end(epoch)
    shapes = {"ac_dim": int(shape_meta["ac_dim"]), "all_obs_keys": list(shape_meta["all_obs_keys"]),
              "all_shapes": {k: [int(d) for d in v] for k, v in shape_meta["all_shapes"].items()},
              "use_images": bool(shape_meta["use_images"])}
    saved = {"format": POLICY_FORMAT, "model": model.serialize(), "config": config.dump(),
             "shape_meta": shapes, "keys": list(keys), **(extra or {}),
             # tensors, so the file still loads with weights_only=True
             "obs_normalization": None if stats is None else
             {k: {s: torch.as_tensor(v[s]) for s in ("mean", "std")} for k, v in stats.items()}}
    atomic_write(out, lambda tmp: torch.save(saved, tmp))
    return {k: float(v) for k, v in log.items() if isinstance(v, (int, float))}


def load_bc(path: str):
    """A saved policy as robomimic's ``RolloutPolicy`` and the saved dict."""
    import json

    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.torch_utils as TorchUtils
    from robomimic.algo import RolloutPolicy, algo_factory
    from robomimic.config import config_factory

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)  # no code in the file runs
    except Exception as err:
        raise ValueError(f"{path!r} is not a policy saved by alignment.policy ({type(err).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path!r} is not a policy saved by alignment.policy")
    config = config_factory("bc", dic=json.loads(saved["config"]))
    with contextlib.redirect_stdout(io.StringIO()):
        ObsUtils.initialize_obs_utils_with_config(config)
        model = algo_factory(config.algo_name, config, obs_key_shapes=saved["shape_meta"]["all_shapes"],
                             ac_dim=saved["shape_meta"]["ac_dim"], device=TorchUtils.get_torch_device(True))
    model.deserialize(saved["model"])
    model.set_eval()
    stats = saved.get("obs_normalization")
    stats = None if stats is None else {k: {s: v[s].numpy() for s in ("mean", "std")} for k, v in stats.items()}
    return RolloutPolicy(model, obs_normalization_stats=stats), saved
