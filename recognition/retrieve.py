"""``python -m recognition.retrieve checkpoint=... gallery.dataset=nucla query.dataset=nucla ...``

Recall@k with cosine distance on frozen (final-norm CLS) features; gallery and queries may come
from datasets other than the one the checkpoint was trained on. A hit is a gallery video whose
class name equals the query's.

The recalls go to ``out`` (default: ``retrieval_<gallery>_to_<query>.json`` beside the checkpoint, each side
named ``<dataset>-<protocol>-<split>``) with the checkpoint and both sides' data and fingerprints. An existing
file is replaced only with ``overwrite=true``.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional, Tuple

import hydra
from omegaconf import DictConfig

from envs.commands import one_line_errors
from poseaware.inputs import default_device
from envs.output_lock import claimed_output
from poseaware.runs import atomic_write_text

from .inference import clips_for, data_record, load_model, predict
from .metrics import recall_at_k


def features_of(model, ckpt, spec: Dict, device):
    clips = clips_for(ckpt, spec["dataset"], spec["protocol"], spec["split"], spec.get("data_root"))
    _, features, labels = predict(model, clips, device, batch_size=4)
    names = [clips.split.classes[i] for i in labels]
    return features, names


def retrieve(checkpoint: str, gallery: Dict, query: Dict) -> Dict[str, float]:
    """Recall@k of ``query`` videos in the ``gallery`` (each ``{dataset, protocol, split, data_root}``)."""
    device = default_device()
    return retrieve_with(*load_model(checkpoint, device), device, gallery, query)


def retrieve_with(model, ckpt: dict, device, gallery: Dict, query: Dict) -> Dict[str, float]:
    """``retrieve`` for a model already loaded (``load_model``) with its checkpoint ``ckpt``."""
    g_feat, g_names = features_of(model, ckpt, gallery, device)
    q_feat, q_names = features_of(model, ckpt, query, device)
    if not set(q_names) & set(g_names):
        raise ValueError("no query class occurs in the gallery; retrieval needs shared class names")
    return recall_at_k(q_feat, q_names, g_feat, g_names)


def side_name(spec: Dict) -> str:
    return f"{spec['dataset']}-{spec['protocol']}-{spec['split']}"


def default_out(checkpoint: str, gallery: Dict, query: Dict) -> str:
    """``retrieval_<gallery>_to_<query>.json`` beside the checkpoint (each side ``<dataset>-<protocol>-<split>``)."""
    return os.path.join(os.path.dirname(os.path.abspath(checkpoint)),
                        f"retrieval_{side_name(gallery)}_to_{side_name(query)}.json")


def retrieve_to_file(checkpoint: str, gallery: Dict, query: Dict, out: Optional[str] = None,
                     overwrite: bool = False) -> Tuple[str, Dict[str, float]]:
    """Retrieve and write the recalls with the checkpoint and both sides (with fingerprints) to ``out``
    (default: ``default_out``); an existing ``out`` is replaced only with ``overwrite``."""
    out = out or default_out(checkpoint, gallery, query)
    with claimed_output(out, overwrite):  # before the work, so a refused run costs nothing
        device = default_device()
        model, ckpt = load_model(checkpoint, device)
        recalls = retrieve_with(model, ckpt, device, gallery, query)
        data = ckpt["data"]
        sides = {name: data_record(data, spec["dataset"], spec["protocol"], spec["split"], spec.get("data_root"))
                 for name, spec in (("gallery", gallery), ("query", query))}
        record = {"checkpoint": os.path.abspath(checkpoint), **sides, "recalls": recalls}
        atomic_write_text(out, json.dumps(record, indent=2))
    return out, recalls


@hydra.main(config_path="pkg://configs", config_name="recognition_retrieve", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        out, recalls = retrieve_to_file(cfg.checkpoint, dict(cfg.gallery), dict(cfg.query), cfg.out, cfg.overwrite)
        print("  ".join(f"{k} {v:.4f}" for k, v in recalls.items()))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
