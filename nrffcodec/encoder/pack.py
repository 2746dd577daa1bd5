"""Stage 5, quantize and pack: the trained GOPs' integers and the keyframes into the file's bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from bitstream import FieldArch, GopChunk, Header, Keyframe, QuantizedTensor, write_nrf, write_nrf_file
from bitstream.gop_chunk import zero_tensor

from ..core.fields import parameter_shapes
from ..core.lazy import MadeOnRequest
from ..errors import OutputError
from .keyframes import CodedKeyframes
from .plan import EncodePlan
from .train import GopResult


@dataclasses.dataclass(frozen=True)
class PackedFile:
    """The file, as bytes (`data`) or written to `path`, and where its bytes went."""

    size: int
    keyframe_bytes: int  # keyframes in the chunks plus the shared parameter sets
    network_bytes: int
    data: bytes | None = None
    path: Path | None = None

    @property
    def container_bytes(self) -> int:
        return self.size - self.keyframe_bytes - self.network_bytes

    @property
    def source(self) -> bytes | Path:
        """What the decoder reads: the bytes, or the file."""
        if self.data is not None:
            return self.data
        assert self.path is not None, "a packed file is bytes or a file"
        return self.path


def untrained_networks(archs: tuple[FieldArch, FieldArch]) -> list[list[QuantizedTensor]]:
    """A GOP with only its keyframe has all-zero networks; the chunk then stores no networks block (format 3.1)."""
    return [[zero_tensor(shape) for shape in parameter_shapes(a)] for a in archs]


class PlannedChunks(MadeOnRequest[GopChunk]):
    """The file's chunks by GOP, each made when the writer comes to it: its keyframe read then
    (from disk where the chain was spooled), so the writer holds one run's keyframes at a time."""

    def __init__(self, plan: EncodePlan, records: Sequence[Keyframe], results: Mapping[int, GopResult]) -> None:
        self._gops = plan.gops
        self._records = records
        self._results = results
        self._untrained = untrained_networks(plan.archs)  # one set for every GOP without networks: read, never changed

    def __len__(self) -> int:
        return len(self._gops)

    def make(self, index: int) -> GopChunk:
        gop = self._gops[index]
        result = self._results.get(gop.index)
        networks = [result.flow, result.residual] if result else self._untrained
        return GopChunk(gop.index, gop.first, gop.count, gop.key_offset, self._records[gop.index], networks)


def pack_file(
    header: Header,
    plan: EncodePlan,
    keyframes: CodedKeyframes,
    results: Mapping[int, GopResult],
    into: Path | None = None,
) -> PackedFile:
    """Write the .nrf: one chunk per GOP, its keyframe and its networks (zeros where nothing was trained);
    as bytes, or to the file `into` a section at a time (write_nrf_file)."""
    chunks = PlannedChunks(plan, keyframes.records, results)
    parameter_set_bytes = sum(len(p) for p in keyframes.parameter_sets)
    if into is not None:
        try:
            sizes = write_nrf_file(into, header, keyframes.parameter_sets, chunks)
        except OSError as exc:
            raise OutputError(f"cannot write the file in {into.parent}: {exc.strerror or exc}") from None
        return PackedFile(sizes.size, sizes.keyframe_bytes + parameter_set_bytes, sizes.network_bytes, path=into)
    written = write_nrf(header, keyframes.parameter_sets, chunks)
    return PackedFile(
        len(written.data), written.keyframe_bytes + parameter_set_bytes, written.network_bytes, data=written.data
    )
