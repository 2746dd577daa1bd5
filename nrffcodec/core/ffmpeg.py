"""PyAV frames <-> numpy planes, and FFmpeg's colour and pixel-format facts, named once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

from bitstream import Matrix

from .scheduling import scheduling_kept
from .video import Planes

# FFmpeg's AVColorSpace / AVColorRange values (libavutil/pixfmt.h)
AVCOL_SPC_BT709 = 1
AVCOL_SPC_SMPTE170M = 6  # BT.601 525-line: what limited-range BT.601 output is tagged as
AVCOL_RANGE_MPEG = 1  # limited range
AVCOL_RANGE_JPEG = 2  # full range
YUV420_FORMATS = ("yuv420p", "yuvj420p")


def colorspace_of(matrix: int) -> int:
    return AVCOL_SPC_BT709 if matrix == Matrix.BT709 else AVCOL_SPC_SMPTE170M


def color_range_of(full_range: bool) -> int:
    return AVCOL_RANGE_JPEG if full_range else AVCOL_RANGE_MPEG


def bits_per_component(format_name: str) -> int:
    """The deepest component of a pixel format, from FFmpeg's descriptor (not from its name)."""
    return max(component.bits for component in av.VideoFormat(format_name).components)


def plane_array(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Plane `index` of a frame as a (height, width) uint8 array, line padding removed."""
    plane = frame.planes[index]
    data = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return data[: plane.height, : plane.width].copy()


def planes_from_frame(frame: av.VideoFrame, height: int, width: int) -> Planes:
    """Y, U, V of a yuv420p frame cropped to (height, width) (a coder may have padded it)."""
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return plane_array(frame, 0)[:height, :width], plane_array(frame, 1)[:ch, :cw], plane_array(frame, 2)[:ch, :cw]


def frame_from_planes(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, height: int | None = None, width: int | None = None
) -> av.VideoFrame:
    """A yuv420p frame holding the planes, edge-padded to (height, width) when given (codecs that need
    even or minimum sizes); the consumer crops back."""
    height = y.shape[0] if height is None else height
    width = y.shape[1] if width is None else width
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, data in enumerate((y, u, v)):
        plane = frame.planes[index]
        data = np.pad(data, ((0, plane.height - data.shape[0]), (0, plane.width - data.shape[1])), mode="edge")
        padded = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        padded[:, : plane.width] = data
        plane.update(padded.tobytes())
    return frame


def open_encoder(
    encoder_name: str,
    height: int,
    width: int,
    pix_fmt: str,
    options: dict[str, str],
    time_base: Fraction,
    framerate: Fraction | None = None,
    full_range: bool | None = None,
) -> av.CodecContext:
    """FFmpeg's video encoder `encoder_name`, configured and opened. The calling thread and the encoder's
    threads keep the caller's CPU scheduling: SVT-AV1 would make them real-time (core.scheduling)."""
    if encoder_name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # errors only: SVT-AV1 prints a banner per encoder otherwise
    with scheduling_kept():
        encoder = av.CodecContext.create(encoder_name, "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, pix_fmt
        encoder.time_base = time_base
        if framerate is not None:
            encoder.framerate = framerate
        if full_range is not None:
            encoder.color_range = color_range_of(full_range)
        encoder.options = options
        encoder.open()
    return encoder


def encode_pictures(
    encoder_name: str,
    pictures: Iterable[Planes],
    height: int,
    width: int,
    options: dict[str, str],
    time_base: Fraction,
    full_range: bool,
    framerate: Fraction | None = None,
) -> list[bytes]:
    """Every packet `encoder_name` writes for `pictures` (8-bit yuv420p, edge-padded to height x width)."""
    encoder = open_encoder(encoder_name, height, width, "yuv420p", options, time_base, framerate, full_range)
    packets = []
    for index, planes in enumerate(pictures):
        frame = frame_from_planes(*planes, height, width)
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return [bytes(p) for p in packets]
