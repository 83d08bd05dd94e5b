"""Evaluation cameras by angular distance from the training rig: one camera per rollout, seeded, in a named bin.

Bins (degrees; the training sector and elevations are the rig's ``training_sector()`` and
``training_elevations()``, jitter included):

- ``train``: azimuth uniform in the training sector, elevation uniform in the training elevations;
- ``beyond15`` … ``beyond60``: azimuth ``d`` past the sector's nearer edge, ``d`` uniform in
  ``[D - 7.5, D + 7.5]`` (so the four bins tile 7.5…67.5 past the edge), on either side with equal
  chance; elevation as ``train``. A bin whose far end would come as close to the sector's other edge
  is refused: its cameras would not be ``D`` from the sector;
- ``elev+15`` / ``elev-15``: azimuth as ``train``, elevation 7.5…22.5 above the highest (below the
  lowest) training elevation.

The distance from the look-at point is the rig's, jittered as the rig jitters it; look-at point, field of
view and intrinsics are the rig's own (``cameras.orbit_camera``). One seed gives every bin the same side,
relative place in its band, elevation and radius (common random numbers), so bins differ only in distance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from .cameras import Camera, RigConfig, degrees_past_arc, orbit_camera, rig_radius

EVAL_VIEW = "eval"
BAND = 15.0  # each bin's width, degrees
# Salt that keeps an episode's evaluation camera independent of its rig, which draws from the same seed.
SEED_SALT = 23


@dataclass(frozen=True)
class EvalBin:
    """Where a bin's cameras stand: the centre of their band past the training sector's edge (None: inside
    the sector), and past the training elevations (signed, 0: inside them)."""

    azimuth_past: Optional[float] = None
    elevation_past: float = 0.0


EVAL_BINS: Dict[str, EvalBin] = {
    "train": EvalBin(),
    "beyond15": EvalBin(azimuth_past=15.0),
    "beyond30": EvalBin(azimuth_past=30.0),
    "beyond45": EvalBin(azimuth_past=45.0),
    "beyond60": EvalBin(azimuth_past=60.0),
    "elev+15": EvalBin(elevation_past=15.0),
    "elev-15": EvalBin(elevation_past=-15.0),
}


@dataclass
class EvalCamera:
    """A drawn evaluation camera and where it stands."""

    camera: Camera
    bin: str
    azimuth: float  # degrees
    elevation: float  # degrees
    radius: float  # metres from the rig's look-at point
    azimuth_past_sector: float  # degrees past the training sector's nearer edge, 0 inside
    elevation_past_range: float  # degrees above (+) or below (-) the training elevations, 0 inside

    def to_json(self) -> dict:
        return {"bin": self.bin, "azimuth": self.azimuth, "elevation": self.elevation, "radius": self.radius,
                "azimuth_past_sector": self.azimuth_past_sector, "elevation_past_range": self.elevation_past_range}


def check_eval_bin(config: RigConfig, name: str) -> EvalBin:
    """The bin called ``name``, refused where this rig leaves no room for it."""
    if name not in EVAL_BINS:
        raise ValueError(f"unknown evaluation camera bin {name!r}; choose one of {', '.join(EVAL_BINS)}")
    spec = EVAL_BINS[name]
    lo, hi = config.training_sector()
    if spec.azimuth_past is not None:
        farthest = spec.azimuth_past + BAND / 2
        if (hi - lo) + 2 * farthest >= 360.0:  # at equality its far end is as near the other edge
            raise ValueError(f"bin {name!r} needs azimuths up to {farthest:g} degrees past both edges of the training "
                             f"sector {lo:g}..{hi:g}, which leaves only {max(360.0 - (hi - lo), 0):g} degrees outside "
                             f"it; narrow the rig's azimuth_range or leave the bin out")
    el_lo, el_hi = config.training_elevations()
    if spec.elevation_past:
        edge = el_hi if spec.elevation_past > 0 else el_lo
        extreme = edge + spec.elevation_past + np.sign(spec.elevation_past) * BAND / 2
        if abs(extreme) >= 89.0:  # straight up or down the camera's "up" is undefined
            raise ValueError(f"bin {name!r} reaches elevation {extreme:g} degrees from the training elevations "
                             f"{el_lo:g}..{el_hi:g}; it must stay within +-89")
    return spec


def draw_eval_camera(config: RigConfig, bin_name: str, width: int, height: int, seed: int,
                     name: str = EVAL_VIEW) -> EvalCamera:
    """One evaluation camera of ``bin_name`` for ``config``'s rig, drawn from ``seed``."""
    spec = check_eval_bin(config, bin_name)
    # Always the same four draws in the same order, whatever the bin: common random numbers across bins.
    u_side, u_azimuth, u_elevation, u_radius = np.random.default_rng(seed).uniform(size=4)
    lo, hi = config.training_sector()
    if spec.azimuth_past is None:
        azimuth = lo + (hi - lo) * u_azimuth
    else:
        past = spec.azimuth_past - BAND / 2 + BAND * u_azimuth
        azimuth = lo - past if u_side < 0.5 else hi + past
    el_lo, el_hi = config.training_elevations()
    if not spec.elevation_past:
        elevation = el_lo + (el_hi - el_lo) * u_elevation
    else:
        past = abs(spec.elevation_past) - BAND / 2 + BAND * u_elevation
        elevation = el_hi + past if spec.elevation_past > 0 else el_lo - past
    radius = rig_radius(config, 2 * u_radius - 1)
    elevation_past = elevation - el_hi if elevation > el_hi else elevation - el_lo if elevation < el_lo else 0.0
    return EvalCamera(orbit_camera(name, config, azimuth, elevation, radius, width, height), bin_name,
                      float((azimuth + 180.0) % 360.0 - 180.0),  # in [-180, 180), as the rig's defaults are written
                      float(elevation), float(radius), degrees_past_arc(azimuth, (lo, hi)), float(elevation_past))


def eval_camera_seed(episode_seed: int) -> int:
    """The evaluation camera's seed for an episode: independent of the rig drawn from the same seed."""
    return int(np.random.SeedSequence([int(episode_seed), SEED_SALT]).generate_state(1)[0])
