"""The .nrf container: preamble, the front (header, parameter sets, GOP index), then the GOPs' chunks.

    file     := "NRFF" major:u8 minor:u8 front [section(AUDI) * audio streams, other sections]
                section(GOPC, KRUN, KSTR or KPAK) * sections
    front    := section(FRNT)                                           (4.x, bitstream/front.py)
              | section(HEAD) section(PSET) section(GIDX or RIDX)       (3.x)
    section  := tag:4 ASCII  length:u32  payload[length]  crc32(tag, length, payload):u32

Fixed-width integers are little-endian; header fields, counts and the index are LEB128 varints
(docs/decisions/0011-container-format-2-varints.md). The GOP index (bitstream/gop_index.py) gives
each chunk's frames and length, so that a decoder asked for a few frames seeks straight to the
GOPs it needs; since 3.3 a KRUN section holds a run of one-frame GOPs without networks, since
3.4 a KSTR holds one of AV1 keyframes, since 4.1 a KPAK one of AV1 keyframes without their OBU
header bytes (bitstream/keyframe_run.py). One writer and one reader live here, for both majors;
the encoder runs this reader on the bytes it wrote.
"""

from __future__ import annotations

import dataclasses
import io
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .framing import CRC, PREAMBLE, SECTION_HEAD, SECTION_OVERHEAD, frame_section
from .front import (
    FRONT_TAG,
    MAX_HEAD_BYTES,
    front_payload,
    read_front_head,
    read_parameter_sets,
    write_parameter_sets,
)
from .gop_chunk import GopChunk, read_gop_chunk, write_gop_chunk, zero_tensor
from .gop_index import INDEX_TAGS, MAX_INDEX_BYTES_PER_GOP, MAX_INDEX_PREFIX, GopIndexEntry, index_payload, parse_index
from .header import FORMAT_MAJOR, MAGIC, NEWEST_MINOR, Header, KeyframeCodec
from .keyframe_run import (
    HEADER_RUN_TAG,
    PACKED_RUN_TAG,
    RUN_TAG,
    RUN_TAGS,
    STREAM_RUN_TAG,
    Keyframe,
    RunPlace,
    is_weightless_frame,
    read_keyframe_run,
    run_tags,
    split_runs,
    write_keyframe_run,
)
from .records import check_record, read_record, write_record

LEGACY_MAJOR = 3  # still read, and written on request (write_nrf(..., major=3))
MINOR_WITHOUT_RUNS = 2  # a 3.x file without runs is written exactly as 3.2 wrote it
MINOR_WITHOUT_STREAM_RUNS = 3  # one whose runs are all KRUNs, as 3.3 wrote it
# the first minor of its major that reads each kind of run (3.3, 3.4, 4.1, 4.2)
RUN_MINOR = {RUN_TAG: MINOR_WITHOUT_STREAM_RUNS, STREAM_RUN_TAG: NEWEST_MINOR[LEGACY_MAJOR]}
RUN_MINOR |= {PACKED_RUN_TAG: 1, HEADER_RUN_TAG: 2}  # 4.0 reads neither
MAX_PSET_BYTES = 1 << 20
AUDIO_TAG = b"AUDI"  # since 3.2: one input audio stream (bitstream/audio.py); a 3.0 or 3.1 reader skips it
CRC_BLOCK = 1 << 20  # sections before the chunks are CRC-checked in blocks of this size, not held whole


