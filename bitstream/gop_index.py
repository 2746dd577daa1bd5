"""The GOP index: where each GOP's frames and chunk are, so that a decoder seeks straight to the GOPs it needs.

    gidx  := fields:uvarint (3)  gap:uvarint  entry x gop_count                      (3.0 to 3.2)
    ridx  := fields:uvarint (4)  gap:uvarint  count:uvarint  entry x count           (3.3, with runs)
    entry := frame_count:uvarint  key_offset:uvarint  length:uvarint  [gops:uvarint, RIDX]  [more, skipped]

A RIDX entry stands for one section: a GOPC (gops = 1) or a KRUN of `gops` one-frame GOPs
without networks (bitstream/keyframe_run.py). The reader expands either into one entry per GOP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .framing import SECTION_OVERHEAD
from .header import Header
from .keyframe_run import min_run_length

INDEX_FIELDS = 3  # uvarints per GIDX entry: frame_count, key_offset, length
RUN_INDEX_FIELDS = 4  # uvarints per RIDX entry (3.3): frame_count, key_offset, length, gops
INDEX_TAGS = (b"GIDX", b"RIDX")  # a 3.2 reader knows only GIDX, so it refuses a file with runs at its index
MAX_INDEX_FIELDS = 16  # a newer minor version may add fields to each entry; this reader skips them
MAX_INDEX_BYTES_PER_GOP = 10 * MAX_INDEX_FIELDS
MAX_INDEX_PREFIX = 32  # the index's field count and gap (varints), and room for what a newer minor appends
MIN_GOP_CHUNK = SECTION_OVERHEAD + 8  # place (4 varints), 1 parameter-set id count, 1 slice of 1 byte


@dataclasses.dataclass(frozen=True)
class GopIndexEntry:
    first_frame: int
    frame_count: int
    key_offset: int
    offset: int  # of the section holding the GOP (its GOPC, or the KRUN of its run)
    length: int  # of that section, tag and CRC included
    run: int = 1  # GOPs in that section: 1 for a GOPC, 2 or more for a KRUN
    position: int = 0  # the GOP's place in its run

    @property
    def end_frame(self) -> int:
        return self.first_frame + self.frame_count


def index_payload(entries: Sequence[tuple[int, ...]], gap: int = 0, runs: bool = False) -> bytes:
    """Fields per entry, `gap` (bytes of other sections between the index and the first chunk), then
    each GOP's (frame_count, key_offset, chunk length); first frames and offsets follow by
    summing, so the index does not repeat them. With `runs` (RIDX), the entry count comes first and
    each section's entry ends with its GOPs."""
    writer = ByteWriter()
    writer.uvarint(RUN_INDEX_FIELDS if runs else INDEX_FIELDS)
    writer.uvarint(gap)
    if runs:
        writer.uvarint(len(entries))
    for entry in entries:
        for value in entry:
            writer.uvarint(value)
    return writer.getvalue()


def parse_index(
    reader: ByteReader, index_end: int, runs: bool, header: Header, file_size: int, newer_minor: bool
) -> list[GopIndexEntry]:
    """One entry per GOP, expanded from GIDX (one per GOPC) or RIDX (one per GOPC or KRUN section)."""
    name = "RIDX" if runs else "GIDX"
    need = RUN_INDEX_FIELDS if runs else INDEX_FIELDS
    fields = reader.uvarint(MAX_INDEX_FIELDS)
    if fields < need:
        raise reader.error(f"index entries of {fields} fields, need {need}")
    offset = index_end + reader.uvarint(file_size)  # a newer minor's sections may precede the chunks
    gop_count = header.gop_count
    section_count = reader.uvarint(gop_count) if runs else gop_count
    entries: list[GopIndexEntry] = []
    first_frame = 0
    for s in range(section_count):
        where = f"{name} entry {s}"
        frame_count, key_offset, length, *more = (reader.uvarint() for _ in range(fields))  # checked below
        gops = more[0] if runs else 1
        if gops == 1 and not 0 <= key_offset < frame_count <= 2 * header.gop_length:
            raise BitstreamError(f"{where}: {frame_count} frames with keyframe at {key_offset}")
        if gops != 1 and not (2 <= gops <= gop_count - len(entries) and (frame_count, key_offset) == (gops, 0)):
            raise BitstreamError(
                f"{where}: a run of {gops} one-frame GOPs ({frame_count} frames, keyframe at {key_offset}) "
                f"after {len(entries)} of the header's {gop_count} GOPs"
            )
        shortest = MIN_GOP_CHUNK if gops == 1 else SECTION_OVERHEAD + min_run_length(gops)
        if length < shortest or offset + length > file_size:
            raise BitstreamError(
                f"{where}: chunk [{offset}, {offset + length}) lies "
                f"{'beyond the file' if length >= shortest else 'in too few bytes'} of {file_size} bytes"
                " (truncated or corrupted)"
            )
        if gops == 1:
            entries.append(GopIndexEntry(first_frame, frame_count, key_offset, offset, length))
        else:
            entries += [GopIndexEntry(first_frame + j, 1, 0, offset, length, gops, j) for j in range(gops)]
        first_frame += frame_count
        offset += length
    if not newer_minor:
        reader.expect_end()  # a newer minor may append to the index
    if len(entries) != gop_count:
        raise BitstreamError(f"{name} lists {len(entries)} GOPs, header says {gop_count}")
    if first_frame != header.video.frame_count:
        raise BitstreamError(f"GOP index covers {first_frame} frames, header says {header.video.frame_count}")
    if offset != file_size:
        raise BitstreamError(
            f"file is {file_size} bytes but its chunks end at byte {offset} "
            f"({'truncated' if offset > file_size else 'trailing data'})"
        )
    return entries
