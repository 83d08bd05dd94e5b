"""The alignment task for the engine: a DeiT encoder trained with the multi-view TCN loss
(plus PAAT's auxiliary loss), validated by alignment error, and ``train(cfg)`` that runs it."""
from __future__ import annotations

import contextlib
import json
import math
import os
from typing import Any, Dict, List, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset, generation_settings
from envs.output_lock import exclusive_output
from poseaware import PoseAwareEncoder, needs_keypoints
from poseaware.config import constructor_kwargs, method_options
from poseaware.engine import EngineConfig, PoseAwareTask, fit, seed_everything
from poseaware.inputs import default_device
from poseaware.runs import barrier, check_run_dir, distributed, finish_distributed, prepare_run_dir

from .data import (Trajectories, ViewBatches, ViewSplit, augment, camera_views, data_fingerprint, image_size_of,
                   load_frames, load_states, split_views, to_model_input)
from .inference import embed_views, evaluate, format_table, load_encoder
from .losses import tcn_loss
from .metrics import mean_scores, score_trajectory
from .plots import plot_alignment
from .references import reference_scores
from .state_head import StateHead, state_statistics

MONITOR = "valid/seen/alignment_error"


def build_encoder(cfg: DictConfig, num_keypoints: Optional[int], img_size: int) -> PoseAwareEncoder:
    """The encoder from the ``model`` and ``method`` config groups; an option it does not take is an error."""
    options = {**OmegaConf.to_container(cfg.model, resolve=True), **method_options(cfg.method)}
    options["img_size"] = img_size
    options["num_keypoints"] = num_keypoints
    return PoseAwareEncoder(**constructor_kwargs(PoseAwareEncoder, options, "the model and method config"))


def _keep(item):
    return item


