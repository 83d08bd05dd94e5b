"""Training loop for view-invariant frame embeddings: TCN loss, PAAT aux loss, validation, resume, DDP."""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset
from poseaware import PoseAwareEncoder
from poseaware.runs import (atomic_torch_save, atomic_write_text, barrier, device_for_rank, distributed,
                            finish_distributed, load_deployed, prepare_run_dir, resume_training, rng_state,
                            seed_everything, tensorboard_writer)

from .data import Frames, augment, image_size_of, load_frames, sample_pair, split_views, to_model_input
from .losses import tcn_loss
from .metrics import score_trajectories

ENCODER_KEYS = ("preset", "depth", "patch_size", "pool", "proj_dim", "drop_path_rate", "paab_variant",
                "paab_after", "paab_count", "paab_dilation", "paat_after", "paat_bottleneck", "paat_lambda",
                "paat_target", "pretrained_path")


def ensure_dataset(cfg: DictConfig, rank: int) -> str:
    path = cfg.data
    if not os.path.exists(path):
        if not cfg.generate_if_missing:
            raise FileNotFoundError(f"dataset {path!r} not found; generate it with "
                                    f"`python -m envs.generate env={cfg.env.name} out={path}`")
        if rank == 0:
            d = cfg.default_data
            print(f"dataset {path} not found: generating a small default dataset with envs.generate "
                  f"({d.episodes} episodes, {d.image_size} px)")
            generate_dataset(cfg.env.name, path, episodes=d.episodes, image_size=d.image_size,
                             num_views=d.num_views, seed=cfg.seed, num_workers=d.num_workers)
    barrier()  # every rank, whether or not it saw the file missing
    return path


def build_encoder(cfg: DictConfig, num_keypoints: Optional[int], img_size: int) -> PoseAwareEncoder:
    model = OmegaConf.to_container(cfg.model, resolve=True)
    method = OmegaConf.to_container(cfg.method, resolve=True)
    kwargs = {k: v for k, v in {**model, **method}.items() if k in ENCODER_KEYS and v is not None}
    return PoseAwareEncoder(method=cfg.method.name, img_size=img_size, num_keypoints=num_keypoints, **kwargs)


