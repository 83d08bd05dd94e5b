"""The recognition task for the engine: the pose-aware TimeSformer trained with cross-entropy
(plus PAAT's auxiliary loss) and validated by the dataset's metric, and ``train(cfg)`` that runs it."""
from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, DistributedSampler

from envs.output_lock import exclusive_output
from poseaware import needs_keypoints
from poseaware.config import constructor_kwargs, method_options
from poseaware.engine import EngineConfig, PoseAwareTask, fit, seed_everything
from poseaware.runs import barrier, check_run_dir, distributed, finish_distributed, prepare_run_dir

from .clips import ClipDataset
from .datasets import DatasetSplit, check_split, load_split, splits_fingerprint
from .evaluate import evaluate_checkpoint
from .inference import VideoScores, clip_dataset, score
from .timesformer import PoseAwareTimeSformer

MONITOR = "valid/metric"


def ensure_data(cfg: DictConfig, rank: int) -> Optional[dict]:
    """The mocap set is made (or completed) on first use, unless ``data_root`` holds videos the generator
    did not make (then they are read as they are); real datasets must already be on disk. Returns the
    generator's settings where it made the set (part of the data's fingerprint), else None."""
    root = cfg.data_root
    if cfg.dataset.name == "mocap":
        from envs.mocap import MocapConfig, generate_mocap, made_by_generator, mocap_settings

        config = MocapConfig(**OmegaConf.to_container(cfg.dataset.generate))
        empty = not (os.path.isdir(root) and os.listdir(root))
        if not empty and made_by_generator(root) != mocap_settings(config):
            if rank == 0:
                print(f"{root} holds mocap-layout videos made otherwise (not by the generator with "
                      f"dataset.generate's settings): reading them as they are")
        elif rank == 0:
            made = generate_mocap(root, config)
            if made["videos"]:
                print(f"mocap set at {root}: rendered {made['videos']} missing videos (envs.generate env=mocap)")
        barrier()  # every rank waits for the set to be complete
        return made_by_generator(root)
    if not (os.path.isdir(root) and os.listdir(root)):
        raise FileNotFoundError(f"no {cfg.dataset.name} videos at data_root={root!r}; download the dataset "
                                f"yourself and point data_root at it (nothing is downloaded here)")
    return None


def build_model(cfg: DictConfig, split: DatasetSplit) -> PoseAwareTimeSformer:
    """The model from the ``model``, ``method`` and ``dataset`` config groups; an option it does not take
    is an error."""
    if cfg.method.get("augment_background"):
        raise ValueError(f"method={cfg.method.label} augments backgrounds with the robot masks of alignment data; "
                         f"recognition videos have none: choose baseline, paab, paat or paab+paat")
    options = {**OmegaConf.to_container(cfg.model, resolve=True), **method_options(cfg.method)}
    needs_kp = needs_keypoints(cfg.method.name, training=True)
    options.update(num_classes=len(split.classes), num_frames=cfg.dataset.num_frames, img_size=cfg.dataset.img_size,
                   num_keypoints=len(split.skeleton.joints) if needs_kp else None)
    return PoseAwareTimeSformer(**constructor_kwargs(PoseAwareTimeSformer, options, "the model and method config"))


class RecognitionTask(PoseAwareTask):
    def __init__(self, cfg: DictConfig, model: PoseAwareTimeSformer, valid: ClipDataset, data_info: Dict[str, Any]):
        super().__init__(cfg, model, data_info)
        self.valid = valid
        self.needs_kp = needs_keypoints(cfg.method.name, training=True)

    def training_step(self, batch: dict, index: int) -> torch.Tensor:
        out = self.model(batch["video"], batch["keypoints"] if self.needs_kp else None)
        return self.total_loss(F.cross_entropy(out.logits.float(), batch["label"]), out.aux_loss)

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        loader.dataset.set_epoch(self.current_epoch)
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        self._scores = VideoScores(self.valid)

    def validation_step(self, batch: dict, index: int) -> None:
        out = self.model(batch["video"], batch["keypoints"] if self.model.use_paab else None)
        self._scores.add(batch, out.logits, out.features)

    def on_validation_epoch_end(self) -> None:
        # Every rank scores the whole split, so the metric is identical on all of them.
        for key, value in score(self._scores.logits, self._scores.labels, self.valid.split).items():
            self.log(f"valid/{key}", value, prog_bar=key == "metric")

    def configure_optimizers(self):
        optim = self.cfg.optim
        optimizer = torch.optim.SGD(self.model.parameters(), lr=optim.lr, momentum=optim.momentum,
                                    weight_decay=optim.weight_decay)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(optim.milestones), gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def train(cfg: DictConfig) -> Dict[str, float]:
    """Train, validate every epoch, keep the best checkpoint, score the test split; returns test metrics.
    The run directory is locked for the whole run (rank 0 holds it): a second run into it is refused."""
    rank, world = distributed()
    with exclusive_output(cfg.run_dir, "run_dir") if rank == 0 else contextlib.nullcontext():
        return _train(cfg, rank, world)


def _train(cfg: DictConfig, rank: int, world: int) -> Dict[str, float]:
    seed_everything(cfg.seed)
    config = OmegaConf.to_container(cfg, resolve=True)
    # A run dir that holds a run, or a resume with another config, is refused before the mocap set is
    # rendered (minutes); the data's fingerprint is checked below, once the data exists.
    check_run_dir(cfg.run_dir, config, cfg.resume, cfg.overwrite)
    settings = ensure_data(cfg, rank)
    splits = {name: load_split(cfg.dataset.name, cfg.data_root, cfg.protocol, name, cfg.validation)
              for name in ("train", "valid", "test")}
    for split in splits.values():  # every split, the test split too, before anything is trained or written
        check_split(split)
    train_split, valid_split = splits["train"], splits["valid"]
    train_clips = clip_dataset(train_split, cfg.dataset, train=True, seed=cfg.seed)
    valid_clips = clip_dataset(valid_split, cfg.dataset, train=False, seed=cfg.seed)
    model = build_model(cfg, train_split)
    fingerprint = splits_fingerprint(cfg.data_root, splits, settings)
    resume = prepare_run_dir(cfg.run_dir, config, OmegaConf.to_yaml(cfg, resolve=True), cfg.resume,
                             cfg.overwrite, rank, data=fingerprint)
    sampler = DistributedSampler(train_clips, seed=cfg.seed) if world > 1 else None
    train_loader = DataLoader(train_clips, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=cfg.num_workers, drop_last=len(train_clips) > cfg.batch_size,
                              generator=torch.Generator().manual_seed(cfg.seed))
    valid_loader = DataLoader(valid_clips, batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    info = {"dataset": cfg.dataset.name, "protocol": cfg.protocol, "data_root": cfg.data_root,
            "classes": list(train_split.classes), "skeleton": train_split.skeleton.name,
            "validation": cfg.validation, "fingerprint": fingerprint}
    task = RecognitionTask(cfg, model, valid_clips, info)
    notes = {"validation": cfg.validation, "valid_videos": len(valid_split.records),
             "train_videos": len(train_split.records)}
    history = fit(task, EngineConfig(run_dir=cfg.run_dir, epochs=cfg.optim.epochs, monitor=MONITOR, mode="max",
                                     resume=resume, notes=notes), train_loader, valid_loader)
    result: Dict[str, float] = {}
    if rank == 0:
        result = evaluate_checkpoint(os.path.join(cfg.run_dir, "checkpoints", "best.pt"), out_dir=cfg.run_dir)
        history.write(test=result)
    finish_distributed()
    return result
