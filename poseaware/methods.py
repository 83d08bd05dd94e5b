"""The pose-aware methods and what each one needs: the one place these choices are made."""
from __future__ import annotations

METHODS = ("baseline", "paab", "paat", "paab+paat")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def uses_paab(method: str) -> bool:
    return "paab" in check_method(method)


def uses_paat(method: str) -> bool:
    return "paat" in check_method(method)


def needs_keypoints(method: str, training: bool, paab_tokens: str = "keypoints") -> bool:
    """PAAB reads keypoints always (unless its pose tokens come from the robot mask); PAAT only for its
    training target (it is dropped at inference)."""
    return (uses_paab(method) and paab_tokens == "keypoints") or (training and uses_paat(method))


def deployed_method(method: str) -> str:
    """The method of the exported model: PAAT's head is dropped, PAAB stays."""
    return "paab" if uses_paab(method) else "baseline"
