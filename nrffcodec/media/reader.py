"""Video in through PyAV: any container FFmpeg opens, a folder of numbered images or a raw .yuv
file, decoded to the codec's 8-bit YUV 4:2:0 planes.

Anything else (RGB, 4:4:4, 10-bit) is converted by FFmpeg's swscale on the way in, and the
conversion is reported as a note.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from bitstream import MAGIC, Matrix

from ..core.ffmpeg import AVCOL_RANGE_JPEG, AVCOL_SPC_BT709, YUV420_FORMATS, bits_per_component, planes_from_frame
from ..core.video import DEFAULT_FPS, Planes, Video
from ..errors import InputError
from .files import is_stdio, starts_with
from .raw import InputFormat, RawVideo, is_raw, raw_video
from .sequence import ImageSequence, find_image_sequence

NO_INPUT_FORMAT = InputFormat()

# FFmpeg renders text files as "video" through these codecs (the tty demuxer): not real video input
TEXT_ART_CODECS = {"ansi", "bintext", "xbin", "idf"}
INTERLACED_NOTE = (
    "input is interlaced: each frame's two fields are coded together, as a progressive frame "
    "(deinterlace it first for a better picture, e.g. ffmpeg -vf bwdif)"
)


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
    path: str | os.PathLike,
    frames: tuple[int, int | None] | None = None,
    form: InputFormat = NO_INPUT_FORMAT,
    fits: Callable[[int, int, int], None] | None = None,
) -> Video:
    """Decode `path` (any format FFmpeg opens; a folder of numbered images; a raw .yuv file; '-':
    standard input, e.g. y4m from a pipe) to 8-bit 4:2:0 planes, frames [start, end) only; `form`
    says what the input does not (a raw file's size) and may replace its frame rate.

    A damaged or truncated input gives the frames that decode, with a note saying how many;
    display rotation is applied; a variable frame rate keeps every frame (see the notes). `fits(count,
    height, width)` is asked before each frame is kept, and raises where that many would not fit.
    """
    scan = Scan()
    planes: list[Planes] = []
    for frame in decode_planes(path, frames, scan, form):
        if fits:
            fits(len(planes) + 1, *frame[0].shape)
        planes.append(frame)
    notes = finish_scan(path, frames, scan)
    ys, us, vs = zip(*planes)
    start = frames[0] if frames else 0
    return Video(np.stack(ys), np.stack(us), np.stack(vs), scan.fps, scan.matrix, scan.full_range, notes, start)


def decode_planes(
    path: str | os.PathLike,
    frames: tuple[int, int | None] | None,
    scan: Scan,
    form: InputFormat = NO_INPUT_FORMAT,
) -> Iterator[Planes]:
    """(Y, U, V) of frames [start, end) of `path` ('-': standard input), one at a time, in order; `scan`
    learns the rest. `form.framerate` replaces the input's frame rate (images and raw files have none:
    25 without it)."""
    source = _source(path, form)
    path = Path("stdin") if is_stdio(path) else Path(path)
    start, end = frames if frames else (0, None)
    try:
        if isinstance(source, ImageSequence):
            rate = form.framerate or DEFAULT_FPS
            container = av.open(source.pattern, format="image2", options=source.open_options(rate))
        elif isinstance(source, RawVideo):
            container = av.open(str(source.path), format="rawvideo", options=source.open_options())
        else:
            container = av.open(source)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        if isinstance(source, str) and starts_with(source, MAGIC):
            raise InputError(f"{path} is an .nrf file, nrff's own: decode it with nrff decode {path} OUT") from None
        raise InputError(
            f"cannot open {path} as a video ({failure_reason(exc)}): not a video, or a damaged or truncated file"
        ) from None
    with container:
        stream = video_stream(container)
        if stream is None:
            kinds = sorted({"a cover picture" if is_cover(s) else s.type for s in container.streams}) or ["no streams"]
            raise InputError(f"no video stream in {path} (it has: {', '.join(kinds)})")
        if stream.codec_context.name in TEXT_ART_CODECS:
            raise InputError(f"not a video file: {path} (FFmpeg reads it as text, {container.format.name})")
        stream.thread_type = "SLICE"
        scan.declared = stream.frames
        scan.fps = _frame_rate(stream, source, form.framerate, scan.notes)
        for frame in _frames_that_decode(container, stream, scan.damage):
            if end is not None and scan.decoded >= end:
                break
            if scan.decoded >= start:
                if frame.colorspace == AVCOL_SPC_BT709:
                    scan.matrix = int(Matrix.BT709)
                scan.full_range = frame.color_range == AVCOL_RANGE_JPEG or frame.format.name == "yuvj420p"  # JPEG's
                if frame.interlaced_frame:
                    scan.notes.add(INTERLACED_NOTE)
                if colour := _unsupported_colour(frame):
                    scan.notes.add(colour)
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


# FFmpeg's colour matrices and transfers beyond BT.601 and BT.709 SDR (AVColorSpace, AVColorTransferCharacteristic)
OTHER_MATRICES = {4: "FCC", 7: "SMPTE 240M", 8: "YCgCo", 9: "BT.2020", 10: "BT.2020 constant-luminance", 14: "ICtCp"}
HDR_TRANSFERS = {16: "PQ (HDR)", 18: "HLG (HDR)"}


def _unsupported_colour(frame: av.VideoFrame) -> str | None:
    """A note where the input's colour is one nrff cannot tag (it stores BT.601 or BT.709 SDR)."""
    matrix, transfer = OTHER_MATRICES.get(frame.colorspace), HDR_TRANSFERS.get(frame.color_trc)
    parts = [f"{matrix} matrix"] * bool(matrix) + [f"{transfer} transfer"] * bool(transfer)
    if not parts:
        return None
    return (
        f"input has the {' and the '.join(parts)}: nrff codes BT.601 or BT.709 SDR video, so its samples "
        "are coded as they are but tagged BT.601 and will show with shifted colours (convert it to BT.709 "
        "first, e.g. with FFmpeg's zscale and tonemap filters)"
    )


