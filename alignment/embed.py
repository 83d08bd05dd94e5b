"""``python -m alignment.embed checkpoint=... input=<hdf5> out=<hdf5>``: embeddings for downstream policies.

Writes ``obs/<view>_embedding`` (T x D float32) for every demo and view into a copy of the
input (a robomimic-layout file); the input is never modified. The file attribute ``embedding``
records the checkpoint, its method and image size, the views and the geometry. PAAT and baseline
encoders need no keypoints; PAAB reads ``obs/<view>_keypoints`` (or ``obs/<view>_robot_mask`` with
``paab_tokens=mask``).

``geometry=centred`` (default) writes what the alignment metric scores: each video's mean subtracted,
each frame L2-normalised (``alignment.metrics``). It needs the whole video, so a policy that embeds one
live frame at a time should be trained on ``geometry=raw``, the encoder's output for that frame alone.
"""
import os
from typing import Optional, Sequence

import hydra
from omegaconf import DictConfig
from tqdm import tqdm

from envs.commands import one_line_errors
from envs.dataset_io import EpisodeFile, ObservationWriter, obs_key
from envs.output_lock import claimed_output
from poseaware.inputs import default_device

from .data import ViewFrames, image_size_of
from .inference import check_encoder_fits, embed_video, load_encoder
from .metrics import GEOMETRIES, to_geometry


def embed_file(checkpoint: str, input: str, out: str, views: Optional[Sequence[str]] = None,
               geometry: str = "centred", progress: bool = True, overwrite: bool = False) -> int:
    """Write every demo's embeddings of ``views`` into a copy of ``input`` at ``out``; returns how many
    arrays were written. An existing ``out`` is replaced only with ``overwrite``; ``out`` is locked for the
    whole run, so a second writer is refused at once."""
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; choose one of {', '.join(GEOMETRIES)}")
    with claimed_output(out, overwrite, "out"):
        return _embed(checkpoint, input, out, views, geometry, progress)


def _embed(checkpoint: str, input: str, out: str, views: Optional[Sequence[str]], geometry: str,
           progress: bool) -> int:
    device = default_device()
    encoder, ckpt = load_encoder(checkpoint, device)
    needs_kp, needs_mask = encoder.needs_keypoints_at_inference, encoder.needs_masks_at_inference
    written = 0
    with EpisodeFile(input) as src:
        views = list(views or src.views)
        missing = [v for v in views if v not in src.views]
        if missing:
            raise ValueError(f"{input!r} has no images for views {missing}; it has {src.views}")
        check_encoder_fits(checkpoint, ckpt, input, image_size_of(input), src.keypoint_names, resize=True)
        lacking = [v for v in views if needs_kp and not src.has_keypoints(v)]
        if lacking:
            raise ValueError(f"PAAB embeddings need keypoints, but {input!r} has none for {lacking}")
        lacking = [v for v in views if needs_mask and not all(src.has_view_obs(d, v, "robot_mask") for d in src.demos)]
        if lacking:
            raise ValueError(f"PAAB with mask tokens needs robot masks, but {input!r} has none for {lacking}")
        made_by = {"checkpoint": os.path.abspath(checkpoint), "method": ckpt["config"]["method"]["name"],
                   "image_size": ckpt["data"]["image_size"], "views": views, "geometry": geometry}
        with ObservationWriter(input, out, {"embedding": made_by}) as dst:
            for demo in tqdm(src.demos, desc="embed", unit="demo", disable=not progress):
                for view in views:
                    frames = ViewFrames(src.view_obs(demo, view, "image"),
                                        src.view_obs(demo, view, "keypoints") if needs_kp else None,
                                        src.view_obs(demo, view, "robot_mask").astype(bool) if needs_mask else None)
                    emb = to_geometry(embed_video(encoder, frames, device), geometry)
                    dst.put(demo, obs_key(view, "embedding"), emb.astype("float32"))
                    written += 1
    return written


@hydra.main(config_path="pkg://configs", config_name="embed", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        n = embed_file(cfg.checkpoint, cfg.input, cfg.out, cfg.views, cfg.geometry, overwrite=cfg.overwrite)
        print(f"wrote {n} embedding arrays to {cfg.out}")


if __name__ == "__main__":
    main()
