"""Files of `nrff encode --workdir`: finished work kept between runs, versioned and checked like a .nrf.

    file    := "NRFW" major:u8 minor:u8  section          section framed as in a .nrf (tag, length, CRC-32)
    section := "KEYS": key[32]  parameter_sets  n_gops:uvarint  blob(gop_chunk without networks) x n_gops
             | "GOPW": key[32]  gop_chunk                      one finished GOP, bytes exactly as in a .nrf

`key` is a hash of everything that decides the encoder's output (settings, source frames,
software versions): a file whose key differs was written by another command and is never reused.
A reader refuses another major version and ignores anything a newer minor version appends.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .framing import CRC, PREAMBLE, SECTION_HEAD, frame_section
from .front import read_parameter_sets, write_parameter_sets
from .gop_chunk import GopChunk, read_gop_chunk, write_gop_chunk
from .header import MAX_FRAMES

WORK_MAGIC = b"NRFW"
WORK_MAJOR = 1
WORK_MINOR = 0
KEY_BYTES = 32
KEYS_TAG = b"KEYS"
GOP_TAG = b"GOPW"


class StaleWorkError(BitstreamError):
    """A well-formed work file written by a different encode (another key)."""


def _wrap(tag: bytes, key: bytes, body: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError(f"work key must be {KEY_BYTES} bytes")
    return PREAMBLE.pack(WORK_MAGIC, WORK_MAJOR, WORK_MINOR) + frame_section(tag, key + body)


def _unwrap(data: bytes, tag: bytes, key: bytes, where: str) -> ByteReader:
    """Check preamble, version, tag, CRC and key; return a reader over the body."""
    reader = ByteReader(data, where)
    magic, major, minor = reader.unpack(PREAMBLE.format[1:])
    if magic != WORK_MAGIC:
        raise reader.error(f"not an nrff work file (magic {magic!r})")
    if major != WORK_MAJOR:
        raise BitstreamError(
            f"{where}: work-file version {major}.{minor} is not supported; "
            f"this nrff reads version {WORK_MAJOR}.x (up to {WORK_MAJOR}.{WORK_MINOR})"
        )
    found, length = reader.unpack(SECTION_HEAD.format[1:])
    if found != tag:
        raise reader.error(f"expected a {tag.decode()} section, found {found!r}")
    payload = reader.raw(length)
    (crc,) = reader.unpack(CRC.format[1:])
    if zlib.crc32(SECTION_HEAD.pack(found, length) + payload) != crc:
        raise BitstreamError(f"{where}: CRC mismatch (corrupted)")
    if payload[:KEY_BYTES] != key:
        raise StaleWorkError(f"{where}: written by a different encode (other settings, source or software)")
    return ByteReader(payload[KEY_BYTES:], where, PREAMBLE.size + SECTION_HEAD.size + KEY_BYTES)


def write_keyframes(key: bytes, parameter_sets: Sequence[bytes], keyframes: Sequence[GopChunk]) -> bytes:
    """Every GOP's keyframe (chunks whose `networks` are empty) and the shared parameter sets."""
    writer = ByteWriter()
    write_parameter_sets(writer, parameter_sets)
    writer.uvarint(len(keyframes))
    for chunk in keyframes:
        if chunk.networks:
            raise ValueError("keyframe records carry no networks")
        writer.blob(write_gop_chunk(chunk).data)
    return _wrap(KEYS_TAG, key, writer.getvalue())


def read_keyframes(data: bytes, key: bytes, where: str = "keyframes") -> tuple[list[bytes], list[GopChunk]]:
    reader = _unwrap(data, KEYS_TAG, key, where)
    parameter_sets = read_parameter_sets(reader)
    count = reader.uvarint(MAX_FRAMES)
    chunks = [read_gop_chunk(reader.blob(), f"{where} GOP {i}", [], len(parameter_sets)) for i in range(count)]
    return parameter_sets, chunks


def write_finished_gop(key: bytes, chunk: GopChunk) -> bytes:
    return _wrap(GOP_TAG, key, write_gop_chunk(chunk).data)


def read_finished_gop(
    data: bytes,
    key: bytes,
    network_shapes: Sequence[Sequence[tuple[int, ...]]],
    parameter_set_count: int,
    where: str = "finished GOP",
) -> GopChunk:
    reader = _unwrap(data, GOP_TAG, key, where)
    return read_gop_chunk(
        reader.raw(reader.remaining),
        where,
        network_shapes,
        parameter_set_count,
        PREAMBLE.size + SECTION_HEAD.size + KEY_BYTES,
    )
