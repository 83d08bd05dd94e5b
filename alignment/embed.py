"""``python -m alignment.embed checkpoint=... input=<hdf5> out=<hdf5>``: embeddings for downstream policies.

Writes ``obs/<view>_embedding`` (T x D float32) for every demo and view into a copy of the
input (a robomimic-layout file); the input is never modified. PAAT and baseline encoders need
no keypoints; PAAB reads ``obs/<view>_keypoints``.
"""
import os
import shutil

import h5py
import hydra
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from envs.dataset_io import EpisodeFile

from .trainer import embed_video, load_deployed_encoder


def embed_file(checkpoint: str, input: str, out: str, views=None, progress: bool = True) -> int:
    if os.path.abspath(input) == os.path.abspath(out):
        raise ValueError("out must differ from input: embedding writes a new file")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoder, _ = load_deployed_encoder(checkpoint, device)
    tmp = f"{out}.tmp"
    written = 0
    with EpisodeFile(input) as src:
        views = list(views or src.views)
        if encoder.needs_keypoints_at_inference:
            lacking = [v for v in views if not src.has_keypoints(v)]
            if lacking:
                raise ValueError(f"PAAB embeddings need keypoints, but {input!r} has none for {lacking}")
        shutil.copyfile(input, tmp)
        try:
            with h5py.File(tmp, "a") as dst:
                for demo in tqdm(src.demos, desc="embed", unit="demo", disable=not progress):
                    for view in views:
                        kp = src.obs(demo, f"{view}_keypoints") if encoder.needs_keypoints_at_inference else None
                        emb = embed_video(encoder, src.obs(demo, f"{view}_image"), kp, device)
                        key = f"data/{demo}/obs/{view}_embedding"
                        if key in dst:
                            del dst[key]
                        dst.create_dataset(key, data=emb.astype("float32"))
                        written += 1
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return written


@hydra.main(config_path="pkg://configs", config_name="embed", version_base="1.3")
def main(cfg: DictConfig) -> None:
    n = embed_file(cfg.checkpoint, cfg.input, cfg.out, cfg.views)
    print(f"wrote {n} embedding arrays to {cfg.out}")


if __name__ == "__main__":
    main()
