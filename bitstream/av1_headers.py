"""A run of AV1 keyframes with its frame headers coded by a model (KHDR, format 4.2).

    obus    := header_words:uvarint  word x header_words  (tile_size - 1:uvarint  tile) per frame OBU
    word    := 32 bits, little-endian: the range-coded headers of every OBU, in order

A frame header OBU shows a frame again (SHOWN_AGAIN in bitstream/av1.py) and is only its header;
a frame OBU is its header, zero bits to a byte boundary, then its one tile's data, stored as is.
The headers are walked field by field (bitstream/av1_frame_header.py) and each field is coded
against its predictions (bitstream/av1_header_model.py); at small sizes and low rates they are
a quarter of SVT-AV1's bytes, and most of them repeat (docs/decisions/0063).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import constriction
import numpy as np

from .av1 import OBU_FRAME, OBU_SEQUENCE_HEADER, SHOWN_AGAIN, implied_header, leb128, obu_type, read_size
from .av1_frame_header import apply, frame_header
from .av1_header_model import HeaderModel, probability_of_one
from .av1_syntax import BitReader, BitWriter, ReferenceSlots, SequenceHeader, Unsupported, parse_sequence_header
from .bytes_io import ByteReader, ByteWriter

MAX_HEADER_WORDS = 1 << 28


def sequence_header_of(unit: bytes) -> SequenceHeader:
    """The parsed sequence header OBU (with its header byte and size field); Unsupported otherwise."""
    if not unit or obu_type(unit) != OBU_SEQUENCE_HEADER or unit[0] & 0x04:
        raise Unsupported("not a sequence header OBU without extension")
    size, cursor = read_size(unit, 1, 0)
    return parse_sequence_header(unit[cursor : cursor + size])


class HeaderEncoding:
    """Field source for the writer: reads the OBU's bits, codes each field through the model with the
    range coder whose words a KHDR stores (code_bit; benchmarks/header_costs.py costs them instead)."""

    def __init__(self, seq: SequenceHeader) -> None:
        self.encoder = constriction.stream.queue.RangeEncoder()
        self.model = HeaderModel(ReferenceSlots(), seq.order_hint_bits, self.code_bit)
        self.reader = BitReader(b"")

    def code_bit(self, counts: list[int], bit: int | None) -> int:
        assert bit is not None
        self.encoder.encode(bit, constriction.stream.model.Bernoulli(probability_of_one(counts), perfect=False))
        return bit

    def f(self, name: str, bits: int) -> int:
        value = self.reader.f(name, bits)
        self.model.field(name, bits, value)
        return value


class _Decoding:
    """Field source for the reader: decodes each field through the model, writes its bits."""

    def __init__(self, seq: SequenceHeader, words: np.ndarray) -> None:
        self.decoder = constriction.stream.queue.RangeDecoder(words)
        self.model = HeaderModel(ReferenceSlots(), seq.order_hint_bits, self._code)
        self.writer = BitWriter()
        self.bits = 0.0  # the model's cost of what it decoded, for the sizes reported

    def _code(self, counts: list[int], bit: int | None) -> int:
        p = probability_of_one(counts)
        try:
            bit = int(self.decoder.decode(constriction.stream.model.Bernoulli(p, perfect=False)))
        except Exception as exc:  # noqa: BLE001 - constriction raises AssertionError on data no encoder wrote
            raise ValueError(f"range decoder: {exc}") from None
        self.bits -= math.log2(p if bit else 1 - p)
        return bit

    def f(self, name: str, bits: int) -> int:
        value = self.model.field(name, bits, None)
        self.writer.put(value, bits)
        return value


def code_headers(units: Sequence[bytes], seq: SequenceHeader) -> bytes:
    """The `obus` of a KHDR for these OBUs (frames and frames shown again, as SVT-AV1 writes them).
    Raises Unsupported where one would not come back byte for byte."""
    source = HeaderEncoding(seq)
    tiles = ByteWriter()
    for tile in walk_headers(source, units, seq):
        tiles.uvarint(len(tile) - 1)
        tiles.raw(tile)
    words = source.encoder.get_compressed()
    out = ByteWriter()
    out.uvarint(len(words))
    out.raw(words.astype("<u4").tobytes())
    return out.getvalue() + tiles.getvalue()


def walk_headers(source: HeaderEncoding, units: Sequence[bytes], seq: SequenceHeader) -> list[bytes]:
    """Code the frame headers of `units` through `source`, in order; the tile data of each frame OBU.
    Raises Unsupported where the OBUs are not as SVT-AV1 writes them."""
    tiles = []
    for unit in units:
        source.model.start_frame()
        if unit in SHOWN_AGAIN:
            source.reader = BitReader(unit[2:])
        else:
            size, cursor = read_size(unit, 1, 0)
            payload = unit[cursor:]
            canonical = unit[1:cursor] == leb128(size) and obu_type(unit) == OBU_FRAME
            if not payload or not canonical or unit[0] != implied_header(payload):
                raise Unsupported("an OBU other than a frame or a frame shown again, as SVT-AV1 writes them")
            source.reader = BitReader(payload)
        summary = frame_header(source, seq, source.model.slots)
        apply(summary, source.model.slots)
        if summary.show_existing_frame != (unit in SHOWN_AGAIN):
            raise Unsupported("a frame header OBU that does not show a frame again")
        if unit in SHOWN_AGAIN:
            continue
        reader = source.reader
        if reader.f("byte_alignment", -reader.position % 8):
            raise Unsupported("AV1 frame header: byte alignment bits not zero")
        tile = payload[reader.position // 8 :]
        if not tile:
            raise Unsupported("AV1 frame without tile data")
        tiles.append(tile)
    return tiles


@dataclasses.dataclass(frozen=True)
class DecodedObus:
    """A KHDR's OBUs, and what each takes of the stored bytes: its tile record, and a share of the
    coded headers in proportion to the model's cost of its header (sizes for `nrff info`)."""

    units: list[bytes]
    header_bits: list[float]
    tile_bytes: list[int]
    header_bytes: int  # the word count and the words

    def stored_bytes(self) -> list[int]:
        total, weights = self.header_bytes, self.header_bits
        exact = [total * w / sum(weights) for w in weights]
        shares = [int(x) for x in exact]
        for i in sorted(range(len(exact)), key=lambda i: (shares[i] - exact[i], i))[: total - sum(shares)]:
            shares[i] += 1
        return [share + tile for share, tile in zip(shares, self.tile_bytes)]


