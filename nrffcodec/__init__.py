"""nrff: a neural video codec after Neural Residual Flow Fields (ACCV 2022), with a real bitstream."""
from __future__ import annotations

__version__ = "0.1.0"

from .api import EncodeReport, decode, encode, encode_video  # noqa: E402
from .io import Video, read_video, write_video  # noqa: E402
from .metrics import Quality, measure  # noqa: E402
from .settings import EncodeSettings  # noqa: E402

__all__ = ["EncodeReport", "EncodeSettings", "Quality", "Video", "decode", "encode", "encode_video",
           "measure", "read_video", "write_video", "__version__"]