def _peek_tag(stream: BinaryIO, known: tuple[bytes, ...]) -> bytes:
    """The tag of the section at the stream's position if it is one of `known`, else known[0], so that
    reading the section then names what was expected and what was found; the position is kept."""
    tag = stream.read(4)
    stream.seek(-len(tag), io.SEEK_CUR)
    return tag if tag in known else known[0]


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
    check_record(header)
    if major not in NEWEST_MINOR:
        raise ValueError(f"no writer for format {major}.x")
    if len(chunks) != header.gop_count:
        raise ValueError(f"{len(chunks)} chunks for {header.gop_count} GOPs")
    expected_first = 0
    for i, chunk in enumerate(chunks):
        if chunk.gop_index != i or chunk.first_frame != expected_first:
            raise ValueError(f"GOP {i} out of order")
        if not 0 <= chunk.key_offset < chunk.frame_count <= header.gop_length * 2:
            raise ValueError(f"GOP {i}: bad frame count or key offset")
        expected_first += chunk.frame_count
    if expected_first != header.video.frame_count:
        raise ValueError("GOPs do not cover the frames")
    period = header.keyframe_period if major == FORMAT_MAJOR else 0  # 3.x as its writers grouped runs
    av1 = stream_runs and header.keyframe_codec == KeyframeCodec.AV1
    tags = run_tags(av1, major == FORMAT_MAJOR and packed_runs, header_runs)
    sequence_header = parameter_sets[0] if len(parameter_sets) == 1 else None
    groups = split_runs(chunks, period) if runs else [[chunk] for chunk in chunks]
    ridx = major == FORMAT_MAJOR or len(groups) < len(chunks)  # 4.x always has RIDX's entries
    minor = MINOR_WITHOUT_STREAM_RUNS if ridx else MINOR_WITHOUT_RUNS
    bodies, entries, keyframe_bytes, network_bytes, used_tags = [], [], 0, 0, set()
    for group in groups:
        if len(group) == 1:
            written = write_gop_chunk(group[0])
            bodies.append(frame_section(b"GOPC", written.data))
            entries.append((group[0].frame_count, group[0].key_offset, len(bodies[-1])) + (1,) * ridx)
            keyframe_bytes, network_bytes = keyframe_bytes + written.keyframe_size, network_bytes + written.weights_size
        else:
            tag, payload, keyframe_size = write_keyframe_run(group, tags, sequence_header)
            minor = max(minor, RUN_MINOR[tag])
            used_tags.add(tag)
            bodies.append(frame_section(tag, payload))
            entries.append((len(group), 0, len(bodies[-1]), len(group)))
            keyframe_bytes += keyframe_size
    index = index_payload(entries, runs=ridx)
    if major == FORMAT_MAJOR:
        networks = not all(is_weightless_frame(chunk) for chunk in chunks)
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
    prefix = PREAMBLE.pack(MAGIC, major, minor) + front
    return WrittenFile(b"".join([prefix, *bodies]), keyframe_bytes, network_bytes)  # one join (decision 0073)


