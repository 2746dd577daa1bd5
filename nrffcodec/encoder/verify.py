"""Stage 6, verify: the encoder decodes the bytes it wrote, with the decoder users run, and measures them."""

from __future__ import annotations

from ..core.quality import Quality, measure
from ..core.video import Video
from ..decoder import decode


def verify(source: Video, data: bytes, device: str) -> Quality:
    """PSNR of the file's decode against the source: what the report states is what a user gets."""
    return measure(source, decode(data, device=device))
