"""SVT-AV1 as a baseline: the codec nrff already ships for its keyframes, coding every frame itself.

libsvtav1 through PyAV at one preset, CRF as the rate knob, its default random-access structure
and key-frame interval, one thread (lp=1: the stream is then the same on every machine). Counted
like nrff's keyframes: the low-overhead OBU stream without its 2-byte temporal delimiters (a
decoder finds the temporal units without them). Decoded by libdav1d, one thread.
"""

from __future__ import annotations

import dataclasses
import re
import time

import av
import numpy as np

from bitstream.av1 import OBU_TEMPORAL_DELIMITER, obu_type, split_obus

from ..core.ffmpeg import planes_from_frame
from ..core.keyframes import TEMPORAL_DELIMITER_OBU, coded_size
from ..core.video import Video
from . import machine
from .baselines import Codec, Coded, encode_packets

# SVT-AV1's presets, slowest first: -1 is its research preset, which its help lists among the
# debugging ones; -2 is one too, and codes far worse (docs/decisions/0057).
PRESETS = range(-1, 14)


def is_preset(text: str) -> bool:
    """Whether `text` names one of PRESETS ("-1", "0" .. "13"; "01" and "-0" name 1 and 0)."""
    return re.fullmatch(r"-?[0-9]+", text) is not None and int(text) in PRESETS


def canonical_preset(text: str) -> str:
    """The preset's own spelling ("01" -> "1", "-0" -> "0"), so one preset draws one curve, labelled once."""
    if not is_preset(text):
        raise ValueError(f"SVT-AV1 preset must be -1..13, got {text!r}")
    return str(int(text))


def strip_temporal_delimiters(packet: bytes) -> bytes:
    """A temporal unit's OBUs without its temporal delimiter."""
    return b"".join(u for u in split_obus(packet) if obu_type(u) != OBU_TEMPORAL_DELIMITER)


class SvtAv1(Codec):
    """libsvtav1 at one preset (-1 slowest .. 13), CRF 0..63, decoded by libdav1d."""

    name, setting_name = "svtav1", "crf"
    crf_limits = (0, 63)
    crf_start, crf_range = 40, (10, 63)
    MIN_SIDE = 8

    def __init__(self, preset: str = "4") -> None:
        self.preset = canonical_preset(preset)

    @property
    def label(self) -> str:
        return f"svtav1 p{self.preset}"

    def coded_size(self, video: Video) -> tuple[int, int]:
        return coded_size(video.height, self.MIN_SIDE), coded_size(video.width, self.MIN_SIDE)

    def options(self, crf: int) -> dict[str, str]:
        return {"preset": self.preset, "crf": str(crf), "svtav1-params": "lp=1"}

    def encode_units(self, video: Video, crf: int) -> list[bytes]:
        """One temporal unit per packet, temporal delimiters removed."""
        height, width = self.coded_size(video)
        packets = encode_packets("libsvtav1", video, height, width, self.options(crf))
        return [strip_temporal_delimiters(p) for p in packets]

    @staticmethod
    def decode_frames(units: list[bytes], like: Video) -> list[av.VideoFrame]:
        """libdav1d's pictures for the temporal units, one thread; as many as `like` has frames."""
        decoder = av.CodecContext.create("libdav1d", "r")
        decoder.thread_count = 1
        frames = []
        for unit in units:
            frames += decoder.decode(av.Packet(TEMPORAL_DELIMITER_OBU + unit))
        frames += decoder.decode(None)
        if len(frames) != like.frame_count:
            raise RuntimeError(f"svtav1 stream decoded to {len(frames)} frames, expected {like.frame_count}")
        return frames

    def decode_units(self, units: list[bytes], like: Video) -> Video:
        planes = [planes_from_frame(f, like.height, like.width) for f in self.decode_frames(units, like)]
        y, u, v = (np.stack([p[i] for p in planes]) for i in range(3))
        return dataclasses.replace(like, y=y, u=u, v=v, notes=[])

    def code(self, video: Video, crf: int) -> Coded:
        started = time.perf_counter()
        units = self.encode_units(video, crf)
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        decoded = self.decode_units(units, video)
        decode_s = time.perf_counter() - started
        versions = {k: v for k, v in machine.versions().items() if k in ("ffmpeg", "libavcodec", "pyav")}
        detail = {"coded_size": "{1}x{0}".format(*self.coded_size(video)), "temporal_units": len(units)}
        stored = b"".join(TEMPORAL_DELIMITER_OBU + u for u in units)  # kept with the delimiters that frame its units
        return Coded(b"".join(units), decoded, encode_s, decode_s, versions, detail, stored)

    def decode(self, stored: bytes, like: Video) -> Video:
        units: list[list[bytes]] = []
        for obu in split_obus(stored):
            if obu_type(obu) == OBU_TEMPORAL_DELIMITER:
                units.append([])
            else:
                units[-1].append(obu)
        return self.decode_units([b"".join(u) for u in units], like)
