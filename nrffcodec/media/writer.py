"""Video out through PyAV: .mp4 (H.264), .mkv (FFV1, lossless), .y4m, raw .yuv, a folder of PNGs, or y4m
on stdout."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from bitstream import AudioStream

from ..core.colour import colour_name, upsample_chroma
from ..core.ffmpeg import color_range_of, colorspace_of, frame_from_planes
from ..core.video import Video
from ..errors import OutputError
from .audio_out import AudioOutput, audio_for
from .files import atomic_output, is_stdio
from .reader import failure_reason

MP4_CRF = 12
PNG_NAME = re.compile(r"frame_\d+\.png")


def output_kind(path: str | os.PathLike) -> str:
    """'mp4', 'mkv', 'y4m', 'yuv' (raw planes) or 'png' (a folder of PNGs) from the output path; '-'
    (stdout) is y4m."""
    text = str(path)
    if is_stdio(text):
        return "y4m"
    suffix = Path(text).suffix.lower()
    if suffix in (".mp4", ".mov", ".m4v"):
        return "mp4"
    if suffix == ".mkv":
        return "mkv"
    if suffix == ".y4m":
        return "y4m"
    if suffix == ".yuv":
        return "yuv"
    if text.endswith(("/", os.sep)) or suffix == "" or Path(text).is_dir():
        return "png"
    raise OutputError(f"unsupported output type {suffix!r}: use .mp4, .mkv, .y4m, .yuv or a folder for PNGs")


def write_video(path: str | os.PathLike, video: Video, audio: Sequence[AudioStream] = ()) -> None:
    """Write by extension: .mp4 (H.264 yuv420p CRF 12; yuv444p when a side is odd), .mkv (FFV1), .y4m, PNG folder.

    `audio` (a .nrf's streams, cut and rebased to the frames) goes into .mp4 and .mkv; notes to video.notes.
    '-' writes y4m to standard output (for `| ffplay -`), which then carries nothing else.
    """
    with video_writer(path, video, audio=audio) as sink:
        sink.write(video)


class VideoSink:
    """Frames written as they come, in order, to an open output (video_writer gives one)."""

    def __init__(self, write: Callable[[Video], None]) -> None:
        self._write = write
        self.frames = 0

    def write(self, video: Video) -> None:
        self._write(video)
        self.frames += video.frame_count


@contextlib.contextmanager
def video_writer(
    path: str | os.PathLike, like: Video, total: int | None = None, audio: Sequence[AudioStream] = ()
) -> Iterator[VideoSink]:
    """Stream frames into `path` by extension (see write_video): the output's name appears, complete, only
    when the block succeeds. `like` gives the size, frame rate and colour (any frames of the video, from
    the first on) and takes the notes; `total`, the frame count to come, sizes PNG numbers (default: like's)."""
    kind = output_kind(path)
    audio = audio_for(kind, audio, like.notes)
    last = like.first_frame + (like.frame_count if total is None else total) - 1
    digits = max(6, len(str(last)))
    if kind == "png":
        refuse_replacing_other_files(path)
    try:
        if is_stdio(path):
            with _pipe_errors(), _open_stream(sys.stdout.buffer, "y4m", like) as write:
                yield VideoSink(write)
            return
        with atomic_output(path, is_dir=(kind == "png")) as tmp:
            if kind == "png":
                yield VideoSink(lambda video: _write_pngs(tmp, video, digits))
            elif kind == "yuv":
                like.notes.append(
                    f"a raw .yuv file says nothing of its frames: {like.width}x{like.height} yuv420p, "
                    f"{like.fps} fps, {colour_name(like.matrix, like.full_range)}"
                )
                with open(tmp, "wb") as out:
                    yield VideoSink(lambda video: _write_raw(out, video))
            else:
                with _open_stream(tmp, kind, like, audio) as write:
                    yield VideoSink(write)
    except av.error.FFmpegError as exc:
        raise OutputError(f"cannot write {path}: {failure_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _pipe_errors() -> Iterator[None]:
    """Standard output flushed at the end; a reader that went away is one clear error."""
    try:
        yield
        sys.stdout.buffer.flush()
    except (BrokenPipeError, av.error.FFmpegError) as exc:
        # PyAV reports the reader going away (a player closed) as its callback's error
        if not isinstance(exc, BrokenPipeError) and not isinstance(exc.__context__, BrokenPipeError):
            raise
        # stdout to /dev/null, so that the interpreter's own flush at exit adds no second error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise OutputError("cannot write stdout: the reading end of the pipe was closed") from None


def refuse_replacing_other_files(folder: str | os.PathLike) -> None:
    """A PNG folder is replaced as a whole (-y): only when it holds nothing but frame PNGs."""
    folder = Path(folder)
    if folder.is_dir():
        others = [p.name for p in folder.iterdir() if not PNG_NAME.fullmatch(p.name)]
        if others:
            raise OutputError(
                f"refusing to replace the folder {folder}: it holds {len(others)} file(s) that are not "
                f"frame_*.png (e.g. {others[0]}); give a new folder name"
            )


@contextlib.contextmanager
def _open_stream(
    target: Path | BinaryIO, kind: str, video: Video, audio: Sequence[AudioStream] = ()
) -> Iterator[Callable[[Video], None]]:
    odd = video.width % 2 or video.height % 2
    settings = {
        "mp4": ("mp4", "libx264", "yuv444p" if odd else "yuv420p", {"crf": str(MP4_CRF), "preset": "medium"}),
        "mkv": ("matroska", "ffv1", "yuv420p", {}),
        "y4m": ("yuv4mpegpipe", "rawvideo", "yuv420p", {}),
    }[kind]
    fmt, codec, pix_fmt, options = settings
    with av.open(str(target) if isinstance(target, Path) else target, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=video.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, pix_fmt
        stream.codec_context.time_base = 1 / video.fps
        stream.codec_context.colorspace = colorspace_of(video.matrix)
        stream.codec_context.color_range = color_range_of(video.full_range)
        sound = AudioOutput(container, kind, audio, video.notes)
        written = 0

        def write(segment: Video) -> None:
            nonlocal written
            for t in range(segment.frame_count):
                if pix_fmt == "yuv444p":
                    planes = [
                        segment.y[t],
                        upsample_chroma(segment.u[t], segment.height, segment.width),
                        upsample_chroma(segment.v[t], segment.height, segment.width),
                    ]
                    frame = av.VideoFrame.from_ndarray(np.stack(planes), format="yuv444p")
                else:
                    frame = frame_from_planes(segment.y[t], segment.u[t], segment.v[t])
                frame.pts = written
                frame.time_base = stream.codec_context.time_base
                sound.until(Fraction(written) / video.fps)
                written += 1
                for packet in stream.encode(frame):
                    container.mux(packet)

        yield write
        for packet in stream.encode(None):
            container.mux(packet)
        sound.finish()


def _write_raw(out: BinaryIO, video: Video) -> None:
    """Each frame's Y, U and V planes back to back, as raw yuv420p."""
    for t in range(video.frame_count):
        for plane in (video.y[t], video.u[t], video.v[t]):
            out.write(np.ascontiguousarray(plane).tobytes())


def _write_pngs(folder: Path, video: Video, digits: int) -> None:
    """frame_NNNNNN.png by source frame number: --frames 30:40 gives frame_000030.png to frame_000039.png."""
    rgb = video.rgb()
    for t in range(video.frame_count):
        encoder = av.CodecContext.create("png", "w")
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb[t], format="rgb24")
        data = b"".join(bytes(p) for p in list(encoder.encode(frame)) + list(encoder.encode(None)))
        (folder / f"frame_{video.first_frame + t:0{digits}d}.png").write_bytes(data)
