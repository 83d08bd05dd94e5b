"""``python -m alignment.evaluate checkpoint=runs/.../best.pt [data=...]``: print and write the metrics table."""
import json
import os
from typing import Dict, Optional

import hydra
from omegaconf import DictConfig

from poseaware.inputs import default_device
from poseaware.runs import atomic_write_text

from .data import image_size_of, load_frames
from .inference import evaluate, format_table, load_encoder, warn_if_resized


def evaluate_checkpoint(checkpoint: str, data: Optional[str] = None, split: str = "test") -> Dict[str, float]:
    device = default_device()
    encoder, ckpt = load_encoder(checkpoint, device)
    info = ckpt["data"]
    views = info["train_views"] + info["test_views"]
    path = data or info["path"]
    warn_if_resized(checkpoint, ckpt, path, image_size_of(path))
    frames = load_frames(path, split, views, keypoints=encoder.needs_keypoints_at_inference,
                         masks=encoder.needs_masks_at_inference)
    return evaluate(encoder, frames, info["train_views"], device)


@hydra.main(config_path="pkg://configs", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    metrics = evaluate_checkpoint(cfg.checkpoint, cfg.data, cfg.split)
    print(format_table(metrics))
    out = cfg.out or os.path.join(os.path.dirname(os.path.abspath(cfg.checkpoint)), f"eval_{cfg.split}.json")
    atomic_write_text(out, json.dumps(metrics, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
