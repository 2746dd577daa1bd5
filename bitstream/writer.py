"""The .nrf writer (bitstream/container.py has the layout and the reader): a whole file's sections in
order, as bytes (write_nrf) or to a file a section at a time (write_nrf_file).

The minor a file is marked with is the oldest that reads it. The encoder runs the reader on what
this writes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from .bytes_io import ByteWriter
from .framing import PREAMBLE, frame_section
from .front import FRONT_TAG, front_payload, write_parameter_sets
from .gop_chunk import GopChunk, write_gop_chunk
from .gop_index import index_payload
from .header import FORMAT_MAJOR, MAGIC, NEWEST_MINOR, Header, KeyframeCodec
from .keyframe_run import (
    HEADER_RUN_TAG,
    PACKED_RUN_TAG,
    RUN_TAG,
    STREAM_RUN_TAG,
    is_weightless_frame,
    iter_runs,
    run_tags,
    write_keyframe_run,
)
from .records import check_record, write_record

LEGACY_MAJOR = 3  # still read, and written on request (write_nrf(..., major=3))
MINOR_WITHOUT_RUNS = 2  # a 3.x file without runs is written exactly as 3.2 wrote it
MINOR_WITHOUT_STREAM_RUNS = 3  # one whose runs are all KRUNs, as 3.3 wrote it
# the first minor of its major that reads each kind of run (3.3, 3.4, 4.1, 4.2)
RUN_MINOR = {RUN_TAG: MINOR_WITHOUT_STREAM_RUNS, STREAM_RUN_TAG: NEWEST_MINOR[LEGACY_MAJOR]}
RUN_MINOR |= {PACKED_RUN_TAG: 1, HEADER_RUN_TAG: 2}  # 4.0 reads neither
COPY_BLOCK = 1 << 16  # a file copied a block at a time (shutil.copyfileobj's own block on Linux)


@dataclasses.dataclass(frozen=True)
class WrittenFile:
    """A whole file's bytes and where they went (the container is the rest)."""

    data: bytes
    keyframe_bytes: int  # the keyframes' bytes inside the GOP chunks (the PSET section not included)
    network_bytes: int

    def __len__(self) -> int:
        return len(self.data)


def write_nrf(
    header: Header,
    parameter_sets: Sequence[bytes],
    chunks: Sequence[GopChunk],
    runs: bool = True,
    stream_runs: bool = True,
    major: int = FORMAT_MAJOR,
    packed_runs: bool = True,
    header_runs: bool = True,
) -> WrittenFile:
    """Serialise a whole file, consecutive one-frame GOPs without networks as keyframe runs unless `runs`
    is False (every GOP in its own GOPC): see keyframe_run.run_tags for which kind. The minor marked is
    the oldest that reads the file: 4.2 with a KHDR, 4.1 with a KPAK, else 4.0; 3.2 without runs, 3.3
    with KRUNs only, else 3.4.
    Raises ValueError (a bug in the caller) on inconsistent input."""
    bodies: list[bytes] = []
    prefix, keyframe_bytes, network_bytes = _write_sections(
        header, parameter_sets, chunks, bodies.append, runs, stream_runs, major, packed_runs, header_runs
    )
    return WrittenFile(b"".join([prefix, *bodies]), keyframe_bytes, network_bytes)  # one join (decision 0073)


@dataclasses.dataclass(frozen=True)
class WrittenSizes:
    """Where a file written to disk went: its size, and its keyframes' and networks' bytes."""

    size: int
    keyframe_bytes: int  # as WrittenFile's
    network_bytes: int


def write_nrf_file(
    path: str | os.PathLike, header: Header, parameter_sets: Sequence[bytes], chunks: Sequence[GopChunk]
) -> WrittenSizes:
    """write_nrf's file (newest format, every kind of run), written to `path` a section at a time.

    The front holds the index, which needs every section's length, so the sections wait in an
    unnamed temporary file beside `path` (gone however the process ends) until the front is
    written: memory holds one section at a time, not the file (decision 0075).
    """
    target = Path(path)
    with tempfile.TemporaryFile(dir=target.parent) as spool:
        prefix, keyframe_bytes, network_bytes = _write_sections(header, parameter_sets, chunks, spool.write)
        spool.seek(0)
        with open(target, "wb") as out:
            out.write(prefix)
            shutil.copyfileobj(spool, out, COPY_BLOCK)
            size = out.tell()
    return WrittenSizes(size, keyframe_bytes, network_bytes)


