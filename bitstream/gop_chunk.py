"""The payload of one GOP chunk: which GOP it is, its keyframe's bytes, its two networks' weights
(none when both networks are all zero, as in a GOP of one frame: format 3.1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .entropy import QuantizedTensor, TensorCodingInfo, decode_tensors, encode_tensors
from .header import MAX_FRAMES

MAX_NALS = 64
T = TypeVar("T")


@dataclasses.dataclass
class Keyframe:
    """An intra-coded picture: indices into the file's shared parameter sets, then its slice NAL units.

    NAL units are stored without start codes; the decoder puts `00 00 00 01` back.
    """

    parameter_set_ids: list[int]
    slices: list[bytes]

    @property
    def payload_bytes(self) -> int:
        return sum(len(s) for s in self.slices)


@dataclasses.dataclass
class GopChunk:
    """Everything one GOP adds to the file.

    The chunk repeats its place (GOP index, first frame, frames, keyframe offset; varints, ~5
    bytes) so that a chunk moved or swapped is caught even when its CRC is intact. The last three
    fields are what the reader found; the writer ignores them and returns its own (WrittenChunk).
    """

    gop_index: int
    first_frame: int
    frame_count: int
    key_offset: int
    keyframe: Keyframe
    networks: list[list[QuantizedTensor]]
    coding: list[list[TensorCodingInfo]] = dataclasses.field(default_factory=list)
    keyframe_size: int = 0  # bytes the keyframe occupies in the chunk
    weights_size: int = 0  # bytes the coded networks occupy in the chunk


@dataclasses.dataclass(frozen=True)
class WrittenChunk:
    """A GOP chunk's payload and where its bytes went."""

    data: bytes
    keyframe_size: int
    weights_size: int
    coding: list[list[TensorCodingInfo]]


def write_gop_chunk(chunk: GopChunk) -> WrittenChunk:
    writer = ByteWriter()
    for value in (chunk.gop_index, chunk.first_frame, chunk.frame_count, chunk.key_offset):
        writer.uvarint(value)
    start = len(writer)
    writer.uvarint(len(chunk.keyframe.parameter_set_ids))
    for pid in chunk.keyframe.parameter_set_ids:
        writer.uvarint(pid)
    writer.uvarint(len(chunk.keyframe.slices))
    for nal in chunk.keyframe.slices:
        writer.blob(nal)
    keyframe_size = len(writer) - start
    tensors = [t for network in chunk.networks for t in network]
    if all(not np.any(t.symbols) for t in tensors):
        # untrained (a GOP of one frame): an empty block stands for all-zero networks (format 3.1)
        return WrittenChunk(writer.getvalue(), keyframe_size, 0, [[] for _ in chunk.networks])
    data, infos = encode_tensors(tensors)
    writer.raw(data)  # one block for both networks, to the end of the chunk
    coding = _split(infos, [len(network) for network in chunk.networks])
    return WrittenChunk(writer.getvalue(), keyframe_size, len(data), coding)


def zero_tensor(shape: tuple[int, ...]) -> QuantizedTensor:
    """An untrained tensor: what an empty networks block stands for."""
    return QuantizedTensor(np.zeros(shape, dtype=np.int32), np.ones(1, dtype=np.float32))


def _split(items: list[T], counts: Sequence[int]) -> list[list[T]]:
    """`items` cut into consecutive lists of `counts` items: one per network."""
    out, first = [], 0
    for count in counts:
        out.append(items[first : first + count])
        first += count
    return out


def encoded_networks_size(networks: list[list[QuantizedTensor]]) -> int:
    """Bytes these networks would occupy in a GOP chunk: the encoder's rate measure for its GOP-length pilot."""
    return len(encode_tensors([t for tensors in networks for t in tensors])[0])


def read_parameter_set_ids(reader: ByteReader, count: int, parameter_set_count: int) -> list[int]:
    """A keyframe's `count` indices into the file's shared parameter sets."""
    ids = [reader.uvarint(parameter_set_count - 1 if parameter_set_count else 0) for _ in range(count)]
    if ids and not parameter_set_count:
        raise reader.error("keyframe refers to parameter sets but the file has none")
    return ids


def read_slices(reader: ByteReader, count: int) -> list[bytes]:
    """A keyframe's `count` slice blobs, at least one and none empty."""
    if count == 0:
        raise reader.error("keyframe has no slice data")
    slices = [reader.blob() for _ in range(count)]
    if any(len(s) == 0 for s in slices):
        raise reader.error("empty keyframe NAL unit")
    return slices


def read_gop_chunk(
    data: bytes,
    where: str,
    network_shapes: Sequence[Sequence[tuple[int, ...]]],
    parameter_set_count: int,
    base_offset: int = 0,
) -> GopChunk:
    reader = ByteReader(data, where, base_offset)
    gop_index, first, count, key_offset = [reader.uvarint(MAX_FRAMES) for _ in range(4)]
    start = reader.offset
    ids = read_parameter_set_ids(reader, reader.uvarint(MAX_NALS), parameter_set_count)
    slices = read_slices(reader, reader.uvarint(MAX_NALS))
    keyframe_size = reader.offset - start
    start = reader.offset
    counts = [len(shapes) for shapes in network_shapes]
    flat_shapes = [s for shapes in network_shapes for s in shapes]
    if reader.remaining == 0:  # no networks block: all-zero networks
        tensors, infos = [zero_tensor(tuple(s)) for s in flat_shapes], []
    else:
        tensors, infos = decode_tensors(reader, flat_shapes)
    networks, coding = _split(tensors, counts), _split(infos, counts)
    return GopChunk(
        gop_index,
        first,
        count,
        key_offset,
        Keyframe(ids, slices),
        networks,
        coding,
        keyframe_size,
        reader.offset - start,
    )
