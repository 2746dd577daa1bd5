"""Stage 2, the keyframe chain: one picture per GOP coded by the keyframe codec, then decoded back.

The encoder trains against the decoded keyframes, the very pictures the decoder will warp.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bitstream import Keyframe, KeyframeCodec
from bitstream.av1 import pack_obus

from ..core.gop import Gop
from ..core.keychain import KeyframeGroups, decode_keyframes
from ..core.keyframes import keyframe_coder
from ..core.quality import rgb_mse
from ..core.video import FrameSource, Planes, Video
from .plan import EncodePlan


@dataclasses.dataclass(frozen=True)
class CodedKeyframes:
    """The chain as the file stores it: shared parameter sets, then one record per GOP."""

    parameter_sets: tuple[bytes, ...]
    records: tuple[Keyframe, ...]

    @property
    def bytes(self) -> int:
        return sum(k.payload_bytes for k in self.records) + sum(len(p) for p in self.parameter_sets)

    def stored_bytes(self, gops: Sequence[Gop], codec: KeyframeCodec) -> int:
        """`bytes` as a file holds them, where `gops` are the plan's: a run of AV1 keyframes of GOPs with
        nothing to predict is a KPAK, its OBUs without header bytes (format 4.1, docs/decisions/0061)."""
        if codec != KeyframeCodec.AV1:
            return self.bytes
        packed = (self.records[g.index] for g in gops if not g.predicted)
        return self.bytes - sum(k.payload_bytes - len(pack_obus(k.slices) or b"".join(k.slices)) for k in packed)


def code_keyframes(video: FrameSource, plan: EncodePlan, preset: str) -> CodedKeyframes:
    """Code every GOP's keyframe (one stream, intra every keyframe period); share identical parameter sets.

    The pictures are read from the source as the keyframe encoder takes them, one frame at a time.
    """
    reader = video.reader()
    pictures = (reader.frames(g.key, g.key + 1).planes(0) for g in plan.gops)
    codec = keyframe_coder(plan.keyframe_codec)
    parameter_sets: list[bytes] = []
    records = []
    every_frame = plan.gop_length == 1
    coded_all = codec.encode_sequence(
        pictures, plan.keyframe_qp, plan.keyframe_period, video.full_range, preset, every_frame
    )
    for coded in coded_all:
        ids = []
        for unit in coded.parameter_sets:
            if unit not in parameter_sets:
                parameter_sets.append(unit)
            ids.append(parameter_sets.index(unit))
        records.append(Keyframe(ids, coded.slices))
    return CodedKeyframes(tuple(parameter_sets), tuple(records))


def decode_all(keyframes: CodedKeyframes, plan: EncodePlan, height: int, width: int) -> dict[int, Planes]:
    """Every GOP's keyframe as the decoder will see it."""
    return decode_keyframes(
        keyframe_coder(plan.keyframe_codec),
        keyframes.parameter_sets,
        dict(enumerate(keyframes.records)),
        range(len(plan.gops)),
        plan.keyframe_period,
        height,
        width,
    )


def keyframe_groups(keyframes: CodedKeyframes, plan: EncodePlan, height: int, width: int) -> KeyframeGroups:
    """Every GOP's keyframe as the decoder will see it, decoded one intra group at a time when asked for."""
    return KeyframeGroups(
        keyframe_coder(plan.keyframe_codec),
        keyframes.parameter_sets,
        keyframes.records.__getitem__,
        len(plan.gops),
        plan.keyframe_period,
        height,
        width,
    )


def keyframe_sse(video: Video, gops: Sequence[Gop], decoded: dict[int, Planes]) -> float:
    """Squared error of the decoded keyframes in 8-bit RGB, summed over pixels (mean over channels)."""
    return (
        sum(rgb_mse(video.planes(g.key), decoded[g.index], video.matrix, video.full_range) for g in gops)
        * video.width
        * video.height
    )
