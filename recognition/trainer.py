"""Training and evaluation of the pose-aware TimeSformer on action datasets."""
from __future__ import annotations

import inspect
import json
import os
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from poseaware.runs import (atomic_torch_save, atomic_write_text, barrier, device_for_rank, distributed,
                            finish_distributed, load_deployed, prepare_run_dir, resume_training, rng_state,
                            seed_everything, tensorboard_writer)

from .clips import ClipDataset
from .datasets import DatasetSplit, load_split
from .metrics import mean_class_accuracy, top1_accuracy
from .timesformer import PoseAwareTimeSformer

MODEL_KEYS = set(inspect.signature(PoseAwareTimeSformer).parameters)


def ensure_data(cfg: DictConfig, rank: int) -> None:
    """The mocap set is made (or completed) on first use; real datasets must already be on disk."""
    root = cfg.data_root
    if cfg.dataset.name == "mocap":
        if rank == 0:
            from envs.mocap import MocapConfig, generate_mocap

            made = generate_mocap(root, MocapConfig(**OmegaConf.to_container(cfg.dataset.generate)))
            if made["videos"]:
                print(f"mocap set at {root}: rendered {made['videos']} missing videos (envs.generate env=mocap)")
        barrier()  # every rank waits for the set to be complete
        return
    if not (os.path.isdir(root) and os.listdir(root)):
        raise FileNotFoundError(f"no {cfg.dataset.name} videos at data_root={root!r}; download the dataset "
                                f"yourself and point data_root at it (nothing is downloaded here)")


def build_model(cfg: DictConfig, split: DatasetSplit) -> PoseAwareTimeSformer:
    options = {**OmegaConf.to_container(cfg.model, resolve=True), **OmegaConf.to_container(cfg.method, resolve=True)}
    kwargs = {k: v for k, v in options.items() if k in MODEL_KEYS and v is not None and k != "method"}
    needs_kp = cfg.method.name != "baseline"
    return PoseAwareTimeSformer(method=cfg.method.name, num_classes=len(split.classes),
                                num_frames=cfg.dataset.num_frames, img_size=cfg.dataset.img_size,
                                num_keypoints=len(split.skeleton.joints) if needs_kp else None, **kwargs)


def clip_dataset(records: DatasetSplit, dataset_cfg: Mapping, train: bool, seed: int = 0) -> ClipDataset:
    """Clips as the ``dataset`` config group describes them (a DictConfig or a checkpoint's dict)."""
    return ClipDataset(records, dataset_cfg["num_frames"], dataset_cfg["img_size"], train=train,
                       num_clips=dataset_cfg["test_clips"], seed=seed, sampling_rate=dataset_cfg["sampling_rate"])


def make_dataset(cfg: DictConfig, split: str, train: bool) -> Tuple[DatasetSplit, ClipDataset]:
    records = load_split(cfg.dataset.name, cfg.data_root, cfg.protocol, split)
    return records, clip_dataset(records, cfg.dataset, train, cfg.seed)


