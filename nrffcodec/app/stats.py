"""Per-frame statistics of an encoded file against its source, as x265's --csv and SVT-AV1's
--stat-file give them: what a frame cost and what it looks like."""

from __future__ import annotations

import bisect
import csv
import dataclasses
import os

from bitstream import NrfFile

from ..core.quality import frame_quality
from ..core.video import FrameSource
from ..decoder import Progress, decode_segments
from ..media.files import atomic_output
from .info import inspect_file

STATS_COLUMNS = (
    "frame",
    "source_frame",
    "gop",
    "coded_by",
    "bytes",
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "psnr_yuv",
    "psnr_rgb",
)


def write_frame_stats(
    source: FrameSource,
    nrf: str | os.PathLike,
    out: str | os.PathLike,
    device: str,
    progress: Progress | None = None,
) -> None:
    """One CSV row per frame of the .nrf `nrf` decoded against `source` (the frames it was encoded from):
    its GOP, whether the keyframe codec coded it or the fields rendered it, the bytes of its GOP on its
    keyframe's row (0 on rendered frames: the column adds up to the GOPs' bytes), and PSNR as the encode
    reports it. Decoded GOP by GOP (`progress` counts them): memory bounded by the GOP; written atomically."""
    parsed = NrfFile(nrf)  # its front parsed once, for the GOP table and the decode
    gops = inspect_file(parsed)["gops"]
    firsts = [g["first_frame"] for g in gops]
    reader = source.reader()
    with atomic_output(out) as tmp, open(tmp, "w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(STATS_COLUMNS)
        for decoded in decode_segments(parsed, None, device, progress):
            reference = reader.frames(decoded.first_frame, decoded.first_frame + decoded.frame_count)
            for t in range(decoded.frame_count):
                frame = decoded.first_frame + t
                gop = gops[bisect.bisect_right(firsts, frame) - 1]
                keyframe = frame == gop["keyframe"]
                quality = frame_quality(reference, decoded, t)
                rows.writerow(
                    (
                        frame,
                        source.first_frame + frame,
                        gop["gop"],
                        "keyframe" if keyframe else "fields",
                        gop["bytes"] if keyframe else 0,
                        *(f"{value:.4f}" for value in dataclasses.astuple(quality)),
                    )
                )
