"""Run plumbing shared by the alignment and recognition tasks: the run directory, atomic writes,
checkpoint and weight reading, and the ``torchrun`` process group used before the engine starts."""
from __future__ import annotations

import fnmatch
import hashlib
import inspect
import os
import pickle
import shutil
import tempfile
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

CHECKPOINT_FORMAT = "poseaware-checkpoint/1"
# Settings a resumed run may change: how long it runs, and how it is launched.
RESUMABLE_CHANGES = ("resume", "overwrite", "train.epochs", "train.patience", "optim.epochs", "num_workers")
# What a training run writes into its run directory (``.hydra``: runs made before Hydra's record moved out).
# what a run writes, including atomic_write's temp files that a killed run leaves behind
RUN_ENTRIES = ("config.yaml", "metrics.json", "checkpoints", "tensorboard", "plots", "per_class_*.md", ".hydra", ".*.tmp")


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


def file_sha256(path: str) -> str:
    """The file's SHA-256 (hex): which weights a score was made with, whatever the file's path."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def describe_differences(differ: Mapping[str, Tuple[Any, Any]], now: str = "asked", limit: int = 8) -> str:
    """``key: checkpoint X, asked Y`` for the first ``limit`` differences, then how many more."""
    shown = [f"{k}: checkpoint {old!r}, {now} {new!r}" for k, (old, new) in list(differ.items())[:limit]]
    more = len(differ) - limit
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def clear_run_dir(run_dir: str, entries: Sequence[str] = RUN_ENTRIES) -> None:
    """Remove a previous run's files, so nothing of it (TensorBoard events, plots) mixes with the new run.

    The directory is renamed aside first (atomic: the run is gone at once, never half-deleted), then deleted.
    A directory holding anything but ``entries`` (names or glob patterns of what a run writes) is refused
    rather than deleted, so a mistyped run_dir never costs the user's own files.
    """
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        return
    foreign = sorted(e for e in os.listdir(run_dir) if not any(fnmatch.fnmatch(e, p) for p in entries))
    if foreign:
        raise FileExistsError(f"{run_dir} holds files a run does not write ({', '.join(foreign[:5])}), so it is "
                              f"not cleared for a new run; choose another run_dir, or move those files")
    path = os.path.abspath(run_dir.rstrip(os.sep))
    parent, prefix = os.path.dirname(path), f".{os.path.basename(path)}.cleared-"
    aside = tempfile.mkdtemp(dir=parent, prefix=prefix)
    os.replace(path, os.path.join(aside, "run"))
    for name in os.listdir(parent):  # this one, and any a killed clear left (the caller holds the lock)
        if name.startswith(prefix):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def check_run_dir(run_dir: str, config: Mapping[str, Any], resume: bool, overwrite: bool,
                  data: Optional[Mapping[str, Any]] = None, report: bool = False) -> bool:
    """Whether to resume the run in ``run_dir``; writes nothing. A finished or started run is never overwritten
    silently: without ``resume`` or ``overwrite`` it is refused. A resumed run must have the checkpoint's config,
    apart from ``RESUMABLE_CHANGES``, and its data fingerprint (``data``: what the task read, see
    ``data_fingerprint`` of each package; None before the data exists, so a refusal costs no data generation).
    ``report`` prints what is unchecked or started afresh (one process of a DDP run)."""
    last = os.path.join(run_dir, "checkpoints", "last.pt")
    exists = os.path.exists(last)
    if exists and not resume and not overwrite:
        raise FileExistsError(f"{run_dir} already holds a run ({last}); continue it with resume=true, "
                              f"start it again with overwrite=true, or choose another run_dir")
    if resume and exists:
        saved = read_checkpoint(last)
        differ = config_differences(saved["config"], config)
        if differ:
            raise ValueError(f"cannot resume {run_dir} with another config ({describe_differences(differ)}); use "
                             f"the checkpoint's settings, or another run_dir")
        recorded = saved.get("data", {}).get("fingerprint")
        if data is not None and recorded is None and report:
            print(f"{last} records no fingerprint of its data (written before fingerprints were kept): "
                  f"resuming without checking that the data is unchanged")
        differ = config_differences(recorded, data, allowed=()) if data is not None and recorded is not None else {}
        if differ:
            raise ValueError(f"cannot resume {run_dir}: its data changed since the checkpoint "
                             f"({describe_differences(differ, now='now')}); train on the data it was trained on, "
                             f"or start again with overwrite=true or another run_dir")
    if resume and not exists and report:
        print(f"resume=true, but {last} does not exist: starting {run_dir} from scratch")
    return resume and exists


def prepare_run_dir(run_dir: str, config: Mapping[str, Any], config_yaml: str, resume: bool, overwrite: bool,
                    rank: int = 0, data: Optional[Mapping[str, Any]] = None) -> bool:
    """``check_run_dir``, then the run directory made ready (rank 0): a run that starts afresh starts in an
    empty directory (a previous run's files are cleared, ``clear_run_dir``) holding its ``config.yaml``.
    Returns whether to resume. The caller holds the run directory's lock, so no other run writes there
    meanwhile."""
    resuming = check_run_dir(run_dir, config, resume, overwrite, data, report=rank == 0)
    if rank == 0:
        if not resuming:
            clear_run_dir(run_dir)
        atomic_write_text(os.path.join(run_dir, "config.yaml"), config_yaml)
    return resuming


def load_tensors(path: str, what: str, fix: str) -> Any:
    """``torch.load(weights_only=True)``: tensors and plain containers only, so no code in the file runs.

    Anything else is refused in one line that names the file and ``fix``. Torch's own message is not
    quoted: it suggests ``weights_only=False``, the path that runs the file's code.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path!r}; {fix}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not {what}; {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols say nothing useful here
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as err:  # a file torch cannot read raises any of many types (KeyError, RuntimeError...)
        if isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err):
            reason = ("it holds Python objects besides tensors and plain containers, which are not loaded "
                      "because loading them could run code from the file")
        else:
            reason = ("it is not a file written by torch.save (unreadable, truncated, or another format such as "
                      "a plain pickle)")
    raise ValueError(f"{path} is not {what}: {reason}; {fix}")


