"""nrff: a neural video codec after Neural Residual Flow Fields (ACCV 2022), with a real bitstream."""
from __future__ import annotations

import os

__version__ = "0.1.0"

# Before torch loads OpenMP: spinning worker threads starve when another process shares the cores
# (decoding tree 320x240 next to one busy process: 47.6 s spinning, 12.0 s passive, 8.3 s alone);
# alone, passive waiting measured no slower. A value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .api import EncodeReport, decode, encode, encode_video  # noqa: E402
from .io import Video, read_video, write_video  # noqa: E402
from .metrics import Quality, measure  # noqa: E402
from .settings import EncodeSettings  # noqa: E402

__all__ = ["EncodeReport", "EncodeSettings", "Quality", "Video", "decode", "encode", "encode_video",
           "measure", "read_video", "write_video", "__version__"]
