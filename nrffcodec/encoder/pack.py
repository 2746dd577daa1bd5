"""Stage 5, quantize and pack: the trained GOPs' integers and the keyframes into the file's bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from bitstream import FieldArch, GopChunk, Header, QuantizedTensor, write_nrf

from ..core.fields import parameter_shapes
from .keyframes import CodedKeyframes
from .plan import EncodePlan
from .train import GopResult


@dataclasses.dataclass(frozen=True)
class PackedFile:
    """The file's bytes and where they went."""

    data: bytes
    keyframe_bytes: int  # keyframes in the chunks plus the shared parameter sets
    network_bytes: int

    @property
    def container_bytes(self) -> int:
        return len(self.data) - self.keyframe_bytes - self.network_bytes


def untrained_networks(archs: tuple[FieldArch, FieldArch]) -> list[list[QuantizedTensor]]:
    """A GOP with only its keyframe has all-zero networks; the chunk then stores no networks block (format 3.1)."""
    return [
        [QuantizedTensor(np.zeros(s, dtype=np.int32), np.ones(1, dtype=np.float32)) for s in parameter_shapes(a)]
        for a in archs
    ]


def pack_file(
    header: Header, plan: EncodePlan, keyframes: CodedKeyframes, results: Mapping[int, GopResult]
) -> PackedFile:
    """Write the .nrf: one chunk per GOP, its keyframe and its networks (zeros where nothing was trained)."""
    chunks = []
    for gop, keyframe in zip(plan.gops, keyframes.records):
        result = results.get(gop.index)
        networks = [result.flow, result.residual] if result else untrained_networks(plan.archs)
        chunks.append(GopChunk(gop.index, gop.first, gop.count, gop.key_offset, keyframe, networks))
    written = write_nrf(header, keyframes.parameter_sets, chunks)
    return PackedFile(
        written.data, written.keyframe_bytes + sum(len(p) for p in keyframes.parameter_sets), written.network_bytes
    )
