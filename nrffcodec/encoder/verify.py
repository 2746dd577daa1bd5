"""Stage 6, verify: the encoder decodes the bytes it wrote, with the decoder users run, and measures them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..core.quality import Quality, QualityAccumulator
from ..core.video import FrameSource
from ..decoder import decode_segments
from .progress import Progress


@dataclasses.dataclass(frozen=True)
class Verified:
    quality: Quality
    frame_psnr_rgb: tuple[float, ...]  # each decoded frame's, in order


def verify(
    source: FrameSource,
    file: bytes | Path,
    device: str,
    frames: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> Verified:
    """PSNR of `file` (bytes or a path) decoded, against the source: what the report states is what a user gets.

    GOP by GOP against the source read again in order, so any length is measured in memory bounded
    by the GOP (and a float per frame). `frames` [start, end): only those (per frame: from start on);
    `progress` counts the GOPs decoded.
    """
    accumulator = QualityAccumulator(source.matrix, source.full_range)
    reader = source.reader()
    for decoded in decode_segments(file, frames, device, progress):
        accumulator.add(reader.frames(decoded.first_frame, decoded.first_frame + decoded.frame_count), decoded)
    return Verified(accumulator.result(), tuple(accumulator.per_frame))