def _write_sections(
    header: Header,
    parameter_sets: Sequence[bytes],
    chunks: Sequence[GopChunk],
    put: Callable[[bytes], object],
    runs: bool = True,
    stream_runs: bool = True,
    major: int = FORMAT_MAJOR,
    packed_runs: bool = True,
    header_runs: bool = True,
) -> tuple[bytes, int, int]:
    """The file of write_nrf in two parts: each section after the front goes to `put` in order as it is
    made; returns what comes before them (preamble and front), the keyframe and the network bytes."""
    check_record(header)
    if major not in NEWEST_MINOR:
        raise ValueError(f"no writer for format {major}.x")
    if len(chunks) != header.gop_count:
        raise ValueError(f"{len(chunks)} chunks for {header.gop_count} GOPs")
    period = header.keyframe_period if major == FORMAT_MAJOR else 0  # 3.x as its writers grouped runs
    av1 = stream_runs and header.keyframe_codec == KeyframeCodec.AV1
    tags = run_tags(av1, major == FORMAT_MAJOR and packed_runs, header_runs)
    sequence_header = parameter_sets[0] if len(parameter_sets) == 1 else None
    checked = _in_order(chunks, header)
    groups: Iterable[list[GopChunk]] = iter_runs(checked, period) if runs else ([chunk] for chunk in checked)
    if major == FORMAT_MAJOR:  # 4.x always has RIDX's entries: the chunks are met one group at a time
        ridx = True
    else:
        groups = list(groups)
        ridx = len(groups) < len(chunks)
    minor = MINOR_WITHOUT_STREAM_RUNS if ridx else MINOR_WITHOUT_RUNS
    entries, keyframe_bytes, network_bytes, used_tags, networks = [], 0, 0, set(), False
    for group in groups:
        if len(group) == 1:
            written = write_gop_chunk(group[0])
            body = frame_section(b"GOPC", written.data)
            entries.append((group[0].frame_count, group[0].key_offset, len(body)) + (1,) * ridx)
            keyframe_bytes, network_bytes = keyframe_bytes + written.keyframe_size, network_bytes + written.weights_size
            networks = networks or not is_weightless_frame(group[0])
        else:  # a run's GOPs are weightless
            tag, payload, keyframe_size = write_keyframe_run(group, tags, sequence_header)
            minor = max(minor, RUN_MINOR[tag])
            used_tags.add(tag)
            body = frame_section(tag, payload)
            entries.append((len(group), 0, len(body), len(group)))
            keyframe_bytes += keyframe_size
        put(body)
    index = index_payload(entries, runs=ridx)
    if major == FORMAT_MAJOR:
        front = frame_section(FRONT_TAG, front_payload(header, parameter_sets, index, networks))
        minor = max([RUN_MINOR[tag] for tag in used_tags if tag in (PACKED_RUN_TAG, HEADER_RUN_TAG)] + [0])
    else:
        head_writer, pset_writer = ByteWriter(), ByteWriter()
        write_record(head_writer, header)
        write_parameter_sets(pset_writer, parameter_sets)
        front = (
            frame_section(b"HEAD", head_writer.getvalue())
            + frame_section(b"PSET", pset_writer.getvalue())
            + frame_section(b"RIDX" if ridx else b"GIDX", index)
        )
    return PREAMBLE.pack(MAGIC, major, minor) + front, keyframe_bytes, network_bytes


def _in_order(chunks: Iterable[GopChunk], header: Header) -> Iterator[GopChunk]:
    """`chunks` as they are met, each checked to follow the one before; raises ValueError (a bug in the
    caller) on the first out of place, or at the end where they do not cover the frames."""
    expected_first = 0
    for i, chunk in enumerate(chunks):
        if chunk.gop_index != i or chunk.first_frame != expected_first:
            raise ValueError(f"GOP {i} out of order")
        if not 0 <= chunk.key_offset < chunk.frame_count <= header.gop_length * 2:
            raise ValueError(f"GOP {i}: bad frame count or key offset")
        expected_first += chunk.frame_count
        yield chunk
    if expected_first != header.video.frame_count:
        raise ValueError("GOPs do not cover the frames")
