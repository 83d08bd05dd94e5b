"""``python -m recognition.evaluate checkpoint=...``: mCA or top-1, a per-class table and a confusion matrix."""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

import hydra
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from poseaware.inputs import default_device  # noqa: E402
from poseaware.runs import atomic_write_text  # noqa: E402

from .metrics import confusion_matrix  # noqa: E402
from .inference import clips_for, load_model, predict, score  # noqa: E402


def plot_confusion(matrix: np.ndarray, classes, path: str) -> None:
    norm = matrix / matrix.sum(1, keepdims=True).clip(1)
    size = max(4, 0.35 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_checkpoint(checkpoint: str, data_root: Optional[str] = None, split: str = "test",
                        out_dir: Optional[str] = None, batch_size: int = 4) -> Dict[str, float]:
    device = default_device()
    model, ckpt = load_model(checkpoint, device)
    data = ckpt["data"]
    clips = clips_for(ckpt, data["dataset"], data["protocol"], split, data_root)
    logits, _, labels = predict(model, clips, device, batch_size)
    result = score(logits, labels, clips.split)
    classes = list(clips.split.classes)
    matrix = confusion_matrix(labels, logits.argmax(1), len(classes))
    per_class = {c: float(matrix[i, i] / matrix[i].sum()) for i, c in enumerate(classes) if matrix[i].sum()}
    out_dir = out_dir or os.path.dirname(os.path.abspath(checkpoint))
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    plot_confusion(matrix, classes, os.path.join(out_dir, "plots", f"confusion_{split}.png"))
    table = ["| class | accuracy |", "| --- | --- |"] + [f"| {c} | {a:.3f} |" for c, a in per_class.items()]
    atomic_write_text(os.path.join(out_dir, f"per_class_{split}.md"), "\n".join(table) + "\n")
    print(f"{data['dataset']} {data['protocol']} {split}: {clips.split.metric} {result['metric']:.4f} "
          f"(top-1 {result['top1']:.4f}, mCA {result['mca']:.4f})")
    print("\n".join(table))
    return {**result, "per_class": per_class}


@hydra.main(config_path="pkg://configs", config_name="recognition_evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    result = evaluate_checkpoint(cfg.checkpoint, cfg.data_root, cfg.split)
    out = os.path.join(os.path.dirname(os.path.abspath(cfg.checkpoint)), f"eval_{cfg.split}.json")
    atomic_write_text(out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
