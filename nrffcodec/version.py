"""nrff's version, and a digest of the code that decides what an encode writes."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

__version__ = "0.1.0"

_PACKAGE = Path(__file__).resolve().parent
_BITSTREAM = _PACKAGE.parent / "bitstream"


def source_digest(packages: Sequence[Path]) -> str:
    """SHA-256 of every .py file under `packages`, with their paths relative to each package."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            digest.update(f"{package.name}/{path.relative_to(package).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def encoder_digest() -> str:
    """SHA-256 of the codec's source (nrffcodec and bitstream, every subpackage).

    The version changes with releases, not with every change of a training or quantization rule,
    so resumed encodes and cached sweep points are keyed on this instead.
    """
    return source_digest((_PACKAGE, _BITSTREAM))
