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
header bytes (bitstream/keyframe_run.py). The one reader lives here and the one writer in
bitstream/writer.py, both for both majors; the encoder runs this reader on the bytes it wrote.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from .bytes_io import ByteReader
from .errors import BitstreamError, NotAnNrfFile
from .framing import CRC, PREAMBLE, SECTION_HEAD, SECTION_OVERHEAD
from .front import (
    FRONT_TAG,
    MAX_HEAD_BYTES,
    read_front_head,
    read_parameter_sets,
)
from .gop_chunk import GopChunk, read_gop_chunk, zero_tensor
from .gop_index import INDEX_TAGS, MAX_INDEX_BYTES_PER_GOP, MAX_INDEX_PREFIX, GopIndexEntry, parse_index
from .header import FORMAT_MAJOR, MAGIC, NEWEST_MINOR, Header, KeyframeCodec
from .keyframe_run import (
    RUN_TAG,
    RUN_TAGS,
    Keyframe,
    RunPlace,
    read_keyframe_run,
)
from .records import read_record

MAX_PSET_BYTES = 1 << 20
AUDIO_TAG = b"AUDI"  # since 3.2: one input audio stream (bitstream/audio.py); a 3.0 or 3.1 reader skips it
CRC_BLOCK = 1 << 20  # sections before the chunks are CRC-checked in blocks of this size, not held whole


def _peek_tag(stream: BinaryIO, known: tuple[bytes, ...]) -> bytes:
    """The tag of the section at the stream's position if it is one of `known`, else known[0], so that
    reading the section then names what was expected and what was found; the position is kept."""
    tag = stream.read(4)
    stream.seek(-len(tag), io.SEEK_CUR)
    return tag if tag in known else known[0]


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
        head = self._read_exact(stream, min(self.file_size, PREAMBLE.size), "preamble")
        if len(head) >= len(MAGIC) and not head.startswith(MAGIC):  # some other file, however short
            raise NotAnNrfFile(self.name, head[: len(MAGIC)], MAGIC)
        if self.file_size < PREAMBLE.size:
            raise BitstreamError(f"{self.name}: {self.file_size} bytes is too short to be an .nrf file")
        _, major, minor = PREAMBLE.unpack(head)
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
