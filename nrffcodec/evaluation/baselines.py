"""Classical anchors as small Codec classes (CompressAI style): libx264 and libx265 through PyAV
(SVT-AV1 is in svtav1.py).

Counted fairly against nrff's file bytes: the bitrate is the Annex B elementary stream exactly as
the encoder wrote it (start codes and parameter sets included) with the SEI NAL units cut out,
since x264's version string (~700 B) and x265's info (~2,400 B) are more than a low-rate QCIF
clip can afford and no decoder needs them. The stripped stream is what gets decoded and scored.
"""

from __future__ import annotations

import abc
import dataclasses
import io
import multiprocessing
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import av
import numpy as np

from ..core.ffmpeg import encode_pictures, planes_from_frame
from ..core.keyframes import START_CODE, coded_size, hevc_nal_type
from ..core.video import Video
from . import machine

H264_SEI = {6}
HEVC_SEI = {39, 40}  # prefix and suffix SEI
_VERSION_IN_SEI = {
    "x264": re.compile(rb"x264 - (core \d+(?: r\d+ \w+)?)"),
    "x265": re.compile(rb"x265 \(build \d+\) - ([\w.+-]+)"),
}


@dataclasses.dataclass
class Coded:
    """One encode + decode: the counted bytes, the decoded frames, and where the time went."""

    data: bytes
    decoded: Video
    encode_s: float
    decode_s: float
    versions: dict[str, str]
    detail: dict = dataclasses.field(default_factory=dict)
    stored: bytes | None = None  # what `Codec.decode` reads back when it differs from the counted data


class Codec(abc.ABC):
    """A codec the sweep can run: `code(video, setting)` encodes, decodes and times one point."""

    name: str
    setting_name: str  # what the rate knob is called: "crf", "quality"
    preset: str
    crf_limits = (0, 51)  # the CRFs the encoder accepts
    crf_start, crf_range = 32, (12, 51)  # where the sweep's CRF search starts, and how far it may go

    @property
    def label(self) -> str:
        """The curve's name in tables and plots (a codec run at two presets gives two curves)."""
        return self.name

    @abc.abstractmethod
    def code(self, video: Video, setting: int) -> Coded:
        """Encode `video` at `setting`, decode what was counted, return both."""

    @abc.abstractmethod
    def decode(self, stored: bytes, like: Video) -> Video:
        """Decode a point's stored stream again (compare.png), frames cropped to `like`'s."""

    def config(self, setting: int) -> dict:
        """Everything that changes this codec's output at `setting` (the reuse key of a sweep point)."""
        return {"codec": self.name, self.setting_name: setting, "preset": self.preset}


def encode_packets(encoder_name: str, video: Video, height: int, width: int, options: dict[str, str]) -> list[bytes]:
    """Every packet `encoder_name` writes for `video`'s frames, edge-padded to height x width, 8-bit yuv420p."""
    pictures = (video.planes(t) for t in range(video.frame_count))
    return encode_pictures(
        encoder_name, pictures, height, width, options, Fraction(1) / video.fps, video.full_range, video.fps
    )


# ---------------------------------------------------------------- Annex B


def _timed_encode(
    encoder_name: str, video: Video, height: int, width: int, options: dict[str, str]
) -> tuple[bytes, float]:
    """(every packet's bytes joined, seconds taken): a module-level function, so that a spawned process
    can run it."""
    started = time.perf_counter()
    stream = b"".join(encode_packets(encoder_name, video, height, width, options))
    return stream, time.perf_counter() - started


def h264_nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def drop_nal_units(stream: bytes, drop: Callable[[bytes], bool]) -> tuple[bytes, list[bytes]]:
    """Cut the NAL units `drop` picks out of an Annex B stream, with their start codes and leading
    zero bytes; every other byte stays as written. Returns (kept stream, dropped units)."""
    starts = [m.start() for m in START_CODE.finditer(stream)]
    bounds = []  # each unit's framing begins at the zero run before its start code
    for i, start in enumerate(starts):
        floor = starts[i - 1] + 3 if i else 0
        begin = start
        while begin > floor and stream[begin - 1] == 0:
            begin -= 1
        bounds.append(begin)
    kept, dropped = [stream[: bounds[0]] if bounds else stream], []
    for i, (begin, start) in enumerate(zip(bounds, starts)):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(stream)
        unit = stream[start + 3 : end]
        if unit and drop(unit):
            dropped.append(unit)
        else:
            kept.append(stream[begin:end])
    return b"".join(kept), dropped


