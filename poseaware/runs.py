"""Run plumbing shared by the alignment and recognition trainers: seeds, atomic writes, torchrun."""
from __future__ import annotations

import os
import random
from typing import Tuple

import numpy as np
import torch
import torch.distributed as dist


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def atomic_torch_save(obj: dict, path: str) -> None:
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def prepare_run_dir(run_dir: str, config_yaml: str, rank: int) -> str:
    """Create ``run_dir/checkpoints`` and write the resolved config (rank 0); returns the checkpoint folder."""
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    if rank == 0:
        os.makedirs(ckpt_dir, exist_ok=True)
        atomic_write_text(os.path.join(run_dir, "config.yaml"), config_yaml)
    return ckpt_dir


def resume_training(path: str, model: torch.nn.Module, optimizer, scheduler, best: dict,
                    enabled: bool, rank: int) -> Tuple[int, dict, list]:
    """(first epoch, best, history) from ``path`` (a last.pt) when resuming, else a fresh start."""
    if not enabled or not os.path.exists(path):
        return 0, best, []
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    if rank == 0:
        print(f"resuming {os.path.dirname(os.path.dirname(path))} from epoch {ckpt['epoch'] + 1}")
    return ckpt["epoch"] + 1, ckpt["best"], ckpt["history"]


def tensorboard_writer(run_dir: str, rank: int):
    if rank != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(os.path.join(run_dir, "tensorboard"))


def load_deployed(path: str, model_cls: type, config_key: str, device: torch.device):
    """(deployed model, checkpoint): the trained model rebuilt from ``checkpoint[config_key]`` and
    exported (PAAT heads dropped) into ``model_cls(**model.export_config())``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    full = model_cls(**ckpt[config_key])
    full.load_state_dict(ckpt["state_dict"])
    deployed = model_cls(**full.export_config())
    deployed.load_state_dict(full.export())
    return deployed.to(device).eval(), ckpt


def distributed() -> Tuple[int, int]:
    """(rank, world size); joins the torchrun process group (gloo on CPU, nccl on GPU) when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def device_for_rank() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def finish_distributed() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