@torch.no_grad()
def embed_video(encoder: PoseAwareEncoder, images: np.ndarray, keypoints: Optional[np.ndarray],
                device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Embed every frame of one view: uint8 ``(T,H,W,3)`` -> ``(T,D)`` float32."""
    encoder.eval()
    size = encoder.image_size[0]
    out = []
    for s in range(0, len(images), batch_size):
        kp = None if keypoints is None or not encoder.needs_keypoints_at_inference else keypoints[s:s + batch_size]
        x, k = to_model_input(images[s:s + batch_size], kp, size, device)
        out.append(encoder(x, k).embedding.float().cpu().numpy())
    return np.concatenate(out)


def evaluate(encoder: PoseAwareEncoder, frames: Frames, seen_views, device: torch.device) -> Dict[str, float]:
    embeddings = {demo: {v: embed_video(encoder, im, kp, device) for v, (im, kp) in views.items()}
                  for demo, views in frames.items()}
    return score_trajectories(embeddings, seen_views)


def checkpoint_payload(encoder, optimizer, scheduler, epoch, best, history, cfg, data_info) -> dict:
    return {
        "encoder_config": encoder.config, "state_dict": encoder.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "epoch": epoch, "best": best, "history": history, "rng": rng_state(),
        "config": OmegaConf.to_container(cfg, resolve=True), "data": data_info,
    }


def load_deployed_encoder(path: str, device: torch.device) -> Tuple[PoseAwareEncoder, dict]:
    """The encoder as deployed: PAAT heads dropped; needs keypoints only for PAAB."""
    return load_deployed(path, PoseAwareEncoder, "encoder_config", device)


def format_table(metrics: Dict[str, float]) -> str:
    rows = ["| views | alignment error | cycle error | Kendall tau |", "| --- | --- | --- | --- |"]
    for group in ("seen", "unseen"):
        if f"{group}/alignment_error" in metrics:
            rows.append(f"| {group} | {metrics[f'{group}/alignment_error']:.4f} | "
                        f"{metrics[f'{group}/cycle_error']:.4f} | {metrics[f'{group}/kendall_tau']:.4f} |")
    return "\n".join(rows)


def train(cfg: DictConfig) -> Dict[str, float]:
    """Train, validate every epoch, keep the best checkpoint, score the test split; returns test metrics."""
    rank, world = distributed()
    seed_everything(cfg.seed + rank)
    device = device_for_rank()
    path = ensure_dataset(cfg, rank)
    with EpisodeFile(path) as f:
        all_views, keypoint_names = f.views, f.keypoint_names
    views = split_views(all_views, cfg.views.num_train, cfg.views.train, cfg.views.test)
    if cfg.train.batch_frames < 2 * cfg.loss.window + 2:
        raise ValueError(f"train.batch_frames={cfg.train.batch_frames} leaves no negatives beyond the window "
                         f"({cfg.loss.window}); use at least {2 * cfg.loss.window + 2}")
    needs_kp = cfg.method.name != "baseline"
    img_size = cfg.model.img_size or image_size_of(path)
    train_frames = load_frames(path, "train", views.train, keypoints=needs_kp)
    # Only rank 0 validates; under torchrun the other ranks skip reading the valid split.
    valid_frames = load_frames(path, "valid", views.train + views.test, keypoints=needs_kp) if rank == 0 else {}
    encoder = build_encoder(cfg, len(keypoint_names) if needs_kp else None, img_size).to(device)
    model = DistributedDataParallel(encoder, find_unused_parameters=True) if world > 1 else encoder

    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optim.name]
    optimizer = opt_cls(encoder.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    total_steps = cfg.train.epochs * cfg.train.steps_per_epoch
    warmup = max(1, int(cfg.optim.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * (
        0.5 * (1 + np.cos(np.pi * min(1.0, s / total_steps))) if cfg.optim.cosine else 1.0))

    run_dir = cfg.run_dir
    ckpt_dir = prepare_run_dir(run_dir, OmegaConf.to_yaml(cfg, resolve=True), rank)
    data_info = {"path": os.path.abspath(path), "image_size": img_size, "keypoint_names": keypoint_names,
                 "train_views": views.train, "test_views": views.test}

    last = os.path.join(ckpt_dir, "last.pt")
    start_epoch, best, history = resume_training(
        last, encoder, optimizer, scheduler, {"epoch": -1, "valid/seen/alignment_error": float("inf")},
        cfg.resume, rank)
    tb = tensorboard_writer(run_dir, rank)
    use_amp = device.type == "cuda"
    for epoch in range(start_epoch, cfg.train.epochs):
        if epoch - best["epoch"] > cfg.train.patience and best["epoch"] >= 0:
            break
        rng = np.random.default_rng([cfg.seed, rank, epoch])
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        encoder.train()
        losses = []
        bar = tqdm(range(cfg.train.steps_per_epoch), desc=f"epoch {epoch}", disable=rank != 0, leave=False)
        for _ in bar:
            (im_a, kp_a), (im_b, kp_b), times = sample_pair(train_frames, views.train, cfg.train.batch_frames, rng)
            xa, ka = to_model_input(im_a, kp_a, img_size, device)
            xb, kb = to_model_input(im_b, kp_b, img_size, device)
            if cfg.train.augment:
                xa, ka = augment(xa, ka, gen)
                xb, kb = augment(xb, kb, gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = model(torch.cat([xa, xb]), None if ka is None else torch.cat([ka, kb]))
            emb = out.embedding.float()
            t = torch.as_tensor(times, device=device)
            loss = tcn_loss(cfg.loss.name, emb[:len(t)], emb[len(t):], t, cfg.loss.window, cfg.loss.margin,
                            cfg.loss.temperature, cfg.loss.near_positives, cfg.loss.center_views)
            if out.aux_loss is not None:
                loss = loss + out.aux_loss.float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if rank == 0:
            valid = {f"valid/{k}": v for k, v in evaluate(encoder, valid_frames, views.train, device).items()}
            record = {"epoch": epoch, "train/loss": float(np.mean(losses)), **valid}
            history.append(record)
            for k, v in record.items():
                if k != "epoch":
                    tb.add_scalar(k, v, epoch)
            improved = valid["valid/seen/alignment_error"] < best["valid/seen/alignment_error"]
            if improved:
                best = {"epoch": epoch, **valid}
            print(f"epoch {epoch}: loss {record['train/loss']:.4f}  valid seen AE "
                  f"{valid['valid/seen/alignment_error']:.4f}  unseen AE {valid['valid/unseen/alignment_error']:.4f}"
                  + ("  (best)" if improved else ""))
            payload = checkpoint_payload(encoder, optimizer, scheduler, epoch, best, history, cfg, data_info)
            if improved:
                atomic_torch_save(payload, os.path.join(ckpt_dir, "best.pt"))
            atomic_torch_save(payload, last)
            write_metrics(run_dir, history, best, None)
        barrier()

    result: Dict[str, float] = {}
    if rank == 0:
        tb.close()
        deployed, _ = load_deployed_encoder(os.path.join(ckpt_dir, "best.pt"), device)
        test_frames = load_frames(path, "test", views.train + views.test, keypoints=needs_kp)
        result = evaluate(deployed, test_frames, views.train, device)
        write_metrics(run_dir, history, best, result)
        from .plots import plot_alignment

        plot_alignment(deployed, test_frames, views, device, os.path.join(run_dir, "plots"))
        print(f"\ntest split, {cfg.env.name}, method={cfg.method.name} (run dir {run_dir})")
        print(format_table(result))
    finish_distributed()
    return result


def write_metrics(run_dir: str, history, best, test) -> None:
    atomic_write_text(os.path.join(run_dir, "metrics.json"),
                      json.dumps({"history": history, "best": best, "test": test}, indent=2))
