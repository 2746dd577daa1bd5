"""nrff: a neural video codec after Neural Residual Flow Fields (ACCV 2022), with a real bitstream.

The library's entry points load lazily, so `import nrffcodec` (and `nrff --help`) does not
import torch until an encode or decode needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

_EXPORTS = {
    "EncodeReport": "nrffcodec.encoder.pipeline",
    "encode_video": "nrffcodec.encoder.pipeline",
    "encode_video_file": "nrffcodec.encoder.pipeline",
    "decode": "nrffcodec.decoder",
    "decode_at_rate": "nrffcodec.decoder",
    "encode": "nrffcodec.app.jobs",
    "decode_file": "nrffcodec.app.jobs",
    "Video": "nrffcodec.core.video",
    "read_video": "nrffcodec.media.reader",
    "write_video": "nrffcodec.media.writer",
    "Quality": "nrffcodec.core.quality",
    "measure": "nrffcodec.core.quality",
    "EncodeSettings": "nrffcodec.settings",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nrffcodec' has no attribute {name!r}")
