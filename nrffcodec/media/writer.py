"""Video out through PyAV: .mp4 (H.264), .mkv (FFV1, lossless), .y4m, or a folder of PNGs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bitstream import AudioStream

from ..core.colour import upsample_chroma
from ..core.ffmpeg import color_range_of, colorspace_of, frame_from_planes
from ..core.video import Video
from ..errors import OutputError
from .audio_out import AudioOutput, audio_for
from .files import atomic_output
from .reader import failure_reason

MP4_CRF = 12


def output_kind(path: str | os.PathLike) -> str:
    """'mp4', 'mkv', 'y4m' or 'png' (a folder of PNGs) from the output path."""
    text = str(path)
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
    """
    kind = output_kind(path)
    audio = audio_for(kind, audio, video.notes)
    try:
        with atomic_output(path, is_dir=(kind == "png")) as tmp:
            if kind == "png":
                _write_pngs(tmp, video)
            else:
                _write_stream(tmp, kind, video, audio)
    except av.error.FFmpegError as exc:
        raise OutputError(f"cannot write {path}: {failure_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_stream(tmp: Path, kind: str, video: Video, audio: Sequence[AudioStream] = ()) -> None:
    odd = video.width % 2 or video.height % 2
    settings = {
        "mp4": ("mp4", "libx264", "yuv444p" if odd else "yuv420p", {"crf": str(MP4_CRF), "preset": "medium"}),
        "mkv": ("matroska", "ffv1", "yuv420p", {}),
        "y4m": ("yuv4mpegpipe", "rawvideo", "yuv420p", {}),
    }[kind]
    fmt, codec, pix_fmt, options = settings
    with av.open(str(tmp), "w", format=fmt) as container:
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
    rgb = video.rgb()
    digits = max(6, len(str(video.frame_count)))
    for t in range(video.frame_count):
        encoder = av.CodecContext.create("png", "w")
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb[t], format="rgb24")
        data = b"".join(bytes(p) for p in list(encoder.encode(frame)) + list(encoder.encode(None)))
        (folder / f"frame_{t:0{digits}d}.png").write_bytes(data)
