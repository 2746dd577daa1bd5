"""docs/bitstream.md must list the header fields (HEAD, AUDI) the code writes, in the same order."""

from __future__ import annotations

import re
from pathlib import Path

from bitstream.audio import AudioParams
from bitstream.header import FrontHead, Header, NetworkSpec
from bitstream.keyframe_run import RunPlace
from bitstream.records import Wire, _fields

SPEC = Path(__file__).resolve().parents[1] / "docs" / "bitstream.md"
TYPES = {"B": "u8", "H": "u16", "I": "u32", "Q": "u64", "q": "i64", "f": "f32", "V": "uvarint"}


def _code_fields(cls: type, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for f in _fields(cls):
        spec = f.metadata["nrff_wire"]
        if isinstance(spec, Wire):
            out.append((prefix + f.name, TYPES[spec.fmt]))
        else:
            out += _code_fields(spec, f"{prefix}{f.name}.")
    return out


def test_header_table_matches_the_code() -> None:
    text = SPEC.read_text()
    section = text.split("## HEAD")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z_.]+) \| (\w+) \|", section, flags=re.M)
    assert rows[1:] == _code_fields(Header)  # rows[0]: the table's own header


def test_front_table_matches_the_code() -> None:
    section = SPEC.read_text().split("## FRNT")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z_.]+) \| (\w+) \|", section, flags=re.M)
    assert rows[1:] == _code_fields(FrontHead) + _code_fields(NetworkSpec)
    assert [r for r in rows[1:] if r[0] != "networks"] == _code_fields(Header)  # version 3's fields, in order


def test_audio_params_table_matches_the_code() -> None:
    section = SPEC.read_text().split("## AUDI")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z_.]+) \| (\w+) \|", section, flags=re.M)
    assert rows[1 : 1 + len(_code_fields(AudioParams))] == _code_fields(AudioParams)


def test_keyframe_run_place_table_matches_the_code() -> None:
    section = SPEC.read_text().split("## KRUN")[1].split("\n## ")[0]
    rows = re.findall(r"^\| ([a-z_.]+) \| (\w+) \|", section, flags=re.M)
    assert rows[1 : 1 + len(_code_fields(RunPlace))] == _code_fields(RunPlace)
