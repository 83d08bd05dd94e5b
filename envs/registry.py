"""Env names -> simulator classes, imported lazily so pybullet users never load robosuite."""
from __future__ import annotations

import importlib
from typing import Dict, Type

from .simulator import Simulator

SIMULATORS: Dict[str, str] = {
    "pick": "envs.pick:PickSimulator",
    "lift": "envs.robosuite_tasks:LiftSimulator",
    "can": "envs.robosuite_tasks:CanSimulator",
}
# robomimic env_args["env_name"] -> our env name (for re-rendering downloaded datasets)
ROBOMIMIC_ENV_NAMES: Dict[str, str] = {"envs/Pick-v0": "pick", "Lift": "lift", "PickPlaceCan": "can"}


def simulator_class(name: str) -> Type[Simulator]:
    if name not in SIMULATORS:
        raise ValueError(f"unknown env {name!r}; choose one of {', '.join(sorted(SIMULATORS))}")
    module, cls = SIMULATORS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_simulator(name: str, **kwargs) -> Simulator:
    return simulator_class(name)(**kwargs)
