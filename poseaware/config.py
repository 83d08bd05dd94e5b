"""Config groups -> constructor arguments, with no key dropped silently."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping


def constructor_kwargs(cls: type, options: Mapping[str, Any], source: str) -> Dict[str, Any]:
    """``options`` as keyword arguments of ``cls``; a key ``cls`` does not take is an error naming it.

    ``source`` names where the options came from (e.g. ``model + method config``) for the message.
    """
    params = inspect.signature(cls).parameters
    unknown = sorted(k for k in options if k not in params)
    if unknown:
        accepted = ", ".join(p for p in params if p != "self")
        raise ValueError(f"{source} has {unknown}, which {cls.__name__} does not take; remove them or use "
                         f"one of: {accepted}")
    return dict(options)


# Keys of a ``method`` config group that configure training, not the model.
TRAINING_OPTIONS = ("label", "augment_background")


def method_options(method_cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """A ``method`` config group (``name`` plus the method's options) as constructor arguments."""
    options = {k: v for k, v in method_cfg.items() if k not in TRAINING_OPTIONS}
    options["method"] = options.pop("name")
    return options
