"""docs/bitstream.md must list the header fields the code writes, in the same order."""
from __future__ import annotations

import re
import struct
from pathlib import Path

from bitstream.header import Header
from bitstream.records import Wire, _fields

SPEC = Path(__file__).resolve().parents[1] / "docs" / "bitstream.md"
TYPES = {"B": ("u8", 1), "H": ("u16", 2), "I": ("u32", 4), "Q": ("u64", 8), "f": ("f32", 4)}


def _code_fields(cls: type, prefix: str = "") -> list[tuple[str, str, int]]:
    out = []
    for f in _fields(cls):
        spec = f.metadata["nrff_wire"]
        if isinstance(spec, Wire):
            name, size = TYPES[spec.fmt]
            assert size == struct.calcsize("<" + spec.fmt)
            out.append((prefix + f.name, name, size))
        else:
            out += _code_fields(spec, f"{prefix}{f.name}.")
    return out


def test_header_table_matches_the_code() -> None:
    text = SPEC.read_text()
    section = text.split("## HEAD")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z_.]+) \| (\w+) \| (\d+) \|", section, flags=re.M)
    assert [(n, t, int(s)) for n, t, s in rows] == _code_fields(Header)
