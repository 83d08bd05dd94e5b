"""The one training engine: PyTorch Lightning's ``Trainer`` set up for a run directory.

A task is a ``LightningModule`` that builds its model, turns a batch into a loss, and logs its
validation metrics under ``valid/...``. The engine does the rest: devices and DDP under
``torchrun``, ``checkpoints/{best,last}.pt`` (best by a named metric and direction), early
stopping, resume from ``last.pt``, TensorBoard, progress bars, and ``metrics.json`` (per-epoch
history and the best epoch). Checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.plugins import TorchCheckpointIO
from pytorch_lightning.strategies import DDPStrategy

from .runs import CHECKPOINT_FORMAT, atomic_write, atomic_write_text


@dataclass
class EngineConfig:
    run_dir: str
    epochs: int
    monitor: str  # e.g. "valid/seen/alignment_error"
    mode: str  # "min" or "max"
    patience: Optional[int] = None  # epochs without improvement before stopping; None: never stop early
    resume: bool = False
    grad_clip: Optional[float] = None
    notes: Optional[Dict[str, Any]] = None  # written into metrics.json, e.g. how validation was chosen


class RunCheckpoint(ModelCheckpoint):
    """``best.pt`` by the monitored metric and ``last.pt`` after every epoch, written atomically."""

    FILE_EXTENSION = ".pt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints land with an atomic rename, so a kill mid-write never leaves a broken best.pt/last.pt."""

    def save_checkpoint(self, checkpoint: Dict[str, Any], path, storage_options=None) -> None:
        atomic_write(str(path), lambda tmp: torch.save(checkpoint, tmp))


class History(Callback):
    """Per-epoch records and the best epoch, saved in checkpoints and written to ``metrics.json``."""

    def __init__(self, run_dir: str, monitor: str, mode: str, notes: Optional[Dict[str, Any]] = None) -> None:
        self.run_dir, self.monitor, self.mode, self.notes = run_dir, monitor, mode, dict(notes or {})
        self.records: List[Dict[str, float]] = []
        self.best: Dict[str, float] = {"epoch": -1}

    def on_train_epoch_start(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        self._losses: List[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, task: pl.LightningModule, outputs, batch, index) -> None:
        self._losses.append(float(outputs["loss"]))

    def on_validation_end(self, trainer: pl.Trainer, task: pl.LightningModule) -> None:
        # Runs before the checkpoint callbacks (Lightning orders those last), so last.pt holds this record.
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        losses = getattr(self, "_losses", [])
        record = {"epoch": trainer.current_epoch, "train/loss": sum(losses) / max(len(losses), 1),
                  **{k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("valid/")}}
        self.records.append(record)
        value = record[self.monitor]
        previous = self.best.get(self.monitor)
        improved = previous is None or (value < previous if self.mode == "min" else value > previous)
        if improved:
            self.best = {k: v for k, v in record.items() if k != "train/loss"}
        if trainer.is_global_zero:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch")
            print(f"epoch {record['epoch']}: {shown}" + ("  (best)" if improved else ""), flush=True)
            self.write(test=None)

    def write(self, test: Optional[Dict[str, Any]], **extra: Any) -> None:
        """metrics.json: the history, the best epoch, the test scores and any ``extra`` sections."""
        atomic_write_text(os.path.join(self.run_dir, "metrics.json"),
                          json.dumps({"history": self.records, "best": self.best, "test": test, **extra,
                                      **({"notes": self.notes} if self.notes else {})}, indent=2))

    def state_dict(self) -> Dict[str, Any]:
        return {"records": self.records, "best": self.best}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.records, self.best = list(state["records"]), dict(state["best"])


def distributed_layout() -> Dict[str, Any]:
    """Trainer arguments for this process: one device, or the ``torchrun`` world (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if world == 1:
        return {"accelerator": accelerator, "devices": 1, "strategy": "auto"}
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    # PAAB sees no pose token on some batches; its parameters then get no gradient on that rank.
    return {"accelerator": accelerator, "devices": local, "num_nodes": world // local,
            "strategy": DDPStrategy(find_unused_parameters=True)}


def quiet_lightning() -> None:
    """Lightning's banner lines and hints are not what a user of this toolkit needs to read."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*is deprecated.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")  # resume writes into it


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (and dataloader workers); call before the model is built."""
    pl.seed_everything(seed, workers=True, verbose=False)


def fit(task: pl.LightningModule, cfg: EngineConfig, train_loader, valid_loader,
        extra_callbacks: Sequence[Callback] = ()) -> History:
    """Train ``task``; returns the history (records and best epoch). ``best.pt``/``last.pt`` land in
    ``run_dir/checkpoints``; with ``resume`` the run continues from ``last.pt``."""
    quiet_lightning()
    ckpt_dir = os.path.join(cfg.run_dir, "checkpoints")
    last = os.path.join(ckpt_dir, f"last{RunCheckpoint.FILE_EXTENSION}")
    checkpoint = RunCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg.monitor, mode=cfg.mode,
                               save_last=True, save_top_k=1, enable_version_counter=False,
                               auto_insert_metric_name=False)
    history = History(cfg.run_dir, cfg.monitor, cfg.mode, cfg.notes)
    callbacks: List[Callback] = [checkpoint, history, TQDMProgressBar(leave=False), *extra_callbacks]
    if cfg.patience is not None:
        callbacks.append(EarlyStopping(monitor=cfg.monitor, mode=cfg.mode, patience=cfg.patience))
    trainer = pl.Trainer(
        max_epochs=cfg.epochs, callbacks=callbacks, default_root_dir=cfg.run_dir,
        logger=TensorBoardLogger(cfg.run_dir, name="tensorboard", version="", default_hp_metric=False),
        precision="bf16-mixed" if torch.cuda.is_available() else "32-true",
        gradient_clip_val=cfg.grad_clip, num_sanity_val_steps=0, enable_model_summary=False,
        use_distributed_sampler=False, log_every_n_steps=10, plugins=[AtomicCheckpointIO()],
        **distributed_layout(),
    )
    trainer.fit(task, train_loader, valid_loader, ckpt_path=last if cfg.resume else None, weights_only=True)
    return history


class PoseAwareTask(pl.LightningModule):
    """What every task shares: ``model`` (with ``config`` and PAAT's ``aux_loss``), its run config and
    data description, the logged training loss, and checkpoints that rebuild the model without any
    training code (``poseaware.runs.load_deployed``)."""

    def __init__(self, cfg, model: torch.nn.Module, data_info: Dict[str, Any]) -> None:
        super().__init__()
        self.cfg, self.model, self.data_info = cfg, model, data_info

    def total_loss(self, loss: torch.Tensor, aux_loss: Optional[torch.Tensor]) -> torch.Tensor:
        """The task's loss plus PAAT's auxiliary loss (already weighted by λ), both logged."""
        if aux_loss is not None:
            self.log("train/paat_loss", aux_loss.float(), on_step=True, on_epoch=False)
            loss = loss + aux_loss.float()
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        from omegaconf import OmegaConf

        checkpoint.update({"format": CHECKPOINT_FORMAT, "model_config": self.model.config,
                           "config": OmegaConf.to_container(self.cfg, resolve=True), "data": self.data_info})
