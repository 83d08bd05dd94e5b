"""Env names -> simulator classes, imported lazily so pybullet users never load robosuite."""
from __future__ import annotations

import importlib
from typing import Dict, Type

from .simulator import Simulator

SIMULATORS: Dict[str, str] = {
    "pick": "envs.pick:PickSimulator",
    "lift": "envs.robosuite_tasks:LiftSimulator",
    "can": "envs.robosuite_tasks:CanSimulator",
    "minecraft": "envs.minecraft:VoxelMinecraftSimulator",
}
MINECRAFT_BACKENDS: Dict[str, str] = {
    "voxel": "envs.minecraft:VoxelMinecraftSimulator",
    "minerl": "envs.minerl_backend:MineRLSimulator",
}
# robomimic env_args["env_name"] -> our env name (for re-rendering downloaded datasets)
ROBOMIMIC_ENV_NAMES: Dict[str, str] = {
    "envs/Pick-v0": "pick", "Lift": "lift", "PickPlaceCan": "can", "envs/Minecraft-v0": "minecraft",
}


def simulator_options(env: str, renderer: str = "tiny", render: str = "fast") -> Dict[str, str]:
    """The constructor options an env takes, as stored in a file's generation settings: pybullet's
    renderer for Pick, the render quality for the robosuite envs (TinyRenderer has no multisampling or
    reflections to turn off)."""
    return {"pick": {"renderer": renderer}, "lift": {"render": render}, "can": {"render": render}}.get(env, {})


def simulator_class(name: str, backend: str = "voxel") -> Type[Simulator]:
    if name not in SIMULATORS:
        raise ValueError(f"unknown env {name!r}; choose one of {', '.join(sorted(SIMULATORS))}")
    path = SIMULATORS[name]
    if name == "minecraft":
        if backend not in MINECRAFT_BACKENDS:
            raise ValueError(f"unknown minecraft backend {backend!r}; choose one of {', '.join(MINECRAFT_BACKENDS)}")
        path = MINECRAFT_BACKENDS[backend]
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def make_simulator(name: str, backend: str = "voxel", **kwargs) -> Simulator:
    return simulator_class(name, backend)(**kwargs)
