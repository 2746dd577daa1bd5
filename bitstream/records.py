"""Typed, range-checked records: a dataclass field declares its wire type and its legal range.

The header and the decoder architecture are dataclasses written and read one-to-one by the
generic `write_record` / `read_record` below (the Cool-chic habit: the header *is* the
architecture). Ranges are checked when writing (so the encoder can never emit a file its
decoder refuses) and when reading (so a hostile file is rejected before it drives an allocation).

Fields added in a later minor version carry `since_minor` and a default: an older file simply
ends before them and the reader fills in the default; a newer file with extra trailing fields
is read by an older reader, which ignores what it does not know.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import typing
from typing import Any, TypeVar

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError

T = TypeVar("T")

_WIRE_KEY = "nrff_wire"


VARINT = "V"  # not a struct code: an unsigned LEB128 varint (small values cost one byte)


@dataclasses.dataclass(frozen=True)
class Wire:
    """How one scalar field travels: struct code or VARINT, inclusive range, first minor version."""

    fmt: str
    lo: float
    hi: float
    since_minor: int = 0


def wire(
    fmt: str, lo: float, hi: float, *, default: Any = dataclasses.MISSING, since_minor: int = 0, doc: str = ""
) -> Any:
    """Declare a dataclass field stored as `fmt` (struct code or VARINT) with value range [lo, hi]."""
    meta = {_WIRE_KEY: Wire(fmt, lo, hi, since_minor), "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def nested(cls: type, *, since_minor: int = 0) -> Any:
    """Declare a field holding another record (written inline)."""
    return dataclasses.field(metadata={_WIRE_KEY: cls, "since_minor": since_minor})


def _fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if _WIRE_KEY in f.metadata]


def _is_float(fmt: str) -> bool:
    return fmt in ("f", "d", "e")


def check_record(obj: Any, path: str = "") -> None:
    """Raise ValueError when a field is out of its declared range (used before writing)."""
    for f in _fields(type(obj)):
        spec = f.metadata[_WIRE_KEY]
        value = getattr(obj, f.name)
        name = f"{path}{f.name}"
        if isinstance(spec, Wire):
            if _is_float(spec.fmt):
                ok = isinstance(value, (int, float)) and math.isfinite(value)
            else:
                ok = isinstance(value, (int, bool)) and float(value).is_integer()
            if not ok or not (spec.lo <= value <= spec.hi):
                raise ValueError(f"header field {name}={value!r} outside [{spec.lo}, {spec.hi}]")
            if _is_float(spec.fmt) and spec.fmt == "f":
                rounded = struct.unpack("<f", struct.pack("<f", value))[0]
                if rounded != value:
                    raise ValueError(f"header field {name}={value!r} is not exactly a float32")
        else:
            check_record(value, name + ".")


def write_record(writer: ByteWriter, obj: Any) -> None:
    """Append `obj` field by field; refuses out-of-range values instead of writing them."""
    check_record(obj)
    _write_unchecked(writer, obj)


def _write_unchecked(writer: ByteWriter, obj: Any) -> None:
    for f in _fields(type(obj)):
        spec = f.metadata[_WIRE_KEY]
        value = getattr(obj, f.name)
        if isinstance(spec, Wire) and spec.fmt == VARINT:
            writer.uvarint(int(value))
        elif isinstance(spec, Wire):
            writer.pack(spec.fmt, float(value) if _is_float(spec.fmt) else int(value))
        else:
            _write_unchecked(writer, value)


def read_record(reader: ByteReader, cls: type[T], path: str = "") -> T:
    """Read `cls` written by any minor version: missing trailing fields take their defaults."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in _fields(cls):
        spec = f.metadata[_WIRE_KEY]
        name = f"{path}{f.name}"
        if isinstance(spec, Wire):
            size = 1 if spec.fmt == VARINT else struct.calcsize("<" + spec.fmt)
            if reader.remaining < size and spec.since_minor > 0 and f.default is not dataclasses.MISSING:
                values[f.name] = f.default
                continue
            if spec.fmt == VARINT:
                value = reader.uvarint()  # at most 10 bytes; the range check below names the field
            else:
                (value,) = reader.unpack(spec.fmt)
            if _is_float(spec.fmt) and not math.isfinite(value):
                raise reader.error(f"field {name} is not a finite number")
            if not (spec.lo <= value <= spec.hi):
                raise reader.error(f"field {name}={value} outside [{spec.lo}, {spec.hi}]")
            if hints.get(f.name) is bool:
                value = bool(value)
            values[f.name] = value
        else:
            values[f.name] = read_record(reader, spec, name + ".")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # __post_init__ consistency checks
        raise BitstreamError(f"{reader.where}: inconsistent {cls.__name__}: {exc}") from None


def describe(obj: Any) -> dict[str, Any]:
    """Plain nested dict of a record, for `nrff info --json`."""
    out: dict[str, Any] = {}
    for f in _fields(type(obj)):
        spec = f.metadata[_WIRE_KEY]
        value = getattr(obj, f.name)
        out[f.name] = value if isinstance(spec, Wire) else describe(value)
    return out