def is_cover(stream: av.stream.Stream) -> bool:
    """A picture attached to the file (an album's or a film's cover), not frames of the video."""
    return stream.type == "video" and bool(stream.disposition & av.stream.Disposition.attached_pic)


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The input's video: its first video stream that is not a cover picture."""
    return next((s for s in container.streams.video if not is_cover(s)), None)


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


def _frame_rate(
    stream: av.video.stream.VideoStream,
    source: str | BinaryIO | ImageSequence | RawVideo,
    given: Fraction | None,
    notes: set[str],
) -> Fraction:
    """The clip's rate: `given` (--framerate), else a raw file's name's, else the input's own; 25
    where nothing says, with a note."""
    if isinstance(source, RawVideo):
        notes.update(source.notes)
        given = given or source.fps
    unsaid = isinstance(source, (ImageSequence, RawVideo))
    rate = None if unsaid else stream.average_rate or stream.guessed_rate or stream.base_rate
    if given is not None:
        if rate and rate > 0 and Fraction(rate) != given:
            notes.add(f"frame rate {given} fps from --framerate (the input says {Fraction(rate)})")
        return given
    if rate and rate > 0:
        return Fraction(rate).limit_denominator(2**31 - 1)
    kind = "a folder of images" if isinstance(source, ImageSequence) else "a raw file" if unsaid else "the input"
    notes.add(f"{kind} has no frame rate: coded at {DEFAULT_FPS} fps (--framerate sets it)")
    return DEFAULT_FPS


def _source(path: str | os.PathLike, form: InputFormat) -> str | BinaryIO | ImageSequence | RawVideo:
    """What av.open reads: the file's name, standard input's bytes, a folder's image sequence, or a
    raw file as `form` and its name describe it."""
    raw = form.size is not None or (not is_stdio(path) and is_raw(Path(path)))
    if is_stdio(path) and raw:
        raise InputError(
            "raw frames from a pipe are not read: pipe y4m (ffmpeg ... -f yuv4mpegpipe -), or give the file"
        )
    if form.pixel_format is not None and not raw:
        raise InputError("--pixel-format is for raw input (a .yuv file, or --size): other inputs say their own")
    if is_stdio(path):
        if sys.stdin.isatty():
            raise InputError(
                "stdin is a terminal: pipe a video in (ffmpeg -i IN -f yuv4mpegpipe - | nrff encode - OUT)"
            )
        return sys.stdin.buffer
    if not Path(path).exists():
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", str(path)):  # a URL (Path keeps one slash): not read
            raise InputError(
                "nrff reads files and pipes, not URLs: download it first, or pipe it "
                "(ffmpeg -i URL -f yuv4mpegpipe - | nrff encode - OUT)"
            )
        raise InputError(f"input not found: {path}")
    if Path(path).is_dir():
        return find_image_sequence(Path(path))
    if raw:
        return raw_video(Path(path), form)
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
