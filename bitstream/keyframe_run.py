"""A keyframe run (format 3.3): consecutive one-frame GOPs without networks in one KRUN section.

    krun     := place  keyframe x place.gops
    place    := first_gop:uvarint  first_frame:uvarint  gops:uvarint      (must equal the index)
    keyframe := layout:uvarint  parameter_set_id:uvarint x n_ids  slice:blob x n_slices
    layout   := n_ids * 64 + (n_slices - 1)

A GOP of one frame coded by the keyframe codec alone paid ~20 bytes of framing in its own GOPC
section (tag, length, CRC, place, counts, index entry); in a run it pays its layout byte and its
slices' lengths. The reader expands a run back into the GopChunks a GOPC would have given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .gop_chunk import MAX_NALS, GopChunk, Keyframe, read_parameter_set_ids, read_slices
from .header import MAX_FRAMES
from .records import VARINT, read_record, wire, write_record

RUN_TAG = b"KRUN"
MIN_RUN_GOPS = 2  # a lone weightless GOP stays a GOPC: the file keeps the 3.2 layout when it has no run
MIN_KEYFRAME_BYTES = 3  # layout, one slice's length, one byte of it


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
    """Fewest payload bytes a run of `gops` keyframes can have: the index's lengths are checked against it."""
    return 3 + MIN_KEYFRAME_BYTES * gops  # the place's three uvarints take a byte or more each


def write_run(chunks: Sequence[GopChunk]) -> tuple[bytes, int]:
    """(KRUN payload, bytes of its keyframe records) for consecutive weightless one-frame GOPs."""
    writer = ByteWriter()
    write_record(writer, RunPlace(chunks[0].gop_index, chunks[0].first_frame, len(chunks)))
    start = len(writer)
    for chunk in chunks:
        if not is_weightless_frame(chunk):
            raise ValueError(f"GOP {chunk.gop_index} has networks or more than one frame: not a run member")
        keyframe = chunk.keyframe
        ids, slices = keyframe.parameter_set_ids, keyframe.slices
        if not (0 <= len(ids) <= MAX_NALS and 1 <= len(slices) <= MAX_NALS) or not all(slices):
            raise ValueError(f"GOP {chunk.gop_index}: {len(ids)} parameter sets, {len(slices)} slices")
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
    reader = ByteReader(payload, where, base_offset)
    place = read_record(reader, RunPlace)
    if place != expected:
        raise BitstreamError(
            f"{where}: section holds GOPs {place.first_gop}+{place.gops} from frame {place.first_frame}, "
            f"the index says GOPs {expected.first_gop}+{expected.gops} from frame {expected.first_frame}"
        )
    if reader.remaining < MIN_KEYFRAME_BYTES * place.gops:
        raise reader.error(f"{reader.remaining} bytes cannot hold {place.gops} keyframes (truncated?)")
    keyframes = []
    for _ in range(place.gops):
        start = reader.offset
        layout = reader.uvarint((MAX_NALS + 1) * MAX_NALS - 1)
        ids = read_parameter_set_ids(reader, layout // MAX_NALS, parameter_set_count)
        slices = read_slices(reader, layout % MAX_NALS + 1)
        keyframes.append((Keyframe(ids, slices), reader.offset - start))
    reader.expect_end()
    return keyframes


def split_runs(chunks: Sequence[GopChunk]) -> list[list[GopChunk]]:
    """The chunks in order, grouped: each stretch of MIN_RUN_GOPS or more weightless one-frame GOPs
    as one run, every other chunk alone."""
    groups: list[list[GopChunk]] = []
    for chunk in chunks:
        if groups and is_weightless_frame(chunk) and is_weightless_frame(groups[-1][-1]):
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return [part for group in groups for part in ([group] if len(group) >= MIN_RUN_GOPS else [[c] for c in group])]
