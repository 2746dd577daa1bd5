"""Section framing, the same for every section of an .nrf file: tag, length, payload, CRC-32."""

from __future__ import annotations

import struct
import zlib

PREAMBLE = struct.Struct("<4sBB")
SECTION_HEAD = struct.Struct("<4sI")
CRC = struct.Struct("<I")
SECTION_OVERHEAD = SECTION_HEAD.size + CRC.size


def frame_section(tag: bytes, payload: bytes) -> bytes:
    """tag, length, payload, CRC-32 over all three: the framing of every section."""
    head = SECTION_HEAD.pack(tag, len(payload))
    return head + payload + CRC.pack(zlib.crc32(head + payload))