class NrfFile:
    """Reads a .nrf from a path or from bytes; parses the small front sections eagerly, GOPs on demand."""

    def __init__(self, source: str | os.PathLike | bytes) -> None:
        self.sections: list[tuple[str, int, int]] = [("preamble", 0, PREAMBLE.size)]  # (name, offset, bytes)
        self._run_cache: tuple[int, list[tuple[Keyframe, int]]] | None = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._data: bytes | None = bytes(source)
            self._path: Path | None = None
            self.file_size = len(self._data)
            self.name = "<bytes>"
        else:
            self._data = None
            self._path = Path(source)
            self.name = str(source)
            try:
                self.file_size = self._path.stat().st_size
            except OSError as exc:
                raise BitstreamError(f"cannot read {source}: {exc.strerror}") from None
        with self._open() as stream:
            self._parse_front(stream)

    # -- low level
    def _open(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        try:
            return open(self._path, "rb")
        except OSError as exc:
            raise BitstreamError(f"cannot read {self.name}: {exc.strerror}") from None

    def _read_exact(self, stream: BinaryIO, n: int, what: str) -> bytes:
        offset = stream.tell()
        data = stream.read(n)
        if len(data) != n:
            raise BitstreamError(f"{what} at byte {offset}: file ends after {len(data)} of {n} bytes (truncated)")
        return data

    def _read_section(
        self, stream: BinaryIO, expected_tag: bytes, limit: int, record: bool = True
    ) -> tuple[bytes, int]:
        offset = stream.tell()
        tag, length = SECTION_HEAD.unpack(self._read_exact(stream, SECTION_HEAD.size, "section header"))
        if tag != expected_tag:
            raise BitstreamError(f"byte {offset}: expected section {expected_tag.decode()}, found {tag!r}")
        if length > limit or offset + SECTION_OVERHEAD + length > self.file_size:
            raise BitstreamError(
                f"section {tag.decode()} at byte {offset}: length {length} exceeds "
                f"{'the file' if length <= limit else 'the limit'} (truncated or corrupted)"
            )
        payload = self._read_exact(stream, length, f"section {tag.decode()}")
        (crc,) = CRC.unpack(self._read_exact(stream, CRC.size, f"section {tag.decode()} CRC"))
        if zlib.crc32(SECTION_HEAD.pack(tag, length) + payload) != crc:
            raise BitstreamError(f"section {tag.decode()} at byte {offset}: CRC mismatch (corrupted)")
        if tag not in (b"GOPC",) + RUN_TAGS and record:
            self.sections.append((tag.decode(), offset, length + SECTION_OVERHEAD))
        return payload, offset + SECTION_HEAD.size

    def _parse_front(self, stream: BinaryIO) -> None:
        if self.file_size < PREAMBLE.size:
            raise BitstreamError(f"{self.name}: {self.file_size} bytes is too short to be an .nrf file")
        magic, major, minor = PREAMBLE.unpack(self._read_exact(stream, PREAMBLE.size, "preamble"))
        if magic != MAGIC:
            raise BitstreamError(f"{self.name}: not an .nrf file (magic {magic!r}, expected {MAGIC!r})")
        if major not in NEWEST_MINOR:
            known = " and ".join(f"{m}.x (up to {m}.{n})" for m, n in sorted(NEWEST_MINOR.items()))
            raise BitstreamError(
                f"{self.name}: format version {major}.{minor} is not supported; this nrff reads {known}"
            )
        self.version = (major, minor)
        newer = self.newer_minor  # a newer minor may append to records and the index
        if major == FORMAT_MAJOR:
            payload, base = self._read_section(stream, FRONT_TAG, self.file_size)
            reader = ByteReader(payload, "section FRNT", base)
            self.header, self.parameter_sets = read_front_head(reader, base, newer)
            index_tag = b"RIDX"  # RIDX's entries, inside FRNT
        else:
            payload, base = self._read_section(stream, b"HEAD", MAX_HEAD_BYTES)
            self.header = read_record(ByteReader(payload, "section HEAD", base), Header)
            payload, base = self._read_section(stream, b"PSET", MAX_PSET_BYTES)
            reader = ByteReader(payload, "section PSET", base)
            self.parameter_sets = read_parameter_sets(reader)
            reader.expect_end()
            index_tag = _peek_tag(stream, INDEX_TAGS)  # GIDX or RIDX
            payload, base = self._read_section(
                stream, index_tag, MAX_INDEX_BYTES_PER_GOP * self.header.gop_count + MAX_INDEX_PREFIX
            )
            reader = ByteReader(payload, f"section {index_tag.decode()}", base)
        index_end = stream.tell()
        self.index = parse_index(reader, index_end, index_tag == b"RIDX", self.header, self.file_size, newer)
        if not self.header.networks and any(entry.frame_count > 1 for entry in self.index):
            raise BitstreamError(f"{self.name}: GOPs of several frames in a file that stores no networks")
        self.chunks_start = self.index[0].offset if self.index else self.file_size
        self.extra_sections = self._walk_gap(stream, index_end, self.chunks_start)

    def _walk_gap(self, stream: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
        """(tag, offset, payload length) of the sections between GIDX and the first chunk, each
        CRC-checked block by block: a 3.0 reader skips these bytes unread; this one knows AUDI and
        passes over tags of a newer minor."""
        found = []
        stream.seek(start)
        pos = start
        while pos < end:
            if end - pos < SECTION_OVERHEAD:
                raise BitstreamError(f"byte {pos}: {end - pos} bytes before the first GOP chunk are not a section")
            tag, length = SECTION_HEAD.unpack(self._read_exact(stream, SECTION_HEAD.size, "section header"))
            name = tag.decode("latin-1")
            if pos + SECTION_OVERHEAD + length > end:
                raise BitstreamError(
                    f"section {name!r} at byte {pos}: length {length} overruns the first GOP chunk at byte {end}"
                )
            crc = zlib.crc32(SECTION_HEAD.pack(tag, length))
            left = length
            while left:
                block = self._read_exact(stream, min(left, CRC_BLOCK), f"section {name!r}")
                crc = zlib.crc32(block, crc)
                left -= len(block)
            if CRC.unpack(self._read_exact(stream, CRC.size, f"section {name!r} CRC"))[0] != crc:
                raise BitstreamError(f"section {name!r} at byte {pos}: CRC mismatch (corrupted)")
            self.sections.append((name, pos, length + SECTION_OVERHEAD))
            found.append((tag, pos, length))
            pos += length + SECTION_OVERHEAD
        return found

    # -- public
    @property
    def newer_minor(self) -> bool:
        """Whether the file's minor version is newer than this reader knows (fields may be appended)."""
        return self.version[1] > NEWEST_MINOR[self.version[0]]

    @property
    def audio_bytes(self) -> int:
        """Bytes of the AUDI sections, framing included: the file's bytes that are not video."""
        return sum(length + SECTION_OVERHEAD for tag, _, length in self.extra_sections if tag == AUDIO_TAG)

    def audio_payloads(self) -> list[tuple[bytes, int]]:
        """(payload, its byte offset) of each AUDI section in file order, CRC-checked again as read."""
        out = []
        with self._open() as stream:
            for tag, offset, length in self.extra_sections:
                if tag == AUDIO_TAG:
                    stream.seek(offset)
                    out.append(self._read_section(stream, AUDIO_TAG, length, record=False))
        return out

    def read_gop(self, i: int, network_shapes: Sequence[Sequence[tuple[int, ...]]]) -> GopChunk:
        """Read, CRC-check and parse GOP `i` (from its GOPC, or as a GopChunk without networks from its run)."""
        if not 0 <= i < len(self.index):
            raise BitstreamError(f"no GOP {i} in a file of {len(self.index)} GOPs")
        entry = self.index[i]
        if entry.run > 1:
            keyframe, size = self._read_run(i - entry.position)[entry.position]
            networks = [[zero_tensor(tuple(s)) for s in shapes] for shapes in network_shapes]
            return GopChunk(i, entry.first_frame, 1, 0, keyframe, networks, [[] for _ in networks], size, 0)
        payload, base = self._read_chunk(entry, b"GOPC", f"GOP {i}")
        chunk = read_gop_chunk(payload, f"GOP {i}", network_shapes, len(self.parameter_sets), base)
        if (chunk.gop_index, chunk.first_frame, chunk.frame_count, chunk.key_offset) != (
            i,
            entry.first_frame,
            entry.frame_count,
            entry.key_offset,
        ):
            raise BitstreamError(
                f"GOP {i}: chunk describes GOP {chunk.gop_index} (frames "
                f"{chunk.first_frame}+{chunk.frame_count}), the index disagrees"
            )
        return chunk

    def _read_chunk(self, entry: GopIndexEntry, tag: bytes, where: str) -> tuple[bytes, int]:
        with self._open() as stream:
            stream.seek(entry.offset)
            payload, base = self._read_section(stream, tag, entry.length - SECTION_OVERHEAD)
        if len(payload) + SECTION_OVERHEAD != entry.length:
            raise BitstreamError(f"{where}: chunk length {len(payload)} disagrees with the index")
        return payload, base

    def _read_run(self, first_gop: int) -> list[tuple[Keyframe, int]]:
        """The keyframes of the run starting at GOP `first_gop`; the last run read is kept, since a
        decoder asks for its GOPs one by one."""
        if self._run_cache is None or self._run_cache[0] != first_gop:
            entry = self.index[first_gop]
            where = f"keyframe run of GOPs {first_gop}-{first_gop + entry.run - 1}"
            with self._open() as stream:
                stream.seek(entry.offset)
                tag = _peek_tag(stream, RUN_TAGS)  # KRUN, KSTR, KPAK or KHDR
            if tag != RUN_TAG and self.header.keyframe_codec != KeyframeCodec.AV1:
                raise BitstreamError(f"{where}: a {tag.decode()} section in a file whose keyframes are not AV1")
            payload, base = self._read_chunk(entry, tag, where)
            place = RunPlace(first_gop, entry.first_frame, entry.run)
            self._run_cache = (first_gop, read_keyframe_run(payload, where, place, self.parameter_sets, base, tag))
        return self._run_cache[1]