def decode_headers(data: bytes, seq: SequenceHeader, pictures: int, where: str, base_offset: int = 0) -> DecodedObus:
    """The OBUs of a KHDR's `obus`, up to the one showing its `pictures`-th picture. Raises
    BitstreamError on data that does not decode, or does not end there."""
    reader = ByteReader(data, where, base_offset)
    count = reader.uvarint(MAX_HEADER_WORDS)
    if reader.remaining < 4 * count:
        raise reader.error(f"{count} header words in {reader.remaining} bytes (truncated?)")
    words = np.frombuffer(reader.raw(4 * count), dtype="<u4").astype(np.uint32)
    source = _Decoding(seq, words)
    units: list[bytes] = []
    header_bits: list[float] = []
    tile_bytes: list[int] = []
    header_bytes, shown = reader.offset, 0
    while shown < pictures:
        source.model.start_frame()
        source.writer, source.bits, start = BitWriter(), 0.0, reader.offset
        try:
            summary = frame_header(source, seq, source.model.slots)
        except ValueError as exc:  # Unsupported, or the range decoder refusing its data
            raise reader.error(f"frame header of OBU {len(units)} does not decode ({exc})") from None
        apply(summary, source.model.slots)
        if summary.show_existing_frame:
            units.append(SHOWN_AGAIN[summary.frame_to_show])
            shown += 1
        else:
            size = reader.uvarint(len(data)) + 1
            if size > reader.remaining:
                raise reader.error(f"tile of {size} bytes runs past the end ({reader.remaining} left)")
            payload = source.writer.aligned_bytes() + reader.raw(size)
            units.append(bytes([OBU_FRAME << 3 | 0x02]) + leb128(len(payload)) + payload)
            shown += summary.show_frame
        header_bits.append(source.bits)
        tile_bytes.append(reader.offset - start)
    reader.expect_end()
    return DecodedObus(units, header_bits, tile_bytes, header_bytes)