@torch.no_grad()
def predict(model: PoseAwareTimeSformer, clips: ClipDataset, device: torch.device, batch_size: int,
            workers: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-video logits and features, averaged over the test clips (ensembling), and labels."""
    model.eval()
    n = len(clips.split.records)
    logits = features = None
    labels = np.zeros(n, dtype=np.int64)
    loader = DataLoader(clips, batch_size=batch_size, num_workers=workers)
    for batch in loader:
        kp = batch["keypoints"].to(device) if model.use_paab else None
        out = model(batch["video"].to(device), kp)
        if logits is None:
            logits = np.zeros((n, out.logits.shape[1]), np.float64)
            features = np.zeros((n, out.features.shape[1]), np.float64)
        idx = batch["index"].numpy()
        np.add.at(logits, idx, out.logits.float().cpu().numpy() / clips.num_clips)
        np.add.at(features, idx, out.features.float().cpu().numpy() / clips.num_clips)
        labels[idx] = batch["label"].numpy()
    return logits, features, labels


def score(logits: np.ndarray, labels: np.ndarray, split: DatasetSplit) -> Dict[str, float]:
    pred = logits.argmax(1)
    result = {"top1": top1_accuracy(labels, pred), "mca": mean_class_accuracy(labels, pred, len(split.classes))}
    result["metric"] = result[split.metric]
    return result


def train(cfg: DictConfig) -> Dict[str, float]:
    rank, world = distributed()
    seed_everything(cfg.seed + rank)
    device = device_for_rank()
    ensure_data(cfg, rank)
    train_split, train_clips = make_dataset(cfg, "train", train=True)
    valid_split, valid_clips = make_dataset(cfg, "valid", train=False)
    model = build_model(cfg, train_split).to(device)
    if cfg.model.pretrained_path:
        model.load_pretrained(cfg.model.pretrained_path)
    wrapped = DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.optim.milestones), gamma=0.1)
    sampler = DistributedSampler(train_clips, seed=cfg.seed) if world > 1 else None
    loader = DataLoader(train_clips, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=cfg.num_workers, drop_last=len(train_clips) > cfg.batch_size,
                        generator=torch.Generator().manual_seed(cfg.seed))
    run_dir = cfg.run_dir
    ckpt_dir = prepare_run_dir(run_dir, OmegaConf.to_yaml(cfg, resolve=True), rank)
    last = os.path.join(ckpt_dir, "last.pt")
    start, best, history = resume_training(last, model, optimizer, scheduler, {"epoch": -1, "valid/metric": -1.0},
                                           cfg.resume, rank)
    tb = tensorboard_writer(run_dir, rank)
    info = {"dataset": cfg.dataset.name, "protocol": cfg.protocol, "data_root": cfg.data_root,
            "classes": list(train_split.classes), "skeleton": train_split.skeleton.name}
    for epoch in range(start, cfg.optim.epochs):
        model.train()
        train_clips.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        losses = []
        for batch in tqdm(loader, desc=f"epoch {epoch}", disable=rank != 0, leave=False):
            kp = batch["keypoints"].to(device) if cfg.method.name != "baseline" else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = wrapped(batch["video"].to(device), kp)
            loss = F.cross_entropy(out.logits.float(), batch["label"].to(device))
            if out.aux_loss is not None:
                loss = loss + out.aux_loss.float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        if rank == 0:
            logits, _, labels = predict(model, valid_clips, device, cfg.batch_size)
            valid = {f"valid/{k}": v for k, v in score(logits, labels, valid_split).items()}
            record = {"epoch": epoch, "train/loss": float(np.mean(losses)), **valid}
            history.append(record)
            for k, v in record.items():
                if k != "epoch":
                    tb.add_scalar(k, v, epoch)
            improved = valid["valid/metric"] > best["valid/metric"]
            if improved:
                best = {"epoch": epoch, **valid}
            print(f"epoch {epoch}: loss {record['train/loss']:.4f}  valid {valid_split.metric} "
                  f"{valid['valid/metric']:.4f}" + ("  (best)" if improved else ""))
            payload = {"model_config": model.config, "state_dict": model.state_dict(),
                       "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "epoch": epoch, "best": best, "history": history,
                       "rng": rng_state(), "config": OmegaConf.to_container(cfg, resolve=True), "data": info}
            if improved:
                atomic_torch_save(payload, os.path.join(ckpt_dir, "best.pt"))
            atomic_torch_save(payload, last)
            atomic_write_text(os.path.join(run_dir, "metrics.json"),
                              json.dumps({"history": history, "best": best, "test": None}, indent=2))
        barrier()
    result: Dict[str, float] = {}
    if rank == 0:
        tb.close()
        from .evaluate import evaluate_checkpoint

        result = evaluate_checkpoint(os.path.join(ckpt_dir, "best.pt"), out_dir=run_dir)
        atomic_write_text(os.path.join(run_dir, "metrics.json"),
                          json.dumps({"history": history, "best": best, "test": result}, indent=2))
    finish_distributed()
    return result


def load_checkpoint(path: str, device: torch.device) -> Tuple[PoseAwareTimeSformer, dict]:
    """The deployed model (PAAT head dropped) and the checkpoint's metadata."""
    return load_deployed(path, PoseAwareTimeSformer, "model_config", device)


def clips_for(ckpt: dict, dataset: str, protocol: str, split: str, data_root: Optional[str]) -> ClipDataset:
    """Test clips of any dataset split, sampled as the checkpoint's training config says."""
    records = load_split(dataset, data_root or ckpt["data"]["data_root"], protocol, split)
    return clip_dataset(records, ckpt["config"]["dataset"], train=False)
