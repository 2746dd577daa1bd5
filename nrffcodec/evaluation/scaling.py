"""Clips brought to a stated size for benchmarks: scaled once, then every codec sees the same frames."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.ffmpeg import frame_from_planes, planes_from_frame
from ..core.video import Video
from ..errors import InputError


def scale_video(video: Video, width: int, height: int) -> Video:
    """Frames resized by FFmpeg's swscale (bicubic, as `ffmpeg -vf scale` does), staying 8-bit 4:2:0.

    For benchmarks that bring large clips to a stated size: scale once, then every codec is given
    the same scaled frames (write them losslessly with write_video(... .mkv) to keep them).
    """
    if width < 1 or height < 1:
        raise InputError(f"cannot scale to {width}x{height}")
    ys, us, vs = [], [], []
    for t in range(video.frame_count):
        frame = frame_from_planes(video.y[t], video.u[t], video.v[t])
        scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
        y, u, v = planes_from_frame(scaled, height, width)
        ys.append(y)
        us.append(u)
        vs.append(v)
    note = f"scaled from {video.width}x{video.height} to {width}x{height} (swscale bicubic)"
    return dataclasses.replace(video, y=np.stack(ys), u=np.stack(us), v=np.stack(vs), notes=video.notes + [note])
