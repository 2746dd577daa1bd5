"""Bounds-checked little-endian byte reading and writing shared by every part of the format.

Every read checks the remaining length first, so a truncated or lying file raises
BitstreamError with the offset instead of an IndexError or struct.error deep in a parser.
"""

from __future__ import annotations

import struct

from .errors import BitstreamError

MAX_VARINT_BYTES = 10


class ByteWriter:
    """Appends little-endian scalars, varints and raw bytes to a growing buffer."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def raw(self, data: bytes) -> None:
        self._parts.append(bytes(data))
        self._size += len(data)

    def pack(self, fmt: str, *values: object) -> None:
        self.raw(struct.pack("<" + fmt, *values))

    def uvarint(self, value: int) -> None:
        """LEB128 unsigned integer: small counts and lengths cost one byte."""
        if value < 0:
            raise ValueError(f"uvarint cannot hold {value}")
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        self.raw(bytes(out))

    def svarint(self, value: int) -> None:
        """Zigzag-mapped signed varint."""
        self.uvarint((value << 1) if value >= 0 else ((-value << 1) - 1))

    def blob(self, data: bytes) -> None:
        """Length-prefixed bytes."""
        self.uvarint(len(data))
        self.raw(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class ByteReader:
    """Reads what ByteWriter wrote; every overrun is a BitstreamError naming `where` and the offset."""

    def __init__(self, data: bytes, where: str, base_offset: int = 0) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.where = where
        self._base = base_offset

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def error(self, message: str) -> BitstreamError:
        return BitstreamError(f"{self.where} at byte {self._base + self._pos}: {message}")

    def raw(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise self.error(f"needs {n} bytes but only {self.remaining} remain (truncated?)")
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.raw(size))

    def uvarint(self, limit: int = 2**63) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            (byte,) = self.unpack("B")
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if value > limit:
                    raise self.error(f"value {value} exceeds the limit {limit}")
                return value
        raise self.error("varint longer than 10 bytes")

    def svarint(self, limit: int = 2**62) -> int:
        raw = self.uvarint(2 * limit + 1)
        return (raw >> 1) if not raw & 1 else -((raw + 1) >> 1)

    def blob(self, limit: int | None = None) -> bytes:
        n = self.uvarint(self.remaining if limit is None else min(limit, self.remaining))
        return self.raw(n)

    def expect_end(self) -> None:
        if self.remaining:
            raise self.error(f"{self.remaining} unexpected trailing bytes")
