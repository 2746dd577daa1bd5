"""Which torch device runs the networks, and CUDA out-of-memory turned into an error that names a remedy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

from ..errors import InputError, ResourceError

F = TypeVar("F", bound=Callable)
CUDA_OOM = torch.cuda.OutOfMemoryError


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when a GPU is present, else 'cpu'; refuses 'cuda' without one."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {name!r}")
    return name


def explain_cuda_oom(hint: str) -> Callable[[F], F]:
    """Turn CUDA out-of-memory inside the decorated function into a ResourceError naming what to lower."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except CUDA_OOM:
                raise ResourceError(f"CUDA ran out of memory: {hint}") from None

        return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature; mypy cannot see it

    return decorate
