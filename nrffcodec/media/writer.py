"""Video out through PyAV: .mp4 (H.264), .mkv (FFV1, lossless), .y4m, a folder of PNGs, or y4m on stdout."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from bitstream import AudioStream

from ..core.colour import upsample_chroma
from ..core.ffmpeg import color_range_of, colorspace_of, frame_from_planes
from ..core.video import Video
from ..errors import OutputError
from .audio_out import AudioOutput, audio_for
from .files import atomic_output, is_stdio
from .reader import failure_reason

MP4_CRF = 12
PNG_NAME = re.compile(r"frame_\d+\.png")


def output_kind(path: str | os.PathLike) -> str:
    """'mp4', 'mkv', 'y4m' or 'png' (a folder of PNGs) from the output path; '-' (stdout) is y4m."""
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
    if text.endswith(("/", os.sep)) or suffix == "" or Path(text).is_dir():
        return "png"
    raise OutputError(f"unsupported output type {suffix!r}: use .mp4, .mkv, .y4m or a folder for PNGs")


def write_video(path: str | os.PathLike, video: Video, audio: Sequence[AudioStream] = ()) -> None:
    """Write by extension: .mp4 (H.264 yuv420p CRF 12; yuv444p when a side is odd), .mkv (FFV1), .y4m, PNG folder.

    `audio` (a .nrf's streams, cut and rebased to the frames) goes into .mp4 and .mkv; notes to video.notes.
    '-' writes y4m to standard output (for `| ffplay -`), which then carries nothing else.
    """
    kind = output_kind(path)
    audio = audio_for(kind, audio, video.notes)
    if kind == "png":
        refuse_replacing_other_files(path)
    try:
        if is_stdio(path):
            _write_to_pipe(video)
            return
        with atomic_output(path, is_dir=(kind == "png")) as tmp:
            if kind == "png":
                _write_pngs(tmp, video)
            else:
                _write_stream(tmp, kind, video, audio)
    except av.error.FFmpegError as exc:
        raise OutputError(f"cannot write {path}: {failure_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_to_pipe(video: Video) -> None:
    stdout = sys.stdout.buffer
    try:
        _write_stream(stdout, "y4m", video)
        stdout.flush()
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


def _write_stream(target: Path | BinaryIO, kind: str, video: Video, audio: Sequence[AudioStream] = ()) -> None:
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
        for t in range(video.frame_count):
            if pix_fmt == "yuv444p":
                planes = [
                    video.y[t],
                    upsample_chroma(video.u[t], video.height, video.width),
                    upsample_chroma(video.v[t], video.height, video.width),
                ]
                frame = av.VideoFrame.from_ndarray(np.stack(planes), format="yuv444p")
            else:
                frame = frame_from_planes(video.y[t], video.u[t], video.v[t])
            frame.pts = t
            frame.time_base = stream.codec_context.time_base
            sound.until(Fraction(t) / video.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        sound.finish()


def _write_pngs(folder: Path, video: Video) -> None:
    """frame_NNNNNN.png by source frame number: --frames 30:40 gives frame_000030.png to frame_000039.png."""
    rgb = video.rgb()
    digits = max(6, len(str(video.first_frame + video.frame_count - 1)))
    for t in range(video.frame_count):
        encoder = av.CodecContext.create("png", "w")
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb[t], format="rgb24")
        data = b"".join(bytes(p) for p in list(encoder.encode(frame)) + list(encoder.encode(None)))
        (folder / f"frame_{video.first_frame + t:0{digits}d}.png").write_bytes(data)
