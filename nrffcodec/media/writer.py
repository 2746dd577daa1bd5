"""Video out through PyAV: .mp4 (H.264), .mkv (FFV1, lossless), .y4m, or a folder of PNGs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np

from ..core.colour import upsample_chroma
from ..core.ffmpeg import color_range_of, colorspace_of, frame_from_planes
from ..core.video import Video
from ..errors import OutputError
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


def write_video(path: str | os.PathLike, video: Video) -> None:
    """Write by extension: .mp4 (H.264 yuv420p CRF 12; yuv444p when a side is odd), .mkv (FFV1), .y4m, PNG folder."""
    with video_writer(path, video) as sink:
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
def video_writer(path: str | os.PathLike, like: Video, total: int | None = None) -> Iterator[VideoSink]:
    """Stream frames into `path` by extension (see write_video): the output's name appears, complete, only
    when the block succeeds. `like` gives the size, frame rate and colour (any frames of the video);
    `total`, the frame count to come, sizes PNG numbers (default: like's)."""
    kind = output_kind(path)
    digits = max(6, len(str(like.frame_count if total is None else total)))
    try:
        with atomic_output(path, is_dir=(kind == "png")) as tmp:
            if kind == "png":
                sink = VideoSink(lambda video: _write_pngs(tmp, video, sink.frames, digits))
                yield sink
            else:
                with _open_stream(tmp, kind, like) as write:
                    yield VideoSink(write)
    except av.error.FFmpegError as exc:
        raise OutputError(f"cannot write {path}: {failure_reason(exc)}") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _open_stream(tmp: Path, kind: str, video: Video) -> Iterator[Callable[[Video], None]]:
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
                written += 1
                for packet in stream.encode(frame):
                    container.mux(packet)

        yield write
        for packet in stream.encode(None):
            container.mux(packet)


def _write_pngs(folder: Path, video: Video, first: int, digits: int) -> None:
    """PNG files frame_NNNNNN.png, numbered on from `first` (the frames written before)."""
    rgb = video.rgb()
    for t in range(video.frame_count):
        encoder = av.CodecContext.create("png", "w")
        encoder.width, encoder.height, encoder.pix_fmt = video.width, video.height, "rgb24"
        frame = av.VideoFrame.from_ndarray(rgb[t], format="rgb24")
        data = b"".join(bytes(p) for p in list(encoder.encode(frame)) + list(encoder.encode(None)))
        (folder / f"frame_{first + t:0{digits}d}.png").write_bytes(data)
