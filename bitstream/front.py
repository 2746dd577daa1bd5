"""The front of a 4.x file: header, keyframe parameter sets and GOP index in one FRNT section.

    frnt  := head:blob  pset  index  [bytes a newer minor appends]
    head  := FrontHead [NetworkSpec, when FrontHead.networks]  [fields a newer minor appends]
    pset  := count:uvarint  blob x count                         (as 3.x's PSET payload)
    index := as 3.3's RIDX payload (bitstream/gop_index.py)

Format 3 spent three sections (36 bytes of tags, lengths and CRCs) and the networks' architecture
(20 bytes) on this, in files whose every frame the keyframe codec codes and which have no networks.
"""

from __future__ import annotations

from collections.abc import Sequence

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError
from .header import FrontHead, Header, NetworkSpec, join_header, split_header
from .records import read_record, write_record

FRONT_TAG = b"FRNT"
MAX_HEAD_BYTES = 4096
MAX_PARAMETER_SETS = 256


def write_parameter_sets(writer: ByteWriter, parameter_sets: Sequence[bytes]) -> None:
    if len(parameter_sets) > MAX_PARAMETER_SETS:
        raise ValueError("too many keyframe parameter sets")
    writer.uvarint(len(parameter_sets))
    for nal in parameter_sets:
        writer.blob(nal)


def read_parameter_sets(reader: ByteReader) -> list[bytes]:
    count = reader.uvarint(MAX_PARAMETER_SETS)
    return [reader.blob() for _ in range(count)]


def front_payload(header: Header, parameter_sets: Sequence[bytes], index: bytes, networks: bool) -> bytes:
    """FRNT's payload: `header` (its networks' part only when `networks`), the parameter sets, `index`."""
    head_writer = ByteWriter()
    for record in split_header(header, networks):
        if record is not None:
            write_record(head_writer, record)
    writer = ByteWriter()
    writer.blob(head_writer.getvalue())
    write_parameter_sets(writer, parameter_sets)
    writer.raw(index)
    return writer.getvalue()


def read_front_head(reader: ByteReader, base: int, newer_minor: bool) -> tuple[Header, list[bytes]]:
    """Header and parameter sets from FRNT's payload (at byte `base` of the file); the reader is left at
    the index. A file of a `newer_minor` may have fields appended to the header."""
    head_bytes = reader.blob(MAX_HEAD_BYTES)
    head_reader = ByteReader(head_bytes, f"{reader.where} header", base + reader.offset - len(head_bytes))
    head = read_record(head_reader, FrontHead)
    spec = read_record(head_reader, NetworkSpec) if head.networks else None
    if not newer_minor:
        head_reader.expect_end()  # a newer minor may append fields
    try:
        header = join_header(head, spec)
    except ValueError as exc:
        raise BitstreamError(f"{reader.where}: inconsistent header: {exc}") from None
    return header, read_parameter_sets(reader)
