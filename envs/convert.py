"""Convert demonstrations between the project's episode files and LeRobotDataset v3.0 folders::

    python -m envs.convert input=data/lift.hdf5 out=data/lift_lerobot to=lerobot fps=20
    python -m envs.convert input=data/lift_lerobot out=data/mine.hdf5 to=robomimic
"""
from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from .commands import one_line_errors
from .lerobot_export import export_lerobot
from .lerobot_import import import_lerobot
from .lerobot_video import VideoSettings

DIRECTIONS = ("lerobot", "robomimic")


def convert(cfg: DictConfig) -> None:
    """One conversion, as ``configs/convert.yaml`` describes it."""
    if cfg.to not in DIRECTIONS:
        raise ValueError(f"to={cfg.to!r}: choose lerobot (episode file -> LeRobot v3.0 folder) or robomimic "
                         f"(LeRobot v3.0 folder -> episode file)")
    if cfg.to == "lerobot":
        summary = export_lerobot(cfg.input, cfg.out, fps=cfg.fps, task=cfg.task,
                                 state_keys=None if cfg.state_keys is None else list(cfg.state_keys),
                                 views=None if cfg.views is None else list(cfg.views),
                                 video=VideoSettings(**OmegaConf.to_container(cfg.video)),
                                 overwrite=cfg.overwrite, progress=cfg.progress)
        print(f"wrote {summary['out']}: LeRobotDataset v3.0, {summary['episodes']} episodes, {summary['frames']} "
              f"frames at {summary['fps']} fps, cameras {', '.join(summary['views'])}, task {summary['task']!r}")
        return
    summary = import_lerobot(cfg.input, cfg.out, image_size=cfg.image_size, tolerance_s=cfg.tolerance_s,
                             overwrite=cfg.overwrite, progress=cfg.progress)
    print(f"wrote {summary['out']}: {summary['episodes']} demos, views {', '.join(summary['views'])}")
    if summary["skipped"]:
        print(f"not carried over (no place in the episode file): {', '.join(summary['skipped'])}")
    lacking = [v for v in summary["views"] if v not in summary["keypoint_views"]]
    if lacking:
        print(f"no keypoints for views {lacking}: alignment.train runs method=baseline on them; PAAB and PAAT need "
              f"annotation.<view>.keypoints features ((K, 2) float32 pixel x, y, NaN where unseen) in the LeRobot "
              f"dataset (README, 'LeRobot datasets')")


@hydra.main(config_path="pkg://configs", config_name="convert", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        convert(cfg)


if __name__ == "__main__":
    main()
