"""Merge generation shards: ``python -m envs.merge out=data/lift.hdf5 inputs='data/lift.shard*.hdf5'``.

Every shard of the job array must be there and finished; ``partial=true`` merges what there is."""
from __future__ import annotations

import glob

import hydra
from omegaconf import DictConfig

from .commands import one_line_reports
from .dataset_io import merge_files


@hydra.main(config_path="pkg://configs", config_name="merge", version_base="1.3")
def main(cfg: DictConfig) -> None:
    patterns = [cfg.inputs] if isinstance(cfg.inputs, str) else list(cfg.inputs)
    paths = sorted({p for pattern in patterns for p in glob.glob(pattern)})
    with one_line_reports():  # an interrupted or refused merge writes nothing
        if not paths:
            raise FileNotFoundError(f"no shard files match {patterns}")
        count = merge_files(paths, cfg.out, partial=cfg.partial)
    print(f"merged {len(paths)} shards into {cfg.out}: {count} demos")


if __name__ == "__main__":
    main()
