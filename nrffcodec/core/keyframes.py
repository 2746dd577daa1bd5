"""Keyframes: one picture per GOP, coded by a standard codec and decoded by FFmpeg, through PyAV.

Two codecs, chosen per file (header field `keyframe_codec`):
- HEVC: x265 at constant QP, decoded by FFmpeg's hevc decoder;
- AV1 (the default, docs/decisions/): SVT-AV1 at constant QP, decoded by libdav1d.

Only the units a decoder needs are kept: no SEI (x265 writes ~2 kB of version info there), no
access-unit delimiters or temporal delimiters. Parameter sets (HEVC VPS/SPS/PPS, the AV1
sequence header) are usually identical across keyframes, so the container stores them once and
each keyframe refers to them by index.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av

from bitstream import BitstreamError, KeyframeCodec
from bitstream.av1 import OBU_FRAME, OBU_FRAME_HEADER, OBU_SEQUENCE_HEADER, OBU_TILE_GROUP, obu_type, split_obus

from .ffmpeg import YUV420_FORMATS, encode_pictures, planes_from_frame
from .video import Planes


@dataclasses.dataclass
class CodedKeyframe:
    parameter_sets: list[bytes]
    slices: list[bytes]

    @property
    def size(self) -> int:
        return sum(map(len, self.parameter_sets)) + sum(map(len, self.slices))


# ---------------------------------------------------------------- HEVC (Annex B NAL units)

HEVC_PARAMETER_SET_TYPES = {32, 33, 34}  # VPS, SPS, PPS
HEVC_SLICE_TYPES = set(range(0, 32))
START_CODE = re.compile(b"\x00\x00\x01")


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream, without start codes or trailing zero bytes."""
    starts = [m.end() for m in START_CODE.finditer(data)]
    units = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        unit = data[begin:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def hevc_nal_type(unit: bytes) -> int:
    """HEVC nal_unit_type of a NAL unit (first header byte, bits 1-6)."""
    return (unit[0] >> 1) & 0x3F


def join_annexb(units: list[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


# ---------------------------------------------------------------- AV1 (low-overhead OBU stream)

AV1_PICTURE_TYPES = {OBU_FRAME_HEADER, OBU_TILE_GROUP, OBU_FRAME}
TEMPORAL_DELIMITER_OBU = b"\x12\x00"  # a whole temporal-delimiter OBU (type 2, size 0)


# ---------------------------------------------------------------- codecs


# SVT-AV1's preset for each nrff --preset: a clip has few keyframes, so a slow preset costs seconds
# where training costs minutes. `slow` takes -1, SVT-AV1's research preset: about 2% fewer bytes
# than 0 for 3-4 times its time, too slow for medium's long clips (docs/decisions/0057).
SVT_AV1_PRESET = {"fast": 3, "medium": 0, "slow": -1}


def svt_av1_preset(preset: str) -> str:
    """SVT-AV1's preset, as its option takes it, for nrff's --preset `preset`."""
    return str(SVT_AV1_PRESET[preset])


# The keyframe chain: random access (keyframes also predicted from later ones through hidden
# frames), closed intra keyframes, no temporal filtering, a flat QP cascade since every keyframe
# is a whole GOP's reference (docs/decisions/).
SVT_AV1_STRUCTURE = "pred-struct=2:irefresh-type=2:enable-tf=0:hierarchical-levels=2"
# When every frame is a keyframe (GOP length 1) the chain is the video itself: SVT-AV1's own
# random-access hierarchy, temporal filtering and QP cascade at CRF = the keyframe QP (its
# default closed key frames at every keyframe period).
# Keyframes are coded before any GOP trains, so SVT-AV1 may use the machine; its bytes do not
# depend on the thread count.
KEYFRAME_THREADS = max(1, min(8, os.cpu_count() or 1))


def coded_size(length: int, minimum: int) -> int:
    """Side length the intra encoder is given: even (4:2:0) and at least `minimum`; decoders crop back."""
    return max(minimum, length + length % 2)


@dataclasses.dataclass(frozen=True)
class KeyframeCoder:
    """How one keyframe codec is driven through PyAV.

    The keyframes of a video are coded as one stream in GOP order: keyframe i is an intra picture
    when i is a multiple of `period`, otherwise a predicted picture: HEVC, a P picture from keyframe
    i - 1; AV1, from earlier keyframes and from hidden frames that stand for later ones
    (SVT_AV1_STRUCTURE). Either way keyframe i decodes from the units of its intra keyframe to i.
    period 1 makes every keyframe intra: any GOP decodes alone, for several times the bytes.
    """

    codec: KeyframeCodec
    encoder: str
    decoder: str
    min_side: int
    max_qp: int

    def options(self, qp: int, period: int, preset: str = "medium", every_frame: bool = False) -> dict[str, str]:
        """Encoder options; `preset` is nrff's --preset (x265 keeps `slow`: its slower presets gain nothing here);
        `every_frame`: the keyframes are all the video's frames (AV1 then uses its own structure)."""
        if self.codec == KeyframeCodec.HEVC:
            return {
                "preset": "slow",
                "tune": "psnr",
                "x265-params": f"qp={qp}:info=0:log-level=error:pools=none:frame-threads=1:keyint={period}:"
                f"min-keyint={period}:scenecut=0:bframes=0:open-gop=0:rc-lookahead=0",
            }
        common = f"tune=1:lp={KEYFRAME_THREADS}:keyint={period}:scd=0"
        if every_frame:  # CRF mode: constant QP would turn off SVT-AV1's TPL and adaptive quantisation
            return {"preset": svt_av1_preset(preset), "crf": str(qp), "svtav1-params": common}
        return {
            "preset": svt_av1_preset(preset),
            "qp": str(qp),
            "svtav1-params": f"rc=0:{common}:{SVT_AV1_STRUCTURE}",
        }

    def split(self, data: bytes) -> CodedKeyframe:
        if self.codec == KeyframeCodec.HEVC:
            units = split_annexb(data)
            return CodedKeyframe(
                [u for u in units if hevc_nal_type(u) in HEVC_PARAMETER_SET_TYPES],
                [u for u in units if hevc_nal_type(u) in HEVC_SLICE_TYPES],
            )
        units = split_obus(data)
        return CodedKeyframe(
            [u for u in units if obu_type(u) == OBU_SEQUENCE_HEADER],
            [u for u in units if obu_type(u) in AV1_PICTURE_TYPES],
        )

    def join(self, parameter_sets: list[bytes], slices: list[bytes]) -> bytes:
        if self.codec == KeyframeCodec.HEVC:
            return join_annexb(parameter_sets + slices)
        return TEMPORAL_DELIMITER_OBU + b"".join(parameter_sets + slices)

    def encode_sequence(
        self,
        pictures: Iterable[Planes],
        qp: int,
        period: int = 1,
        full_range: bool = False,
        preset: str = "medium",
        every_frame: bool = False,
    ) -> list[CodedKeyframe]:
        """Code keyframes in order, intra every `period`; odd or tiny sizes are edge-padded (the decoder crops).

        `pictures` may be a generator: each is handed to the encoder as it comes, so a chain of any
        length holds only the encoder's own lookahead (one stream, so the bytes are the chain's).
        """
        if not 0 <= qp <= self.max_qp:
            raise ValueError(f"{self.codec.name} QP {qp} outside 0..{self.max_qp}")
        pictures = iter(pictures)
        first = next(pictures)
        coded_h, coded_w = self.coded_shape(*first[0].shape)
        options = self.options(qp, max(1, period), preset, every_frame)
        count = 0

        def counted() -> Iterator[Planes]:
            nonlocal count
            for planes in itertools.chain([first], pictures):
                count += 1
                yield planes

        packets = encode_pictures(self.encoder, counted(), coded_h, coded_w, options, Fraction(1, 25), full_range)
        if len(packets) != count:
            raise RuntimeError(f"{self.encoder} gave {len(packets)} pictures for {count} keyframes")
        coded = [self.split(p) for p in packets]
        if not all(c.slices for c in coded) or not coded[0].parameter_sets:
            raise RuntimeError(f"{self.encoder} produced an empty picture")
        return coded

    def coded_shape(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the picture the encoder is given and the decoder returns."""
        return coded_size(height, self.min_side), coded_size(width, self.min_side)

    def pixel_allowance(self, height: int, width: int) -> int:
        """Pixels FFmpeg may allocate for the keyframe: its coded size plus the decoder's alignment padding."""
        coded_h, coded_w = self.coded_shape(height, width)
        return (coded_w + 128) * (coded_h + 128)

    def decode_sequence(
        self, coded: list[tuple[list[bytes], list[bytes]]], height: int, width: int, where: str = "keyframe"
    ) -> list[Planes]:
        """Decode keyframes in order, the first of them intra: (parameter sets, slices) each."""
        return list(self.decode_stream(coded, height, width, where))

    def decode_stream(
        self, coded: Iterable[tuple[list[bytes], list[bytes]]], height: int, width: int, where: str = "keyframe"
    ) -> Iterator[Planes]:
        """decode_sequence one picture at a time: each is yielded as the decoder gives it, and `coded`
        is read as the decoder needs it, so a chain of any length holds one decoder's references."""
        name = self.codec.name
        try:
            decoder = av.CodecContext.create(self.decoder, "r")
            decoder.thread_count = 1
            # a hostile sequence header may claim a huge picture: FFmpeg refuses one larger than the
            # header's before allocating
            decoder.options = {"max_pixels": str(self.pixel_allowance(height, width))}
        except (av.error.FFmpegError, ValueError) as exc:
            raise BitstreamError(f"{where}: {name} decoder does not open ({exc})") from None
        fed = given = 0
        for unit in itertools.chain(coded, [None]):
            if unit is not None:
                fed += 1
            try:
                frames = decoder.decode(None if unit is None else av.Packet(self.join(*unit)))
            except (av.error.FFmpegError, ValueError) as exc:
                raise BitstreamError(f"{where}: {name} data does not decode ({exc})") from None
            for frame in frames:
                given += 1
                if given > fed:
                    raise BitstreamError(f"{where}: {name} data holds more pictures than its {fed} keyframes")
                yield self._checked(frame, height, width, where)
        if given != fed:
            raise BitstreamError(f"{where}: {name} data holds {given} pictures, expected {fed}")

    def _checked(self, frame: av.VideoFrame, height: int, width: int, where: str) -> Planes:
        expected = self.coded_shape(height, width)[::-1]  # (width, height), as PyAV reports them
        if frame.format.name not in YUV420_FORMATS or (frame.width, frame.height) != expected:
            raise BitstreamError(
                f"{where}: picture is {frame.width}x{frame.height} {frame.format.name}, "
                f"expected {expected[0]}x{expected[1]} yuv420p"
            )
        return planes_from_frame(frame, height, width)


CODECS: dict[KeyframeCodec, KeyframeCoder] = {
    # x265 refuses pictures smaller than one 16x16 block
    KeyframeCodec.HEVC: KeyframeCoder(KeyframeCodec.HEVC, "libx265", "hevc", min_side=16, max_qp=51),
    KeyframeCodec.AV1: KeyframeCoder(KeyframeCodec.AV1, "libsvtav1", "libdav1d", min_side=8, max_qp=63),
}


def keyframe_coder(codec: int) -> KeyframeCoder:
    return CODECS[KeyframeCodec(codec)]
