"""The .nrf container: preamble, HEAD / PSET / GIDX sections, then one GOPC chunk per GOP.

    file     := "NRFF" major:u8 minor:u8 section(HEAD) section(PSET) section(GIDX) [other sections]
                section(GOPC) * gop_count
    section  := tag:4 ASCII  length:u32  payload[length]  crc32(tag, length, payload):u32

All integers little-endian. The GOP index gives each chunk's offset and length so that a
decoder asked for a few frames seeks straight to the GOPs it needs. One writer and one reader
live here; the encoder runs this reader on the bytes it wrote before it keeps them.
"""
from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Sequence

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .gop_chunk import GopChunk, read_gop_chunk, write_gop_chunk
from .header import FORMAT_MAJOR, FORMAT_MINOR, MAGIC, Header
from .records import check_record, read_record, write_record

PREAMBLE = struct.Struct("<4sBB")
SECTION_HEAD = struct.Struct("<4sI")
CRC = struct.Struct("<I")
SECTION_OVERHEAD = SECTION_HEAD.size + CRC.size
INDEX_ENTRY = struct.Struct("<IHHQI")
MAX_HEAD_BYTES = 4096
MAX_PSET_BYTES = 1 << 20
MAX_PARAMETER_SETS = 256
MIN_GOP_CHUNK = SECTION_OVERHEAD + 16


@dataclasses.dataclass(frozen=True)
class GopIndexEntry:
    first_frame: int
    frame_count: int
    key_offset: int
    offset: int
    length: int

    @property
    def end_frame(self) -> int:
        return self.first_frame + self.frame_count


def frame_section(tag: bytes, payload: bytes) -> bytes:
    """tag, length, payload, CRC-32 over all three: the framing of every section."""
    head = SECTION_HEAD.pack(tag, len(payload))
    return head + payload + CRC.pack(zlib.crc32(head + payload))


def write_parameter_sets(writer: ByteWriter, parameter_sets: Sequence[bytes]) -> None:
    if len(parameter_sets) > MAX_PARAMETER_SETS:
        raise ValueError("too many keyframe parameter sets")
    writer.uvarint(len(parameter_sets))
    for nal in parameter_sets:
        writer.blob(nal)


def read_parameter_sets(reader: ByteReader) -> list[bytes]:
    count = reader.uvarint(MAX_PARAMETER_SETS)
    return [reader.blob() for _ in range(count)]


def _index_payload(entries: Sequence[GopIndexEntry]) -> bytes:
    writer = ByteWriter()
    writer.pack("H", INDEX_ENTRY.size)
    for e in entries:
        writer.raw(INDEX_ENTRY.pack(e.first_frame, e.frame_count, e.key_offset, e.offset, e.length))
    return writer.getvalue()


def write_nrf(header: Header, parameter_sets: Sequence[bytes], chunks: Sequence[GopChunk]) -> bytes:
    """Serialise a whole file. Raises ValueError (a bug in the caller) on inconsistent input."""
    check_record(header)
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
    head_writer = ByteWriter()
    write_record(head_writer, header)
    pset_writer = ByteWriter()
    write_parameter_sets(pset_writer, parameter_sets)
    bodies = [frame_section(b"GOPC", write_gop_chunk(chunk)) for chunk in chunks]
    prefix = (PREAMBLE.pack(MAGIC, FORMAT_MAJOR, FORMAT_MINOR)
              + frame_section(b"HEAD", head_writer.getvalue())
              + frame_section(b"PSET", pset_writer.getvalue()))
    index_size = SECTION_OVERHEAD + 2 + INDEX_ENTRY.size * len(chunks)
    offset = len(prefix) + index_size
    entries = []
    for chunk, body in zip(chunks, bodies):
        entries.append(GopIndexEntry(chunk.first_frame, chunk.frame_count, chunk.key_offset, offset, len(body)))
        offset += len(body)
    index = frame_section(b"GIDX", _index_payload(entries))
    assert len(index) == index_size
    return prefix + index + b"".join(bodies)


