"""The policy's training file: one robomimic demo per (demo, training camera), low-dim only.

A policy trained on several cameras sees each demo once from each of them; its embedding input has one
name, ``embedding``, whichever camera made it, so the same policy runs from any camera at rollout. The
file holds what robomimic's ``SequenceDataset`` reads (``actions``, ``rewards``, ``dones``, ``obs``,
``next_obs``, ``num_samples``, ``env_args`` and the ``mask`` split keys, a demo's copies in its demo's
split); no images, so it stays small.
"""
from __future__ import annotations

from typing import Sequence

import h5py
import numpy as np

from envs.dataset_io import demo_index, obs_key
from poseaware.runs import atomic_write

EMBEDDING_KEY = "embedding"
COPIED = ("actions", "rewards", "dones")


def pool_training_views(embedded: str, out: str, views: Sequence[str], low_dim_keys: Sequence[str]) -> int:
    """Write ``out`` from ``embedded`` (an ``alignment.embed`` file with ``<view>_embedding`` for each of
    ``views``): demo ``demo_<i * len(views) + j>`` is demo ``i`` seen from ``views[j]``. Returns the number
    of demos written."""
    views = list(views)
    if not views:
        raise ValueError("a policy needs at least one training view")

    def write(tmp: str) -> int:
        with h5py.File(embedded, "r") as src, h5py.File(tmp, "w") as dst:
            data = dst.create_group("data")
            for key, value in src["data"].attrs.items():
                data.attrs[key] = value
            names = {}  # source demo -> its copies
            for i, demo in enumerate(sorted(src["data"], key=demo_index)):
                group = src["data"][demo]
                missing = [v for v in views if obs_key(v, EMBEDDING_KEY) not in group["obs"]]
                if missing:
                    raise ValueError(f"{embedded}: data/{demo} has no embeddings of {missing}")
                names[demo] = []
                for j, view in enumerate(views):
                    name = f"demo_{i * len(views) + j}"
                    copy = data.create_group(name)
                    copy.attrs["num_samples"] = group.attrs["num_samples"]
                    copy.attrs["source"] = f"{demo} from {view}"
                    for key in COPIED:
                        copy.create_dataset(key, data=group[key][()])
                    for part in ("obs", "next_obs"):
                        target = copy.create_group(part)
                        for key in low_dim_keys:
                            target.create_dataset(key, data=group[part][key][()])
                        target.create_dataset(EMBEDDING_KEY, data=group[part][obs_key(view, EMBEDDING_KEY)][()])
                    names[demo].append(name)
            for split, members in src.get("mask", {}).items():
                pooled = [n for m in members[()] for n in names.get(m.decode() if isinstance(m, bytes) else m, [])]
                dst.create_dataset(f"mask/{split}", data=np.array(pooled, dtype="S"))
            data.attrs["total"] = int(sum(data[n].attrs["num_samples"] for n in data))
            return len(data)

    count = []
    atomic_write(out, lambda tmp: count.append(write(tmp)))
    return count[0]
