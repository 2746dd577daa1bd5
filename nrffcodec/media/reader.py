"""Video in through PyAV: any container FFmpeg opens, or a folder of numbered images, decoded to the
codec's 8-bit YUV 4:2:0 planes.

Anything else (RGB, 4:4:4, 10-bit) is converted by FFmpeg's swscale on the way in, and the
conversion is reported as a note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from bitstream import Matrix

from ..core.ffmpeg import AVCOL_RANGE_JPEG, AVCOL_SPC_BT709, YUV420_FORMATS, bits_per_component, planes_from_frame
from ..core.video import DEFAULT_FPS, Planes, Video
from ..errors import InputError
from .files import is_stdio
from .sequence import ImageSequence, find_image_sequence

# FFmpeg renders text files as "video" through these codecs (the tty demuxer): not real video input
TEXT_ART_CODECS = {"ansi", "bintext", "xbin", "idf"}


def _to_yuv420(frame: av.VideoFrame, notes: set[str]) -> av.VideoFrame:
    name = frame.format.name
    if name in YUV420_FORMATS:
        return frame
    if bits_per_component(name) > 8:
        notes.add(f"input is {name}: coded at 8 bits (yuv420p)")
    else:
        notes.add(f"input is {name}: converted to yuv420p")
    return frame.reformat(format="yuv420p")


@dataclasses.dataclass
class Scan:
    """What reading the input learned besides its pixels (filled in as decode_planes goes)."""

    fps: Fraction = DEFAULT_FPS
    matrix: int = int(Matrix.BT601)
    full_range: bool = False
    declared: int = 0  # frames the container says it has, 0 when it does not say
    decoded: int = 0  # frames decoded from the start of the clip, those before --frames included
    notes: set[str] = dataclasses.field(default_factory=set)
    damage: list[str] = dataclasses.field(default_factory=list)
    times: list[float | None] = dataclasses.field(default_factory=list)
    shapes: set[tuple[int, ...]] = dataclasses.field(default_factory=set)


def read_video(
    path: str | os.PathLike, frames: tuple[int, int | None] | None = None, fps: Fraction | None = None
) -> Video:
    """Decode `path` (any format FFmpeg opens; a folder of numbered images; '-': standard input, e.g.
    y4m from a pipe) to 8-bit 4:2:0 planes, frames [start, end) only; `fps` replaces its frame rate.

    A damaged or truncated input gives the frames that decode, with a note saying how many;
    display rotation is applied; a variable frame rate keeps every frame (see the notes).
    """
    scan = Scan()
    planes = list(decode_planes(path, frames, scan, fps))
    notes = finish_scan(path, frames, scan)
    ys, us, vs = zip(*planes)
    start = frames[0] if frames else 0
    return Video(np.stack(ys), np.stack(us), np.stack(vs), scan.fps, scan.matrix, scan.full_range, notes, start)


def decode_planes(
    path: str | os.PathLike, frames: tuple[int, int | None] | None, scan: Scan, fps: Fraction | None = None
) -> Iterator[Planes]:
    """(Y, U, V) of frames [start, end) of `path` ('-': standard input), one at a time, in order; `scan`
    learns the rest. `fps` replaces the input's frame rate (a folder of images has none: 25)."""
    source = _source(path)
    path = Path("stdin") if is_stdio(path) else Path(path)
    start, end = frames if frames else (0, None)
    try:
        if isinstance(source, ImageSequence):
            container = av.open(source.pattern, format="image2", options=source.open_options(fps or DEFAULT_FPS))
        else:
            container = av.open(source)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot open {path} as a video ({failure_reason(exc)}): not a video, or a damaged or truncated file"
        ) from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise InputError(f"no video stream in {path} (it has: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context.name in TEXT_ART_CODECS:
            raise InputError(f"not a video file: {path} (FFmpeg reads it as text, {container.format.name})")
        stream.thread_type = "SLICE"
        scan.declared = stream.frames
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if fps is not None:
            scan.fps = fps
            if rate and rate > 0 and Fraction(rate) != fps and not isinstance(source, ImageSequence):
                scan.notes.add(f"frame rate {fps} fps from --framerate (the input says {Fraction(rate)})")
        elif isinstance(source, ImageSequence):
            scan.notes.add(f"a folder of images has no frame rate: coded at {DEFAULT_FPS} fps (--framerate sets it)")
        elif rate and rate > 0:
            scan.fps = Fraction(rate).limit_denominator(2**31 - 1)
        else:
            scan.notes.add(f"no frame rate in the input: assuming {DEFAULT_FPS}")
        for frame in _frames_that_decode(container, stream, scan.damage):
            if end is not None and scan.decoded >= end:
                break
            if scan.decoded >= start:
                if frame.colorspace == AVCOL_SPC_BT709:
                    scan.matrix = int(Matrix.BT709)
                scan.full_range = frame.color_range == AVCOL_RANGE_JPEG or frame.format.name == "yuvj420p"  # JPEG's
                yuv = _to_yuv420(frame, scan.notes)
                rotation = getattr(frame, "rotation", 0)  # PyAV >= 13 reads the display matrix
                planes = _upright(planes_from_frame(yuv, yuv.height, yuv.width), rotation, scan.notes)
                scan.shapes.add(planes[0].shape)
                if len(scan.shapes) != 1:
                    raise InputError(f"frame size changes inside {path}: not supported")
                scan.times.append(frame.time)
                scan.decoded += 1
                yield planes
            else:
                scan.decoded += 1


def finish_scan(path: str | os.PathLike, frames: tuple[int, int | None] | None, scan: Scan) -> list[str]:
    """After decode_planes has read to the end: refuse an input with nothing to code, else the notes."""
    start, end = frames if frames else (0, None)
    decoded, declared, damage, notes = scan.decoded, scan.declared, scan.damage, scan.notes
    if decoded == 0:
        reason = f" ({damage[0]})" if damage else ""
        raise InputError(f"no decodable video frames in {path}{reason}")
    if damage or (end is None and declared > decoded):
        of = f" of the {declared} it declares" if declared > decoded else ""
        notes.add(
            f"input damaged or truncated: coding the {decoded} frames that decode{of}"
            + (f", {len(damage)} damaged packets skipped" if damage else "")
        )
    if start >= decoded:
        raise InputError(f"--frames {start}:{'' if end is None else end} is outside the clip ({decoded} frames)")
    if end is not None and end > decoded:
        notes.add(f"--frames end {end} is past the clip's {decoded} frames: coding {start}:{decoded}")
    if _variable_rate(scan.times):
        notes.add(
            f"variable frame rate: all {len(scan.times)} frames kept in order, evenly timed at the average "
            f"{float(scan.fps):.3f} fps (the input's timestamps are not kept)"
        )
    return sorted(notes)


def _source(path: str | os.PathLike) -> str | BinaryIO | ImageSequence:
    """What av.open reads: the file's name, standard input's bytes, or a folder's image sequence."""
    if is_stdio(path):
        if sys.stdin.isatty():
            raise InputError(
                "stdin is a terminal: pipe a video in (ffmpeg -i IN -f yuv4mpegpipe - | nrff encode - OUT)"
            )
        return sys.stdin.buffer
    if not Path(path).exists():
        raise InputError(f"input not found: {path}")
    if Path(path).is_dir():
        return find_image_sequence(Path(path))
    return str(path)


def _frames_that_decode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, damage: list[str]
) -> Iterator[av.VideoFrame]:
    """Every frame that decodes, in order: a damaged packet is skipped (its error kept in `damage`)
    instead of ending the input, and the decoder is flushed when the demuxer gives up early.

    Packet by packet and without frame threading, because frame threads drop the frames around an
    error, and a different number on each run.
    """
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.FFmpegError as exc:
                damage.append(failure_reason(exc))
    except av.error.FFmpegError as exc:
        damage.append(failure_reason(exc))
        with contextlib.suppress(av.error.FFmpegError):
            yield from stream.codec_context.decode(None)


def _upright(planes: tuple[np.ndarray, ...], rotation: int, notes: set[str]) -> tuple[np.ndarray, ...]:
    """Apply display-rotation metadata (counter-clockwise degrees, as FFmpeg reports it) like players do."""
    turns = round(rotation / 90)
    if rotation != 90 * turns:
        notes.add(f"rotation metadata ({rotation} degrees) is not a quarter turn: ignored")
        return planes
    if turns % 4 == 0:
        return planes
    notes.add(f"rotation metadata ({rotation} degrees) applied: frames coded upright, as players show them")
    return tuple(np.ascontiguousarray(np.rot90(p, turns)) for p in planes)


def _variable_rate(times: list[float | None]) -> bool:
    """True when the frames' timestamps are not evenly spaced (beyond timestamp rounding)."""
    known = [t for t in times if t is not None]
    if len(known) < 3:
        return False
    steps = np.diff(known)
    return float(np.ptp(steps)) > max(0.002, 0.1 * float(np.median(steps)))


def failure_reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__