class NrfFile:
    """Reads a .nrf from a path or from bytes; parses the small front sections eagerly, GOPs on demand."""

    def __init__(self, source: str | os.PathLike | bytes) -> None:
        self.sections: list[tuple[str, int, int]] = [("preamble", 0, PREAMBLE.size)]  # (name, offset, bytes)
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
            return open(self._path, "rb")  # noqa: SIM115 - closed by callers' with
        except OSError as exc:
            raise BitstreamError(f"cannot read {self.name}: {exc.strerror}") from None

    def _read_exact(self, stream: BinaryIO, n: int, what: str) -> bytes:
        offset = stream.tell()
        data = stream.read(n)
        if len(data) != n:
            raise BitstreamError(f"{what} at byte {offset}: file ends after {len(data)} of {n} bytes (truncated)")
        return data

    def _read_section(self, stream: BinaryIO, expected_tag: bytes, limit: int) -> tuple[bytes, int]:
        offset = stream.tell()
        tag, length = SECTION_HEAD.unpack(self._read_exact(stream, SECTION_HEAD.size, "section header"))
        if tag != expected_tag:
            raise BitstreamError(f"byte {offset}: expected section {expected_tag.decode()}, found {tag!r}")
        if length > limit or offset + SECTION_OVERHEAD + length > self.file_size:
            raise BitstreamError(f"section {tag.decode()} at byte {offset}: length {length} exceeds "
                                 f"{'the file' if length <= limit else 'the limit'} (truncated or corrupted)")
        payload = self._read_exact(stream, length, f"section {tag.decode()}")
        (crc,) = CRC.unpack(self._read_exact(stream, CRC.size, f"section {tag.decode()} CRC"))
        if zlib.crc32(SECTION_HEAD.pack(tag, length) + payload) != crc:
            raise BitstreamError(f"section {tag.decode()} at byte {offset}: CRC mismatch (corrupted)")
        if tag != b"GOPC":
            self.sections.append((tag.decode(), offset, length + SECTION_OVERHEAD))
        return payload, offset + SECTION_HEAD.size

    def _parse_front(self, stream: BinaryIO) -> None:
        if self.file_size < PREAMBLE.size:
            raise BitstreamError(f"{self.name}: {self.file_size} bytes is too short to be an .nrf file")
        magic, major, minor = PREAMBLE.unpack(self._read_exact(stream, PREAMBLE.size, "preamble"))
        if magic != MAGIC:
            raise BitstreamError(f"{self.name}: not an .nrf file (magic {magic!r}, expected {MAGIC!r})")
        if major != FORMAT_MAJOR:
            raise BitstreamError(f"{self.name}: format version {major}.{minor} is not supported; "
                                 f"this nrff reads version {FORMAT_MAJOR}.x (up to {FORMAT_MAJOR}.{FORMAT_MINOR})")
        self.version = (major, minor)
        payload, base = self._read_section(stream, b"HEAD", MAX_HEAD_BYTES)
        self.header = read_record(ByteReader(payload, "section HEAD", base), Header)
        payload, base = self._read_section(stream, b"PSET", MAX_PSET_BYTES)
        reader = ByteReader(payload, "section PSET", base)
        self.parameter_sets = read_parameter_sets(reader)
        reader.expect_end()
        # a newer minor version may lengthen the entries (up to a u16 each); the file size bounds it too
        max_index = 2 + 0xFFFF * self.header.gop_count
        payload, base = self._read_section(stream, b"GIDX", max_index)
        self.index = self._parse_index(payload, base, stream.tell())

    def _parse_index(self, payload: bytes, base: int, index_end: int) -> list[GopIndexEntry]:
        reader = ByteReader(payload, "section GIDX", base)
        (entry_size,) = reader.unpack("H")
        if entry_size < INDEX_ENTRY.size:
            raise reader.error(f"index entries of {entry_size} bytes, need {INDEX_ENTRY.size}")
        count = self.header.gop_count
        if reader.remaining != entry_size * count:
            raise reader.error(f"index holds {reader.remaining} bytes, expected {count} entries of {entry_size}")
        entries = []
        expected_first, expected_offset = 0, None
        video = self.header.video
        for i in range(count):
            fields = INDEX_ENTRY.unpack(reader.raw(entry_size)[: INDEX_ENTRY.size])
            entry = GopIndexEntry(*fields)
            where = f"GOP index entry {i}"
            if entry.first_frame != expected_first:
                raise BitstreamError(f"{where}: starts at frame {entry.first_frame}, expected {expected_first}")
            if not 0 <= entry.key_offset < entry.frame_count <= 2 * self.header.gop_length:
                raise BitstreamError(f"{where}: {entry.frame_count} frames with keyframe at {entry.key_offset}")
            if entry.offset < index_end or (expected_offset is not None and entry.offset != expected_offset):
                raise BitstreamError(f"{where}: chunk offset {entry.offset} is out of place")
            if entry.length < MIN_GOP_CHUNK or entry.offset + entry.length > self.file_size:
                raise BitstreamError(f"{where}: chunk [{entry.offset}, {entry.offset + entry.length}) lies "
                                     f"beyond the file's {self.file_size} bytes (truncated)")
            expected_first = entry.end_frame
            expected_offset = entry.offset + entry.length
            entries.append(entry)
        if expected_first != video.frame_count:
            raise BitstreamError(f"GOP index covers {expected_first} frames, header says {video.frame_count}")
        if expected_offset != self.file_size:
            raise BitstreamError(f"file is {self.file_size} bytes but its chunks end at byte {expected_offset} "
                                 f"({'truncated' if expected_offset > self.file_size else 'trailing data'})")
        return entries

    # -- public
    def gops_for_frames(self, start: int, end: int) -> list[int]:
        """Indices of the GOPs holding frames [start, end)."""
        return [i for i, e in enumerate(self.index) if e.first_frame < end and e.end_frame > start]

    def read_gop(self, i: int, network_shapes: Sequence[Sequence[tuple[int, ...]]]) -> GopChunk:
        """Read, CRC-check and parse GOP `i`."""
        if not 0 <= i < len(self.index):
            raise BitstreamError(f"no GOP {i} in a file of {len(self.index)} GOPs")
        entry = self.index[i]
        with self._open() as stream:
            stream.seek(entry.offset)
            payload, base = self._read_section(stream, b"GOPC", entry.length - SECTION_OVERHEAD)
        if len(payload) + SECTION_OVERHEAD != entry.length:
            raise BitstreamError(f"GOP {i}: chunk length {len(payload)} disagrees with the index")
        chunk = read_gop_chunk(payload, f"GOP {i}", network_shapes, len(self.parameter_sets), base)
        if (chunk.gop_index, chunk.first_frame, chunk.frame_count, chunk.key_offset) != (
                i, entry.first_frame, entry.frame_count, entry.key_offset):
            raise BitstreamError(f"GOP {i}: chunk describes GOP {chunk.gop_index} (frames "
                                 f"{chunk.first_frame}+{chunk.frame_count}), the index disagrees")
        return chunk
