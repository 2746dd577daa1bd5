"""Inputs that do not describe themselves, and what the user says of them: a raw .yuv file (the
test sets of the field, UVG, MCL-JCV, the JVET sequences, come that way) and a frame rate.

A raw file's size, frame rate and sample format are read from the command line, else from its
name the way those test sets name their files (`Beauty_1920x1080_120fps_420_8bit_YUV.yuv`,
`BasketballDrive_1920x1080_50.yuv`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from fractions import Fraction
from pathlib import Path

from ..errors import InputError

RAW_EXTENSIONS = frozenset({".yuv"})
DEFAULT_RAW_FORMAT = "yuv420p"
MAX_RAW_SIDE = 16384
_SIZE = re.compile(r"(?<![0-9])([0-9]{1,5})x([0-9]{1,5})(?![0-9])")
_FPS = re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)fps", re.IGNORECASE)
# the JVET common test conditions' names give the rate bare, after the size: BasketballDrive_1920x1080_50.yuv
_RATE_AFTER_SIZE = re.compile(r"(?<![0-9])[0-9]{1,5}x[0-9]{1,5}_([0-9]{1,3}(?:\.[0-9]+)?)(?=[_.])")
CHROMA_NAMES = frozenset({"420", "422", "444"})
_BITS = re.compile(r"(?<![0-9])(8|10|12|16)[-_]?bits?(?![a-z])", re.IGNORECASE)
_CHROMA = re.compile(r"(?<![0-9x])(420|422|444)(?![0-9])")


@dataclasses.dataclass(frozen=True)
class InputFormat:
    """What the command line says of its input: a frame rate replacing the input's own, and for a
    raw file its size (width, height) and FFmpeg pixel format."""

    framerate: Fraction | None = None
    size: tuple[int, int] | None = None
    pixel_format: str | None = None

    def __post_init__(self) -> None:
        if self.framerate is not None and self.framerate <= 0:
            raise InputError(f"--framerate must be above zero, got {self.framerate}")
        if self.size is not None and not all(1 <= side <= MAX_RAW_SIDE for side in self.size):
            raise InputError(f"--size {self.size[0]}x{self.size[1]}: each side must be 1..{MAX_RAW_SIDE}")
        if self.pixel_format is not None:
            _check_pixel_format(self.pixel_format)


@dataclasses.dataclass(frozen=True)
class RawVideo:
    """A raw file as FFmpeg's rawvideo demuxer reads it, and what was taken from its name."""

    path: Path
    width: int
    height: int
    pixel_format: str
    fps: Fraction | None  # None: neither the command line nor the name says
    notes: tuple[str, ...]

    def open_options(self) -> dict[str, str]:
        fps = self.fps or Fraction(25)
        return {
            "video_size": f"{self.width}x{self.height}",
            "pixel_format": self.pixel_format,
            "framerate": f"{fps.numerator}/{fps.denominator}",
        }


def is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080); anything else is one-line InputError."""
    match = re.fullmatch(r"\s*([0-9]+)\s*x\s*([0-9]+)\s*", text)
    if not match:
        raise InputError(f"--size must be WIDTHxHEIGHT, like 1920x1080, got {text!r}")
    return int(match[1]), int(match[2])


def raw_video(path: Path, form: InputFormat) -> RawVideo:
    """`path` as a raw file: size, rate and format from `form`, else from the file's name."""
    name, notes = path.name, []
    size = form.size
    if size is None:
        found = _SIZE.search(name)
        if not found:
            raise InputError(
                f"a raw {path.suffix} file does not say its size: give --size WIDTHxHEIGHT "
                f"(or name it like clip_1920x1080_50fps.yuv): {path}"
            )
        size = (int(found[1]), int(found[2]))
        notes.append(f"raw video {size[0]}x{size[1]} as its name says")
        InputFormat(size=size)  # the name's size checked as the option's would be
    fps = form.framerate
    found = _FPS.search(name) or _RATE_AFTER_SIZE.search(name)
    if fps is None and found and found[1] not in CHROMA_NAMES and Fraction(found[1]) > 0:
        fps = Fraction(found[1])
        notes.append(f"{found[1]} fps as its name says")
    pixel_format = form.pixel_format or _format_from_name(name)
    if form.pixel_format is None and pixel_format != DEFAULT_RAW_FORMAT:
        notes.append(f"samples read as {pixel_format}, as its name says")
    raw = RawVideo(path, size[0], size[1], pixel_format, fps, tuple(notes))
    frame = frame_bytes(pixel_format, *size)
    length = path.stat().st_size
    if length % frame:  # a wrong size or format, far more often than a cut file
        raise InputError(
            f"{path}: {length:,} bytes is not a whole number of {size[0]}x{size[1]} {pixel_format} frames "
            f"({frame:,} bytes each): check --size and --pixel-format (a cut file: trim it to whole frames)"
        )
    return raw


def frame_bytes(pixel_format: str, width: int, height: int) -> int:
    """Bytes of one raw frame, as FFmpeg's rawvideo demuxer reads them: packed samples, padding and a
    palette counted as FFmpeg counts them (its stream's bit rate at one frame a second)."""
    import av

    options = {"video_size": f"{width}x{height}", "pixel_format": pixel_format, "framerate": "1"}
    try:
        with av.open(os.devnull, format="rawvideo", options=options) as demuxer:
            return demuxer.streams.video[0].codec_context.bit_rate // 8
    except av.FFmpegError as error:
        reason = f"{error.strerror} (FFmpeg reads frames of less than 2 GiB)"
        raise InputError(f"FFmpeg cannot read {width}x{height} {pixel_format} frames: {reason}") from None


def _format_from_name(name: str) -> str:
    bits = _BITS.search(name)
    chroma = _CHROMA.search(_SIZE.sub("", name))
    depth = int(bits[1]) if bits else 8
    fmt = f"yuv{chroma[1] if chroma else '420'}p" + ("" if depth == 8 else f"{depth}le")
    return _check_pixel_format(fmt)


def _check_pixel_format(name: str) -> str:
    import av  # here, not at the top: the command line imports this module before it needs FFmpeg

    try:
        av.VideoFormat(name)
    except ValueError:
        raise InputError(
            f"--pixel-format {name}: not a pixel format FFmpeg knows (e.g. yuv420p, yuv420p10le)"
        ) from None
    return name