# ---------------------------------------------------------------- x264 / x265


class X26x(Codec):
    """libx264 or libx265 at one preset, CRF as the rate knob, 8-bit yuv420p, one thread.

    One thread makes the stream identical on every machine (frame threading changes x264/x265's
    decisions). Odd sizes are edge-padded to even (4:2:0 needs it) and cropped after decoding; so
    are pictures smaller than `min_side` (x265 4.2 corrupts its heap on inter-coded pictures under
    about 56x48, e.g. 48x32). The bytes are those of the padded stream; bpp is over the source's
    pixels, the same denominator as nrff's.
    """

    setting_name = "crf"
    MIN_SIDE = {"x264": 16, "x265": 64}

    def __init__(self, name: str, preset: str = "medium") -> None:
        if name not in ("x264", "x265"):
            raise ValueError(f"unknown baseline {name!r}")
        self.name, self.preset = name, preset
        self.encoder = "lib" + name
        self.stream_format = "h264" if name == "x264" else "hevc"
        self.nal_type = h264_nal_type if name == "x264" else hevc_nal_type
        self.sei_types = H264_SEI if name == "x264" else HEVC_SEI
        self.min_side = self.MIN_SIDE[name]

    def coded_size(self, video: Video) -> tuple[int, int]:
        """(height, width) given to the encoder: even, and at least min_side."""
        return coded_size(video.height, self.min_side), coded_size(video.width, self.min_side)

    def options(self, crf: int) -> dict[str, str]:
        """The encoder options PyAV passes to FFmpeg (tests reuse them for an independent encode)."""
        options = {"preset": self.preset, "crf": str(crf)}
        if self.name == "x264":
            options["threads"] = "1"
        else:
            options["x265-params"] = "log-level=error:pools=none:frame-threads=1"
        return options

    def encode_stream(self, video: Video, crf: int) -> bytes:
        """The Annex B stream exactly as the encoder wrote it (SEI still in)."""
        return self.encode_timed(video, crf)[0]

    def encode_timed(self, video: Video, crf: int) -> tuple[bytes, float]:
        """(encode_stream's bytes, the encoder's seconds). x264 runs in a fresh process: its bytes
        depend on the state of the process's heap, one thread or not (after other libraries have
        allocated, the same frames come out up to 1% different); a fresh process gives the stream
        any clean process gives (docs/decisions/0064)."""
        height, width = self.coded_size(video)
        args = (self.encoder, video, height, width, self.options(crf))
        if self.name != "x264":
            return _timed_encode(*args)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(_timed_encode, *args).result()

    def strip_sei(self, stream: bytes) -> tuple[bytes, list[bytes]]:
        return drop_nal_units(stream, lambda unit: self.nal_type(unit) in self.sei_types)

    def decode_stream(self, stream: bytes, like: Video) -> Video:
        """Decode an Annex B stream with FFmpeg's own decoder (one thread), cropped to `like`'s size."""
        ys, us, vs = [], [], []
        with av.open(io.BytesIO(stream), format=self.stream_format) as container:
            container.streams.video[0].codec_context.thread_count = 1
            for frame in container.decode(video=0):
                y, u, v = planes_from_frame(frame, like.height, like.width)
                ys.append(y)
                us.append(u)
                vs.append(v)
        if len(ys) != like.frame_count:
            raise RuntimeError(f"{self.name} stream decoded to {len(ys)} frames, expected {like.frame_count}")
        return dataclasses.replace(like, y=np.stack(ys), u=np.stack(us), v=np.stack(vs), notes=[])

    def decode(self, stored: bytes, like: Video) -> Video:
        return self.decode_stream(stored, like)

    def code(self, video: Video, crf: int) -> Coded:
        raw, encode_s = self.encode_timed(video, crf)
        stream, dropped = self.strip_sei(raw)
        started = time.perf_counter()
        decoded = self.decode_stream(stream, video)
        decode_s = time.perf_counter() - started
        versions = {k: v for k, v in machine.versions().items() if k in ("ffmpeg", "libavcodec", "pyav")}
        found = [m.group(1).decode() for m in map(_VERSION_IN_SEI[self.name].search, dropped) if m]
        if found:
            versions[self.name] = found[0]
        detail = {"sei_bytes": len(raw) - len(stream), "coded_size": "{1}x{0}".format(*self.coded_size(video))}
        return Coded(stream, decoded, encode_s, decode_s, versions, detail)
