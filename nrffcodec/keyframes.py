"""Keyframes: one HEVC intra picture per GOP, coded by x265 and decoded by FFmpeg, through PyAV.

Only the NAL units a decoder needs are kept: no SEI (x265 writes ~2 kB of version info there),
no access-unit delimiters, no start codes. Parameter sets (VPS/SPS/PPS) are identical across
most keyframes, so the container stores them once and each keyframe refers to them by index.
"""
from __future__ import annotations

import dataclasses
import re
from fractions import Fraction

import av
import numpy as np

from bitstream import BitstreamError

PARAMETER_SET_TYPES = {32, 33, 34}  # VPS, SPS, PPS
SLICE_TYPES = set(range(0, 32))
_START_CODE = re.compile(b"\x00\x00\x01")


@dataclasses.dataclass
class CodedKeyframe:
    parameter_sets: list[bytes]
    slices: list[bytes]

    @property
    def size(self) -> int:
        return sum(map(len, self.parameter_sets)) + sum(map(len, self.slices))


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream, without start codes or trailing zero bytes."""
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[begin:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def nal_type(unit: bytes) -> int:
    return (unit[0] >> 1) & 0x3F


def join_annexb(units: list[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


MIN_CODED_SIDE = 16  # x265 refuses pictures smaller than one 16x16 block


def coded_size(length: int) -> int:
    """Side length x265 is given: even (4:2:0) and at least MIN_CODED_SIDE; the decoder crops back."""
    return max(MIN_CODED_SIDE, length + length % 2)


def _pad_even(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.pad(plane, ((0, height - plane.shape[0]), (0, width - plane.shape[1])), mode="edge")


def encode_keyframe(y: np.ndarray, u: np.ndarray, v: np.ndarray, qp: int, preset: str = "slow",
                    full_range: bool = False) -> CodedKeyframe:
    """x265 intra at constant QP, tuned for PSNR. Odd or tiny sizes are edge-padded and cropped on decode."""
    height, width = y.shape
    even_h, even_w = coded_size(height), coded_size(width)
    frame = av.VideoFrame(even_w, even_h, "yuv420p")
    for index, plane_data in enumerate((_pad_even(y, even_h, even_w),
                                        _pad_even(u, even_h // 2, even_w // 2),
                                        _pad_even(v, even_h // 2, even_w // 2))):
        plane = frame.planes[index]
        padded = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        padded[:, : plane.width] = plane_data
        plane.update(padded.tobytes())
    encoder = av.CodecContext.create("libx265", "w")
    encoder.width, encoder.height, encoder.pix_fmt = even_w, even_h, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.color_range = 2 if full_range else 1
    encoder.options = {
        "preset": preset,
        "tune": "psnr",
        "x265-params": f"qp={qp}:info=0:log-level=error:pools=none:frame-threads=1:keyint=1",
    }
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    units = split_annexb(b"".join(bytes(p) for p in packets))
    parameter_sets = [n for n in units if nal_type(n) in PARAMETER_SET_TYPES]
    slices = [n for n in units if nal_type(n) in SLICE_TYPES]
    if not slices or len(parameter_sets) < 3:
        raise RuntimeError("x265 produced no picture")
    return CodedKeyframe(parameter_sets, slices)


def _pixel_allowance(height: int, width: int) -> int:
    """Pixels FFmpeg may allocate for the keyframe: its coded size plus the decoder's alignment padding."""
    return (coded_size(width) + 128) * (coded_size(height) + 128)


def decode_keyframe(parameter_sets: list[bytes], slices: list[bytes], height: int, width: int,
                    where: str = "keyframe") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one stored keyframe to uint8 planes cropped to (height, width)."""
    try:
        decoder = av.CodecContext.create("hevc", "r")
        decoder.thread_count = 1
        # a hostile SPS may claim a huge picture: FFmpeg refuses one larger than the header's before allocating
        decoder.options = {"max_pixels": str(_pixel_allowance(height, width))}
        frames = decoder.decode(av.Packet(join_annexb(parameter_sets + slices))) + decoder.decode(None)
    except (av.error.FFmpegError, ValueError) as exc:
        raise BitstreamError(f"{where}: HEVC data does not decode ({exc})") from None
    if len(frames) != 1:
        raise BitstreamError(f"{where}: HEVC data holds {len(frames)} pictures, expected 1")
    frame = frames[0]
    if frame.format.name not in ("yuv420p", "yuvj420p") or frame.width != coded_size(width) \
            or frame.height != coded_size(height):
        raise BitstreamError(f"{where}: picture is {frame.width}x{frame.height} {frame.format.name}, "
                             f"expected {width}x{height} yuv420p")
    ch, cw = (height + 1) // 2, (width + 1) // 2
    planes = []
    for index, (h, w) in enumerate(((height, width), (ch, cw), (ch, cw))):
        plane = frame.planes[index]
        data = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        planes.append(data[:h, :w].copy())
    return planes[0], planes[1], planes[2]
