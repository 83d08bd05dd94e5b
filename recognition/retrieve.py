"""``python -m recognition.retrieve checkpoint=... gallery.dataset=nucla query.dataset=nucla ...``

Recall@k with cosine distance on frozen (final-norm CLS) features; gallery and queries may come
from datasets other than the one the checkpoint was trained on. A hit is a gallery video whose
class name equals the query's.
"""
from __future__ import annotations

import json
import os
from typing import Dict

import hydra
from omegaconf import DictConfig

from poseaware.inputs import default_device
from poseaware.runs import atomic_write_text

from .metrics import recall_at_k
from .inference import clips_for, load_model, predict


def features_of(model, ckpt, spec: Dict, device):
    clips = clips_for(ckpt, spec["dataset"], spec["protocol"], spec["split"], spec.get("data_root"))
    _, features, labels = predict(model, clips, device, batch_size=4)
    names = [clips.split.classes[i] for i in labels]
    return features, names


def retrieve(checkpoint: str, gallery: Dict, query: Dict) -> Dict[str, float]:
    device = default_device()
    model, ckpt = load_model(checkpoint, device)
    g_feat, g_names = features_of(model, ckpt, gallery, device)
    q_feat, q_names = features_of(model, ckpt, query, device)
    if not set(q_names) & set(g_names):
        raise ValueError("no query class occurs in the gallery; retrieval needs shared class names")
    return recall_at_k(q_feat, q_names, g_feat, g_names)


@hydra.main(config_path="pkg://configs", config_name="recognition_retrieve", version_base="1.3")
def main(cfg: DictConfig) -> None:
    result = retrieve(cfg.checkpoint, dict(cfg.gallery), dict(cfg.query))
    print("  ".join(f"{k} {v:.4f}" for k, v in result.items()))
    out = os.path.join(os.path.dirname(os.path.abspath(cfg.checkpoint)), "retrieval.json")
    atomic_write_text(out, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