def read_checkpoint(path: str) -> Dict[str, Any]:
    """A checkpoint written by the engine, loaded with ``weights_only=True`` (no code runs from the file)."""
    fix = "give a checkpoints/best.pt or last.pt written by alignment.train or recognition.train"
    ckpt = load_tensors(path, "a poseaware checkpoint", fix)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a poseaware checkpoint: it has no format entry {CHECKPOINT_FORMAT!r}; {fix}")
    return ckpt


def load_matching(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str,
                  backbone: Iterable[str], min_fraction: float = 0.5) -> Tuple[List[str], List[str]]:
    """Load the tensors of ``state`` whose names and shapes match ``module``'s, and print how many loaded.

    Returns the ``backbone`` tensor names that kept their initialisation, and the names of ``state`` that
    were not used. Weights that match fewer than ``min_fraction`` of the backbone's tensors are refused:
    otherwise a checkpoint of another model leaves the model at random initialisation without a word.
    """
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if torch.is_tensor(v) and k in own and own[k].shape == v.shape}
    backbone = list(backbone)
    loaded = [k for k in backbone if k in usable]
    if len(loaded) < max(1, min_fraction * len(backbone)):
        mismatched = sorted(k for k in state if k in own and torch.is_tensor(state[k]) and k not in usable)
        detail = f"{len(mismatched)} names match with other shapes (e.g. {mismatched[0]}); " if mismatched else ""
        raise ValueError(f"{path} matches {len(loaded)} of the backbone's {len(backbone)} tensors ({detail}"
                         f"e.g. it has {sorted(state)[:3]}, the model {backbone[:3]}): it is not weights of this "
                         f"model; give a checkpoint of the same architecture (preset), or none")
    module.load_state_dict(usable, strict=False)
    missing = [k for k in backbone if k not in usable]
    print(f"{path}: loaded {len(loaded)} of the backbone's {len(backbone)} tensors"
          + (f" ({len(missing)} keep their initialisation, e.g. {missing[:3]})" if missing else ""))
    return missing, [k for k in state if k not in usable]


def read_checkpoint_of(path: str, model_cls: type) -> Dict[str, Any]:
    """``read_checkpoint``, refusing the other package's checkpoint (alignment <-> recognition) by name."""
    ckpt = read_checkpoint(path)
    taken = inspect.signature(model_cls).parameters
    foreign = sorted(k for k in ckpt["model_config"] if k not in taken)
    if foreign:
        raise ValueError(f"{path} holds another kind of model than {model_cls.__name__} (its model config has "
                         f"{foreign}); alignment checkpoints go to alignment.evaluate/embed/policy, recognition "
                         f"checkpoints to recognition.evaluate/retrieve")
    return ckpt


def load_trained(path: str, model_cls: type):
    """(model as trained, PAAT heads included; checkpoint): rebuilt from ``checkpoint["model_config"]``,
    on the CPU, in training mode."""
    ckpt = read_checkpoint_of(path, model_cls)
    full = model_cls(**ckpt["model_config"])
    full.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()
                          if k.startswith("model.")})
    return full, ckpt


def load_deployed(path: str, model_cls: type, device: torch.device):
    """(deployed model, checkpoint): the trained model (``load_trained``) exported (PAAT heads dropped) into
    ``model_cls(**model.export_config())``."""
    full, ckpt = load_trained(path, model_cls)
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
