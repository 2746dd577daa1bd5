"""Disk and memory a job needs, estimated before the work starts (or, for a sweep's frames, as they
are read).

Estimates are deliberately generous: refusing a job that would have fitted costs a re-run with
more room, running one that does not fit costs hours and leaves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.fields import parameter_count
from ..core.gop import plan_gops
from ..core.units import human_bytes
from ..core.video import FrameSource
from ..encoder.plan import field_archs
from ..encoder.runner import TRAINING_BYTES, TRAINING_BYTES_PER_PIXEL
from ..errors import InputError
from ..settings import EncodeSettings

KEYFRAME_BITS_PER_PIXEL = 4.0  # intra keyframes spend well under this even at the top quality's QP
CONTAINER_ALLOWANCE = 64 * 1024
# bytes per pixel each output kind takes at most (mp4: CRF 12 H.264; png: RGB)
OUTPUT_BYTES_PER_PIXEL = {"y4m": 1.5, "yuv": 1.5, "mkv": 1.7, "png": 3.1, "mp4": 1.0}


def estimated_nrf_bytes(video: FrameSource, settings: EncodeSettings) -> int:
    """An upper estimate of the .nrf size: every weight at its full bits, keyframes at a generous rate."""
    gops = plan_gops(video.frame_count, min(settings.gop_candidates))  # the most GOPs it may write
    rung = settings.rung
    flow, residual = field_archs(rung, video.height, video.width, max(g.count for g in gops))
    weights = (parameter_count(flow) + parameter_count(residual)) * rung.weight_bits / 8
    keyframe = video.height * video.width * KEYFRAME_BITS_PER_PIXEL / 8
    return int(len(gops) * (weights + keyframe) + CONTAINER_ALLOWANCE)


def estimated_video_bytes(kind: str, frames: int, height: int, width: int) -> int:
    """An upper estimate of a decoded output's size, by output kind (media.writer.output_kind)."""
    return int(max(frames, 0) * height * width * OUTPUT_BYTES_PER_PIXEL[kind] + CONTAINER_ALLOWANCE)


# A sweep holds its clip in memory several times over (the source, a point's decoded frames, their
# RGB and float copies for the metrics): SWEEP_COPIES times the frames' 4:2:0 bytes (decision 0078).
SWEEP_COPIES = 8

Fits = Callable[[int, int, int], None]  # read_video's check: (frames so far, height, width), raises


def frames_fit(available: int | None, copies: int, reserve: Callable[[int, int], int], held: str) -> Fits:
    """A check that refuses, as the frames are read, more than `available` bytes (None: the machine
    cannot say, nothing refused) for `copies` of their 4:2:0 bytes and `reserve(height, width)` beside
    them; `held` says why they are held, in the message."""

    def fits(count: int, height: int, width: int) -> None:
        needed = count * height * width * 3 // 2 * copies + reserve(height, width)
        if available is not None and needed > available:
            raise InputError(
                f"more than {count - 1:,} frames of {width}x{height} do not fit in memory ({held}; "
                f"{human_bytes(available)} is available): take fewer with --frames START:END"
            )

    return fits


def sweep_fits(available: int | None) -> Fits:
    """read_video's `fits` for a sweep, which holds its clip."""
    return frames_fit(
        available, SWEEP_COPIES, lambda height, width: 0, f"a sweep holds each about {SWEEP_COPIES} times over"
    )


def pipe_fits(available: int | None, longest_gop: int) -> Fits:
    """read_video's `fits` for an encode from a pipe, held whole since it cannot be read twice: its frames
    and, beside them, one training process at the longest GOP (encoder.runner's bound)."""

    def training(height: int, width: int) -> int:
        return TRAINING_BYTES + TRAINING_BYTES_PER_PIXEL * height * width * longest_gop

    return frames_fit(
        available, 1, training, "a pipe is held whole, since it cannot be read twice: encode a file instead"
    )
