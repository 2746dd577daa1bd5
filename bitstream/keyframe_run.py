"""Keyframe runs: consecutive one-frame GOPs without networks in one KRUN (3.3) or KSTR (3.4) section.

    krun     := place  keyframe x place.gops
    place    := first_gop:uvarint  first_frame:uvarint  gops:uvarint      (must equal the index)
    keyframe := layout:uvarint  parameter_set_id:uvarint x n_ids  slice:blob x n_slices
    layout   := n_ids * 64 + (n_slices - 1)

    kstr     := place  refs  obus                          (AV1 keyframes only)
    refs     := count:uvarint  (position:uvarint  parameter_set_id:uvarint) x count
    obus     := the run's OBUs, to the payload's end: keyframes end at the OBU showing their picture
    packed   := (code:uvarint [payload[code - 7]]) per OBU, to the payload's end (bitstream/av1.py pack_obus)
    headers  := the OBUs with their frame headers modelled, to the payload's end (bitstream/av1_headers.py)

A GOP of one frame coded by the keyframe codec alone paid ~20 bytes of framing in its own GOPC
section (tag, length, CRC, place, counts, index entry); in a KRUN it pays its layout byte and its
slices' lengths, in a KSTR nothing: AV1's OBUs delimit themselves (bitstream/av1.py). A KPAK
also drops each OBU's header byte, which its payload implies; a KHDR (4.2, the sections are
`place refs headers`) also codes the frames' headers against each other, given the file's one
sequence header. The reader expands a run back into the GopChunks a GOPC would have given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .av1 import group_temporal_units, pack_obus, split_obus, unpack_obus
from .av1_headers import code_headers, decode_headers, sequence_header_of
from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .gop_chunk import MAX_NALS, GopChunk, Keyframe, read_parameter_set_ids, read_slices
from .header import MAX_FRAMES
from .records import VARINT, read_record, wire, write_record

RUN_TAG = b"KRUN"
STREAM_RUN_TAG = b"KSTR"  # since 3.4
PACKED_RUN_TAG = b"KPAK"  # since 4.1
HEADER_RUN_TAG = b"KHDR"  # since 4.2
RUN_TAGS = (RUN_TAG, STREAM_RUN_TAG, PACKED_RUN_TAG, HEADER_RUN_TAG)
AV1_RUN_TAGS = (HEADER_RUN_TAG, PACKED_RUN_TAG, STREAM_RUN_TAG)  # the writer's preference
MIN_RUN_GOPS = 2  # a lone weightless GOP stays a GOPC: the file keeps the 3.2 layout when it has no run
SPLIT_RUN_GOPS = 256  # since 4.1 a run this long ends at the next intra keyframe (split_runs)
MIN_KEYFRAME_BYTES = 3  # layout, one slice's length, one byte of it (a KSTR's OBU: header, size, a byte)
MIN_PACKED_KEYFRAME_BYTES = 1  # a KPAK's frame shown again: its code


@dataclasses.dataclass(frozen=True)
class RunPlace:
    """Where the run sits: repeated from the index so that a section moved or swapped is caught."""

    first_gop: int = wire(VARINT, 0, MAX_FRAMES - 1)
    first_frame: int = wire(VARINT, 0, MAX_FRAMES - 1)
    gops: int = wire(VARINT, MIN_RUN_GOPS, MAX_FRAMES)


def is_weightless_frame(chunk: GopChunk) -> bool:
    """A one-frame GOP whose networks are all zero: its chunk would be only its keyframe."""
    return chunk.frame_count == 1 and all(not np.any(t.symbols) for net in chunk.networks for t in net)


def min_run_length(gops: int) -> int:
    """Fewest payload bytes a run of `gops` keyframes can have, of any kind (a KPAK's: the place's three
    uvarints, the references' count, a byte a keyframe): the index's lengths are checked against it."""
    return 4 + MIN_PACKED_KEYFRAME_BYTES * gops


def _placed_writer(chunks: Sequence[GopChunk]) -> ByteWriter:
    """A writer holding the run's place, once every chunk is checked to be a run member whose keyframe
    a reader takes (at most MAX_NALS parameter sets, 1 to MAX_NALS slices, none empty)."""
    for chunk in chunks:
        if not is_weightless_frame(chunk):
            raise ValueError(f"GOP {chunk.gop_index} has networks or more than one frame: not a run member")
        ids, slices = chunk.keyframe.parameter_set_ids, chunk.keyframe.slices
        if not (0 <= len(ids) <= MAX_NALS and 1 <= len(slices) <= MAX_NALS) or not all(slices):
            raise ValueError(f"GOP {chunk.gop_index}: {len(ids)} parameter sets, {len(slices)} slices")
    writer = ByteWriter()
    write_record(writer, RunPlace(chunks[0].gop_index, chunks[0].first_frame, len(chunks)))
    return writer


def write_run(chunks: Sequence[GopChunk]) -> tuple[bytes, int]:
    """(KRUN payload, bytes of its keyframe records) for consecutive weightless one-frame GOPs."""
    writer = _placed_writer(chunks)
    start = len(writer)
    for chunk in chunks:
        ids, slices = chunk.keyframe.parameter_set_ids, chunk.keyframe.slices
        writer.uvarint(len(ids) * MAX_NALS + len(slices) - 1)
        for pid in ids:
            writer.uvarint(pid)
        for nal in slices:
            writer.blob(nal)
    return writer.getvalue(), len(writer) - start


def read_run(
    payload: bytes, where: str, expected: RunPlace, parameter_set_count: int, base_offset: int = 0
) -> list[tuple[Keyframe, int]]:
    """Each keyframe of the run and the bytes its record takes, after checking the place against the index."""
    reader, place = _placed_reader(payload, where, expected, base_offset)
    keyframes = []
    for _ in range(place.gops):
        start = reader.offset
        layout = reader.uvarint((MAX_NALS + 1) * MAX_NALS - 1)
        ids = read_parameter_set_ids(reader, layout // MAX_NALS, parameter_set_count)
        slices = read_slices(reader, layout % MAX_NALS + 1)
        keyframes.append((Keyframe(ids, slices), reader.offset - start))
    reader.expect_end()
    return keyframes


def _stored_obus(tag: bytes, units: list[bytes], sequence_header: bytes | None, gops: int) -> bytes | None:
    """The run's OBUs as a `tag` section stores them; None where they would not come back."""
    if tag == STREAM_RUN_TAG:
        return b"".join(units)
    if tag == PACKED_RUN_TAG:
        return pack_obus(units)
    if sequence_header is None:
        return None
    try:
        seq = sequence_header_of(sequence_header)
        stored = code_headers(units, seq)
        back = decode_headers(stored, seq, gops, "written headers").units  # the writer reads what it wrote
    except (ValueError, BitstreamError):
        return None
    return stored if back == units else None


def _first_stored(
    tags: Sequence[bytes], units: list[bytes], sequence_header: bytes | None, gops: int
) -> tuple[bytes, bytes] | None:
    """(tag, stored OBUs) for the first of the AV1 `tags`, in AV1_RUN_TAGS' order, that gives the
    OBUs back; None where none does."""
    for tag in (t for t in AV1_RUN_TAGS if t in tags):
        stored = _stored_obus(tag, units, sequence_header, gops)
        if stored is not None:
            return tag, stored
    return None


def stored_run_bytes(keyframes: Sequence[Sequence[bytes]], sequence_header: bytes | None) -> int:
    """The bytes a run of these AV1 keyframes' OBUs takes in the newest section that holds them
    (the place and references aside): what the encoder's pilot prices a run at."""
    units = [obu for keyframe in keyframes for obu in keyframe]
    first = _first_stored(AV1_RUN_TAGS, units, sequence_header, len(keyframes))
    return len(first[1]) if first else sum(map(len, units))


def write_stream_run(
    chunks: Sequence[GopChunk], tags: Sequence[bytes] = (STREAM_RUN_TAG,), sequence_header: bytes | None = None
) -> tuple[bytes, bytes, int] | None:
    """(tag, payload, bytes of its references and OBUs) of the first of `tags` (KHDR, KPAK or KSTR, in
    AV1_RUN_TAGS' order) that stores consecutive weightless one-frame GOPs with AV1 keyframes; None
    where none gives their OBUs back as the same keyframes. A KHDR needs the file's `sequence_header`.
    The OBUs are split once, whichever kinds are tried."""
    writer = _placed_writer(chunks)
    start = len(writer)
    try:  # a run is up to an intra period of keyframes: each copy of it let go once used
        units = split_obus(b"".join(s for chunk in chunks for s in chunk.keyframe.slices))
        if group_temporal_units(units) != [chunk.keyframe.slices for chunk in chunks]:
            return None
    except ValueError:
        return None
    first = _first_stored(tags, units, sequence_header, len(chunks))
    del units
    if first is None:
        return None
    tag, stored = first
    del first
    refs = [(position, pid) for position, chunk in enumerate(chunks) for pid in chunk.keyframe.parameter_set_ids]
    writer.uvarint(len(refs))
    for position, pid in refs:
        writer.uvarint(position)
        writer.uvarint(pid)
    writer.raw(stored)
    del stored
    return tag, writer.getvalue(), len(writer) - start


def run_tags(av1: bool, packed: bool, headers: bool) -> tuple[bytes, ...]:
    """The kinds of AV1 run a writer may use: where the keyframes are `av1`, a KHDR (where `packed` and
    `headers`, format 4.2), a KPAK (where `packed`, 4.1) or a KSTR; else none (a KRUN)."""
    return ((HEADER_RUN_TAG,) * (packed and headers) + (PACKED_RUN_TAG,) * packed + (STREAM_RUN_TAG,)) * av1


def write_keyframe_run(
    chunks: Sequence[GopChunk], tags: Sequence[bytes], sequence_header: bytes | None = None
) -> tuple[bytes, bytes, int]:
    """(tag, payload, keyframe bytes) of the run's section: the first of the AV1 `tags` (in AV1_RUN_TAGS'
    order) whose section gives the keyframes back, else a KRUN."""
    written = write_stream_run(chunks, tags, sequence_header) if tags else None
    return written or (RUN_TAG, *write_run(chunks))


def read_keyframe_run(
    payload: bytes,
    where: str,
    expected: RunPlace,
    parameter_sets: Sequence[bytes],
    base_offset: int = 0,
    tag: bytes = STREAM_RUN_TAG,
) -> list[tuple[Keyframe, int]]:
    """As read_run for a KRUN; for a KSTR, KPAK or KHDR (`tag`): each keyframe is its temporal unit's
    OBUs and the bytes they and its references take (the first also the references' count, so that the
    sizes add up to the writer's keyframe bytes; a KHDR's coded headers are shared out as
    DecodedObus.stored_bytes says)."""
    if tag == RUN_TAG:
        return read_run(payload, where, expected, len(parameter_sets), base_offset)
    least = MIN_KEYFRAME_BYTES if tag == STREAM_RUN_TAG else MIN_PACKED_KEYFRAME_BYTES
    reader, place = _placed_reader(payload, where, expected, base_offset, least)
    ids: list[list[int]] = [[] for _ in range(place.gops)]
    start = reader.offset
    count = reader.uvarint(MAX_NALS * place.gops)
    sizes = [reader.offset - start] + [0] * (place.gops - 1)
    last = 0
    for _ in range(count):
        start = reader.offset
        position = reader.uvarint(place.gops - 1)
        if position < last:
            raise reader.error(f"parameter-set reference for keyframe {position} after one for keyframe {last}")
        if len(ids[position]) == MAX_NALS:
            raise reader.error(f"keyframe {position} refers to more than {MAX_NALS} parameter sets")
        ids[position] += read_parameter_set_ids(reader, 1, len(parameter_sets))
        sizes[position] += reader.offset - start
        last = position
    start = reader.offset
    stored = reader.raw(reader.remaining)
    at = f"{where}: keyframe OBUs from byte {base_offset + start}"
    try:
        if tag == HEADER_RUN_TAG:
            if len(parameter_sets) != 1:
                raise ValueError(f"{len(parameter_sets)} parameter sets; a KHDR needs the one sequence header")
            seq = sequence_header_of(parameter_sets[0])
            decoded = decode_headers(stored, seq, place.gops, where, base_offset + start)
            obus = decoded.units
        else:
            obus = unpack_obus(stored) if tag == PACKED_RUN_TAG else split_obus(stored)
        units = group_temporal_units(obus)
    except ValueError as exc:
        raise BitstreamError(f"{at}: {exc}") from None
    if len(units) != place.gops:
        raise reader.error(f"{len(units)} keyframes for a run of {place.gops} GOPs")
    if tag == STREAM_RUN_TAG:  # the OBUs split the stored bytes exactly
        return [(Keyframe(i, u), n + sum(map(len, u))) for i, u, n in zip(ids, units, sizes)]
    # a KPAK or KHDR is read only in the one form its writer gives
    if tag == HEADER_RUN_TAG:
        try:
            same = code_headers(obus, seq) == stored
        except ValueError:
            same = False
        if not same:
            raise BitstreamError(f"{at} are not coded as written")
        each = iter(decoded.stored_bytes())
        return [(Keyframe(i, u), n + sum(next(each) for _ in u)) for i, u, n in zip(ids, units, sizes)]
    kept = [pack_obus(u) or b"" for u in units]
    if b"".join(kept) != stored:
        raise BitstreamError(f"{at} are not packed as written")
    return [(Keyframe(i, u), n + len(k)) for i, u, n, k in zip(ids, units, sizes, kept)]


def _placed_reader(
    payload: bytes, where: str, expected: RunPlace, base_offset: int, least: int = MIN_KEYFRAME_BYTES
) -> tuple[ByteReader, RunPlace]:
    """A reader past the run's place, once the place is checked against the index and the rest can
    hold that many keyframes of at least `least` bytes."""
    reader = ByteReader(payload, where, base_offset)
    place = read_record(reader, RunPlace)
    if place != expected:
        raise BitstreamError(
            f"{where}: section holds GOPs {place.first_gop}+{place.gops} from frame {place.first_frame}, "
            f"the index says GOPs {expected.first_gop}+{expected.gops} from frame {expected.first_frame}"
        )
    if reader.remaining < least * place.gops:
        raise reader.error(f"{reader.remaining} bytes cannot hold {place.gops} keyframes (truncated?)")
    return reader, place


def split_runs(chunks: Iterable[GopChunk], period: int = 0) -> list[list[GopChunk]]:
    """The chunks in order, grouped: each stretch of MIN_RUN_GOPS or more weightless one-frame GOPs
    as one run, every other chunk alone. With a keyframe `period`, a run of SPLIT_RUN_GOPS or more
    also ends before the next intra keyframe (a GOP index divisible by it): a reader then holds at
    most about SPLIT_RUN_GOPS + period keyframes of a long clip at once, not the whole clip's."""
    return list(iter_runs(chunks, period))


def iter_runs(chunks: Iterable[GopChunk], period: int = 0) -> Iterator[list[GopChunk]]:
    """split_runs' groups one at a time, each as soon as the chunk after it is seen: the writer holds
    one run's chunks, not the clip's."""
    group: list[GopChunk] = []
    for chunk in chunks:
        full = period > 0 and chunk.gop_index % period == 0 and len(group) >= SPLIT_RUN_GOPS
        if group and not full and is_weightless_frame(chunk) and is_weightless_frame(group[-1]):
            group.append(chunk)
            continue
        yield from _as_run_or_alone(group)
        group = [chunk]
    yield from _as_run_or_alone(group)


def _as_run_or_alone(group: list[GopChunk]) -> Iterator[list[GopChunk]]:
    if len(group) >= MIN_RUN_GOPS:
        yield group
    else:
        yield from ([chunk] for chunk in group)
