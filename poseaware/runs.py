"""Run plumbing shared by the alignment and recognition tasks: the run directory, atomic writes,
checkpoint reading, and the ``torchrun`` process group used before the engine starts."""
from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any, Dict, Iterable, Mapping, Tuple

import torch
import torch.distributed as dist

CHECKPOINT_FORMAT = "poseaware-checkpoint/1"
# Settings a resumed run may change: how long it runs, and how it is launched.
RESUMABLE_CHANGES = ("resume", "overwrite", "train.epochs", "train.patience", "optim.epochs", "num_workers")


def atomic_write(path: str, write) -> None:
    """Call ``write(tmp_path)`` on a unique temp file beside ``path``, then rename it over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def flatten(config: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def config_differences(saved: Mapping[str, Any], asked: Mapping[str, Any],
                       allowed: Iterable[str] = RESUMABLE_CHANGES) -> Dict[str, Tuple[Any, Any]]:
    """Dotted keys whose values differ between two configs, except those a resumed run may change."""
    a, b = flatten(saved), flatten(asked)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k not in allowed}


def prepare_run_dir(run_dir: str, config: Mapping[str, Any], config_yaml: str, resume: bool,
                    overwrite: bool, rank: int = 0) -> bool:
    """Check the run directory before anything is written; returns whether to resume.

    A finished or started run is never overwritten silently: without ``resume`` or ``overwrite`` it is
    refused. A resumed run must have the checkpoint's config, apart from ``RESUMABLE_CHANGES``.
    """
    last = os.path.join(run_dir, "checkpoints", "last.pt")
    exists = os.path.exists(last)
    if exists and not resume and not overwrite:
        raise FileExistsError(f"{run_dir} already holds a run ({last}); continue it with resume=true, "
                              f"start it again with overwrite=true, or choose another run_dir")
    if resume and exists:
        differ = config_differences(read_checkpoint(last)["config"], config)
        if differ:
            detail = "; ".join(f"{k}: checkpoint {old!r}, asked {new!r}" for k, (old, new) in differ.items())
            raise ValueError(f"cannot resume {run_dir} with another config ({detail}); use the checkpoint's "
                             f"settings, or another run_dir")
    if resume and not exists and rank == 0:
        print(f"resume=true, but {last} does not exist: starting {run_dir} from scratch")
    if rank == 0:
        if overwrite and exists and not resume:
            for name in os.listdir(os.path.join(run_dir, "checkpoints")):
                os.remove(os.path.join(run_dir, "checkpoints", name))
        atomic_write_text(os.path.join(run_dir, "config.yaml"), config_yaml)
    return resume and exists


def read_checkpoint(path: str) -> Dict[str, Any]:
    """A checkpoint written by the engine, loaded with ``weights_only=True`` (no code runs from the file)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a poseaware checkpoint: {reason}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a poseaware checkpoint: it has no format entry {CHECKPOINT_FORMAT!r}")
    return ckpt


def load_deployed(path: str, model_cls: type, device: torch.device):
    """(deployed model, checkpoint): the trained model rebuilt from ``checkpoint["model_config"]`` and
    exported (PAAT heads dropped) into ``model_cls(**model.export_config())``."""
    ckpt = read_checkpoint(path)
    full = model_cls(**ckpt["model_config"])
    full.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()
                          if k.startswith("model.")})
    deployed = model_cls(**full.export_config())
    deployed.load_state_dict(full.export())
    return deployed.to(device).eval(), ckpt


def distributed() -> Tuple[int, int]:
    """(rank, world size); joins the torchrun process group (gloo on CPU, nccl on GPU) when launched by
    torchrun, so data can be prepared on rank 0 before the engine starts (the engine reuses the group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def finish_distributed() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
