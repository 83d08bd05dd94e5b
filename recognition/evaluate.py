"""``python -m recognition.evaluate checkpoint=... [data_root=...]``: mCA or top-1, a per-class table and a
confusion matrix.

The scores go to ``out`` (default: ``eval_<split>_<dataset>_<data folder's name>.json`` beside the checkpoint, so each
dataset has its own file) with the checkpoint, the dataset, protocol, folder and its fingerprint
(``recognition.datasets.splits_fingerprint``): the file says what it scored. The table and the matrix are
named after it. An existing file is replaced only with ``overwrite=true``.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Tuple

import hydra
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from envs.commands import one_line_errors  # noqa: E402
from poseaware.inputs import default_device  # noqa: E402
from envs.output_lock import claimed_output  # noqa: E402
from poseaware.runs import atomic_write_text  # noqa: E402

from .inference import clips_for, data_record, load_model, predict, score  # noqa: E402
from .metrics import confusion_matrix  # noqa: E402


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
                        out_dir: Optional[str] = None, batch_size: int = 4,
                        name: Optional[str] = None) -> Dict[str, float]:
    """Scores of ``checkpoint`` on ``split`` of its dataset (at ``data_root``, default where it trained); writes
    ``per_class_<name>.md`` and ``plots/confusion_<name>.png`` (``name`` defaults to the split) in ``out_dir``
    (default: beside the checkpoint)."""
    device = default_device()
    model, ckpt = load_model(checkpoint, device)
    out_dir = out_dir or os.path.dirname(os.path.abspath(checkpoint))
    return evaluate_model(model, ckpt, device, data_root, split, out_dir, batch_size, name)


def evaluate_model(model, ckpt: dict, device, data_root: Optional[str], split: str, out_dir: str,
                   batch_size: int = 4, name: Optional[str] = None) -> Dict[str, float]:
    """``evaluate_checkpoint`` for a model already loaded (``load_model``) with its checkpoint ``ckpt``."""
    data = ckpt["data"]
    clips = clips_for(ckpt, data["dataset"], data["protocol"], split, data_root)
    logits, _, labels = predict(model, clips, device, batch_size)
    result = score(logits, labels, clips.split)
    classes = list(clips.split.classes)
    matrix = confusion_matrix(labels, logits.argmax(1), len(classes))
    per_class = {c: float(matrix[i, i] / matrix[i].sum()) for i, c in enumerate(classes) if matrix[i].sum()}
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    name = name or split
    plot_confusion(matrix, classes, os.path.join(out_dir, "plots", f"confusion_{name}.png"))
    table = ["| class | accuracy |", "| --- | --- |"] + [f"| {c} | {a:.3f} |" for c, a in per_class.items()]
    atomic_write_text(os.path.join(out_dir, f"per_class_{name}.md"), "\n".join(table) + "\n")
    print(f"{data['dataset']} {data['protocol']} {split}: {clips.split.metric} {result['metric']:.4f} "
          f"(top-1 {result['top1']:.4f}, mCA {result['mca']:.4f})")
    print("\n".join(table))
    return {**result, "per_class": per_class}


def default_out(checkpoint: str, dataset: str, data_root: str, split: str) -> str:
    """``eval_<split>_<dataset>_<data folder's name>.json`` beside the checkpoint: one file per dataset scored."""
    folder = os.path.basename(os.path.abspath(data_root))
    return os.path.join(os.path.dirname(os.path.abspath(checkpoint)), f"eval_{split}_{dataset}_{folder}.json")


def evaluate_to_file(checkpoint: str, data_root: Optional[str] = None, split: str = "test",
                     out: Optional[str] = None, overwrite: bool = False) -> Tuple[str, Dict[str, float]]:
    """Score ``checkpoint`` and write the scores with the checkpoint, the data (dataset, protocol, folder, split)
    and its fingerprint to ``out`` (default: ``default_out``); the per-class table and the confusion matrix are
    named after ``out``. Returns ``(out, scores)``; an existing ``out`` is replaced only with ``overwrite``."""
    device = default_device()
    model, ckpt = load_model(checkpoint, device)  # refuses the other package's checkpoint by name
    data = ckpt["data"]
    root = data_root or data["data_root"]
    out = out or default_out(checkpoint, data["dataset"], root, split)
    with claimed_output(out, overwrite):  # before the evaluation, so a refused run costs only the load
        name = os.path.splitext(os.path.basename(out))[0].removeprefix("eval_")
        scores = evaluate_model(model, ckpt, device, root, split, os.path.dirname(os.path.abspath(out)), name=name)
        record = {"checkpoint": os.path.abspath(checkpoint),
                  **data_record(data, data["dataset"], data["protocol"], split, root), "scores": scores}
        atomic_write_text(out, json.dumps(record, indent=2))
    return out, scores


@hydra.main(config_path="pkg://configs", config_name="recognition_evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        out, _ = evaluate_to_file(cfg.checkpoint, cfg.data_root, cfg.split, cfg.out, cfg.overwrite)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
