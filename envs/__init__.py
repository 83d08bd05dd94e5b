"""envs: multi-view robot demonstrations with arm-joint pixel poses, written as robomimic HDF5.

Importing this package registers the gymnasium ids ``envs/Pick-v0``, ``envs/Lift-v0`` and
``envs/Can-v0``. Nothing here imports torch.
"""
import gymnasium

from .registry import SIMULATORS

for _name in SIMULATORS:
    _id = f"envs/{_name.capitalize()}-v0"
    if _id not in gymnasium.registry:
        gymnasium.register(_id, entry_point="envs.gym_env:MultiViewEnv", kwargs={"env": _name})