class AlignmentTask(PoseAwareTask):
    def __init__(self, cfg: DictConfig, encoder: PoseAwareEncoder, views: ViewSplit, data_info: Dict[str, Any]):
        super().__init__(cfg, encoder, data_info)
        self.views = views
        self.img_size = data_info["image_size"]
        self.augment_background = float(cfg.method.get("augment_background", 0.0))
        state = data_info.get("state")
        self.state_head = None if state is None else StateHead(encoder.embed_dim, state["mean"], state["std"])
        self._valid: List[Dict[str, float]] = []

    def training_step(self, batch: dict, index: int) -> torch.Tensor:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(batch["augment_seed"])
        views = [to_model_input(v, self.img_size, self.device) for v in batch["views"]]
        if cfg.train.augment or self.augment_background:  # train.augment=false keeps only the background one
            plain = {} if cfg.train.augment else {"min_scale": 1.0, "jitter": 0.0}
            views = [augment(v, gen, background=self.augment_background, **plain) for v in views]
        keypoints = None if views[0].keypoints is None else torch.cat([v.keypoints for v in views])
        masks = None if views[0].masks is None else torch.cat([v.masks for v in views])
        out = self.model(torch.cat([v.images for v in views]), keypoints, masks)
        t = torch.as_tensor(batch["times"], device=self.device)
        emb = out.embedding.float().reshape(len(views), len(t), -1)
        loss = tcn_loss(cfg.loss.name, emb, t, cfg.loss.window, cfg.loss.margin, cfg.loss.temperature,
                        cfg.loss.near_positives, cfg.loss.center_views,
                        torch.as_tensor(batch["episodes"], device=self.device))
        if self.state_head is not None:
            state_loss = self.state_head.loss(emb, torch.as_tensor(batch["states"], device=self.device))
            self.log("train/state_loss", state_loss, on_step=True, on_epoch=False)
            loss = loss + cfg.loss.state_weight * state_loss
        return self.total_loss(loss, out.aux_loss)

    def on_train_epoch_start(self) -> None:
        self.trainer.train_dataloader.dataset.epoch = self.current_epoch

    def validation_step(self, item, index: int) -> None:
        _, views = item
        embeddings = embed_views(self.model, views, self.device)
        self._valid.append(score_trajectory(embeddings, self.views.train))

    def on_validation_epoch_end(self) -> None:
        # Every rank scores the whole split, so the metric is identical on all of them.
        for key, value in mean_scores(self._valid).items():
            self.log(f"valid/{key}", value, prog_bar=key == "seen/alignment_error")
        self._valid = []

    def configure_optimizers(self):
        cfg = self.cfg
        opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optim.name]
        groups = [{"params": list(self.model.parameters())}]
        if self.state_head is not None:  # a linear read of standardised features wants a probe's rate
            groups.append({"params": list(self.state_head.parameters()), "lr": cfg.loss.state_lr})
        optimizer = opt_cls(groups, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        total = cfg.train.epochs * cfg.train.steps_per_epoch
        warmup = max(1, int(cfg.optim.warmup_fraction * total))

        def factor(step: int) -> float:
            decay = 0.5 * (1 + math.cos(math.pi * min(1.0, step / total))) if cfg.optim.cosine else 1.0
            return min(1.0, (step + 1) / warmup) * decay  # a Python float: checkpoints hold plain data

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def unfinished_default_dataset(cfg: DictConfig, path: str) -> Optional[int]:
    """Demos in ``path`` when it is the default dataset with fewer than its episodes (an interrupted
    generation); None for a complete default dataset or a file made otherwise."""
    d = cfg.default_data
    with EpisodeFile(path) as f:
        made, count = f.settings, len(f.demos)
    default = json.loads(json.dumps(generation_settings(cfg.env.name, d.image_size, d.num_views, seed=cfg.seed)))
    return count if made == default and count < d.episodes else None


def ensure_dataset(cfg: DictConfig, rank: int) -> str:
    """The dataset to train on: made (or, after an interrupted generation, completed) when it is the
    default one, and ``generate_if_missing`` allows it."""
    path = cfg.data
    d = cfg.default_data
    exists = os.path.exists(path)
    if not exists and cfg.env.name == "mocap":
        raise ValueError("env=mocap is the action-recognition set (a video folder); train on it with "
                         "`python -m recognition.train`, or choose env=pick|lift|can|minecraft here")
    if not exists and not cfg.generate_if_missing:
        raise FileNotFoundError(f"dataset {path!r} not found; generate it with "
                                f"`python -m envs.generate env={cfg.env.name} out={path}`")
    if rank == 0 and cfg.generate_if_missing:
        count = unfinished_default_dataset(cfg, path) if exists else 0
        if count is not None:
            print(f"dataset {path} holds {count} of the default {d.episodes} episodes (interrupted generation?): "
                  f"generating the missing ones" if exists else
                  f"dataset {path} not found: generating a small default dataset with envs.generate "
                  f"({d.episodes} episodes, {d.image_size} px)")
            generate_dataset(cfg.env.name, path, episodes=d.episodes, image_size=d.image_size,
                             num_views=d.num_views, seed=cfg.seed, num_workers=d.num_workers)
    barrier()  # every rank, whether or not it saw the file missing
    return path


def train(cfg: DictConfig) -> Dict[str, float]:
    """Train, validate every epoch, keep the best checkpoint, score the test split; returns test metrics.
    The run directory is locked for the whole run (rank 0 holds it): a second run into it is refused."""
    rank, _ = distributed()
    with exclusive_output(cfg.run_dir, "run_dir") if rank == 0 else contextlib.nullcontext():
        return _train(cfg, rank)


def _train(cfg: DictConfig, rank: int) -> Dict[str, float]:
    seed_everything(cfg.seed)
    config = OmegaConf.to_container(cfg, resolve=True)
    # A run dir that holds a run, or a resume with another config, is refused before the default dataset
    # is generated (minutes); the data's fingerprint is checked below, once the data exists.
    check_run_dir(cfg.run_dir, config, cfg.resume, cfg.overwrite)
    path = ensure_dataset(cfg, rank)
    with EpisodeFile(path) as f:
        all_views, keypoint_names, env_name = camera_views(f), f.keypoint_names, f.env_args.get("env_name")
    views = split_views(all_views, cfg.views.num_train, cfg.views.train, cfg.views.test)
    if cfg.train.episodes_per_batch == 1 and cfg.train.batch_frames < 2 * cfg.loss.window + 2:
        raise ValueError(f"train.batch_frames={cfg.train.batch_frames} leaves no negatives beyond the window "
                         f"({cfg.loss.window}); use at least {2 * cfg.loss.window + 2}, or "
                         f"train.episodes_per_batch > 1 (other demos' frames are negatives)")
    needs_kp = needs_keypoints(cfg.method.name, training=True, paab_tokens=cfg.method.get("paab_tokens", "keypoints"))
    img_size = cfg.model.img_size or image_size_of(path)
    if needs_kp and not keypoint_names:  # a file without keypoints (e.g. a LeRobot import): say what is missing
        Trajectories(path, "train", views.train, keypoints=True)
    encoder = build_encoder(cfg, len(keypoint_names) if needs_kp else None, img_size)
    augment_background = float(cfg.method.get("augment_background", 0.0)) > 0
    # Every split is checked (views, keypoints, masks, non-empty; the train split's state keys) before
    # anything is trained or written.
    read = dict(keypoints=needs_kp, masks=encoder.needs_masks_at_inference)
    valid = Trajectories(path, "valid", views.train + views.test, **read)
    Trajectories(path, "test", views.train + views.test, **read)
    state_keys = list(cfg.loss.get("state_keys") or [])
    states = load_states(path, "train", state_keys) if state_keys else None
    fingerprint = data_fingerprint(path)
    resume = prepare_run_dir(cfg.run_dir, config, OmegaConf.to_yaml(cfg, resolve=True), cfg.resume,
                             cfg.overwrite, rank, data=fingerprint)
    batches = ViewBatches(load_frames(path, "train", views.train, keypoints=needs_kp,
                                      masks=encoder.needs_masks_at_inference, foreground=augment_background),
                          views.train, cfg.train.views_per_batch, cfg.train.batch_frames,
                          cfg.train.steps_per_epoch, cfg.seed, rank, cfg.train.episodes_per_batch,
                          cfg.train.shared_times, states)
    data_info = {"path": os.path.abspath(path), "env_name": env_name, "image_size": img_size, "keypoint_names": keypoint_names,
                 "train_views": views.train, "test_views": views.test, "fingerprint": fingerprint}
    if states is not None:
        data_info["state"] = {"keys": state_keys, **state_statistics(states)}
    task = AlignmentTask(cfg, encoder, views, data_info)
    history = fit(task, EngineConfig(run_dir=cfg.run_dir, epochs=cfg.train.epochs, monitor=MONITOR, mode="min",
                                     patience=cfg.train.patience, resume=resume, grad_clip=cfg.optim.grad_clip),
                  DataLoader(batches, batch_size=None, shuffle=False, collate_fn=_keep),
                  DataLoader(valid, batch_size=None, shuffle=False, collate_fn=_keep))
    result: Dict[str, float] = {}
    if rank == 0:
        device = default_device()
        deployed, _ = load_encoder(os.path.join(cfg.run_dir, "checkpoints", "best.pt"), device)
        test_frames = load_frames(path, "test", views.train + views.test, **read)
        result = evaluate(deployed, test_frames, views.train, device)

        def random_encoder() -> PoseAwareEncoder:
            seed_everything(cfg.seed)
            return build_encoder(cfg, len(keypoint_names) if needs_kp else None, img_size)

        references = reference_scores(test_frames, views.train, random_encoder, device)
        history.write(test=result, references=references)
        plot_alignment(deployed, test_frames, views, device, os.path.join(cfg.run_dir, "plots"))
        print(f"\ntest split, {cfg.env.name}, method={cfg.method.label} (run dir {cfg.run_dir})")
        print(format_table(result))
        print("references (unseen third-person / first-person alignment error): " + ", ".join(
            f"{name} {scores.get('unseen/alignment_error', float('nan')):.3f} / "
            f"{scores.get('first_person/alignment_error', float('nan')):.3f}" for name, scores in references.items()))
    finish_distributed()
    return result
