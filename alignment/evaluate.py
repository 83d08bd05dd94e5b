"""``python -m alignment.evaluate checkpoint=runs/.../best.pt [data=...]``: print and write the metrics table.

The scores go to ``out`` (default: ``eval_<split>_<data file's stem>.json`` beside the checkpoint, so each
dataset has its own file), with the checkpoint, the data's path and its fingerprint
(``alignment.data.data_fingerprint``): the file says what it scored. An existing file is replaced only
with ``overwrite=true``.
"""
import json
import os
from typing import Dict, Optional, Tuple

import hydra
from omegaconf import DictConfig

from envs.commands import one_line_errors
from envs.dataset_io import EpisodeFile
from poseaware.inputs import default_device
from poseaware import PoseAwareEncoder
from envs.output_lock import claimed_output
from poseaware.runs import atomic_write_text, read_checkpoint_of

from .data import data_fingerprint, image_size_of, load_frames
from .inference import check_encoder_fits, evaluate, format_table, load_encoder


def evaluate_checkpoint(checkpoint: str, data: Optional[str] = None, split: str = "test") -> Dict[str, float]:
    """Alignment metrics of the deployed encoder on ``split`` of ``data`` (default: its training data).
    Data of another env is refused; frames of another size are resized, with a warning."""
    device = default_device()
    encoder, ckpt = load_encoder(checkpoint, device)
    info = ckpt["data"]
    views = info["train_views"] + info["test_views"]
    path = data or info["path"]
    with EpisodeFile(path) as f:
        keypoint_names = f.keypoint_names
    check_encoder_fits(checkpoint, ckpt, path, image_size_of(path), keypoint_names, resize=True)
    frames = load_frames(path, split, views, keypoints=encoder.needs_keypoints_at_inference,
                         masks=encoder.needs_masks_at_inference)
    return evaluate(encoder, frames, info["train_views"], device)


def default_out(checkpoint: str, data: str, split: str) -> str:
    """``eval_<split>_<data stem>.json`` beside the checkpoint: one file per dataset scored."""
    stem = os.path.splitext(os.path.basename(data))[0]
    return os.path.join(os.path.dirname(os.path.abspath(checkpoint)), f"eval_{split}_{stem}.json")


def evaluate_to_file(checkpoint: str, data: Optional[str] = None, split: str = "test", out: Optional[str] = None,
                     overwrite: bool = False) -> Tuple[str, Dict[str, float]]:
    """Score ``checkpoint`` on ``split`` of ``data`` and write the scores, the checkpoint, the data's path and
    its fingerprint to ``out`` (default: ``default_out``); returns ``(out, metrics)``. An existing ``out`` is
    replaced only with ``overwrite``."""
    data = data or read_checkpoint_of(checkpoint, PoseAwareEncoder)["data"]["path"]
    out = out or default_out(checkpoint, data, split)
    with claimed_output(out, overwrite):  # before the work, so a refused run costs nothing
        metrics = evaluate_checkpoint(checkpoint, data, split)
        record = {"checkpoint": os.path.abspath(checkpoint), "data": os.path.abspath(data), "split": split,
                  "fingerprint": data_fingerprint(data), "metrics": metrics}
        atomic_write_text(out, json.dumps(record, indent=2))
    return out, metrics


@hydra.main(config_path="pkg://configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        out, metrics = evaluate_to_file(cfg.checkpoint, cfg.data, cfg.split, cfg.out, cfg.overwrite)
        print(format_table(metrics))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
