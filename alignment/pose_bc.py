"""``pose_bc``: robomimic's BC with the auxiliary losses of its vision backbones added to the action loss.

A registered robomimic algorithm (``register_algo_factory_func``) with its registered config
(``ALGO_NAME``): the same config keys and the same class choice as ``bc`` (plain, Gaussian, GMM, VAE,
RNN, transformer), each class extended only in ``_compute_losses``. A backbone that sets
``auxiliary_loss`` in a training forward (PAAT's λ·BCE in ``alignment.backbone.PoseAwareViTConv``) adds
it to ``action_loss``, the loss BC optimises; it is logged as ``Auxiliary_Loss``. At deployment the
backbone computes no auxiliary loss, so ``pose_bc`` acts exactly as ``bc``.
"""
from __future__ import annotations

from typing import Dict

import torch
from robomimic.algo import algo_name_to_factory_func, register_algo_factory_func
from robomimic.config.bc_config import BCConfig

ALGO_NAME = "pose_bc"


class PoseBCConfig(BCConfig):
    ALGO_NAME = ALGO_NAME


class AuxiliaryLosses:
    """Mixin for a robomimic BC class: adds every backbone's ``auxiliary_loss`` to ``action_loss``."""

    def _compute_losses(self, predictions, batch) -> Dict[str, torch.Tensor]:
        losses = super()._compute_losses(predictions, batch)
        auxiliary = []
        for module in self.nets.modules():
            if getattr(module, "auxiliary_loss", None) is not None:
                auxiliary.append(module.auxiliary_loss)
                module.auxiliary_loss = None  # used once: never added to a later step, and its graph is freed
        if auxiliary:
            losses["auxiliary_loss"] = torch.stack([a.float() for a in auxiliary]).sum()
            losses["action_loss"] = losses["action_loss"] + losses["auxiliary_loss"]
        return losses

    def log_info(self, info) -> Dict[str, float]:
        log = super().log_info(info)
        if "auxiliary_loss" in info["losses"]:
            log["Auxiliary_Loss"] = info["losses"]["auxiliary_loss"].item()
        return log


_CLASSES: Dict[type, type] = {}


def with_auxiliary_losses(cls: type) -> type:
    """``cls`` (a robomimic BC class) extended by ``AuxiliaryLosses``; one class per base, made once."""
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Pose{cls.__name__}", (AuxiliaryLosses, cls), {})
    return _CLASSES[cls]


def algo_config_to_class(algo_config):
    """robomimic's BC class choice for ``algo_config``, with auxiliary losses."""
    algo_class, algo_kwargs = algo_name_to_factory_func("bc")(algo_config)
    return with_auxiliary_losses(algo_class), algo_kwargs


# robomimic's decorator registers the function but returns None, so it is applied by hand
register_algo_factory_func(ALGO_NAME)(algo_config_to_class)
