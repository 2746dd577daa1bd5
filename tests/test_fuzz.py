"""Property-based fuzzing of the .nrf reader and decoder.

Small valid files made by the real encoder are damaged (bit flips, truncation, inserted and deleted
bytes, overwritten or swapped ranges, swapped sections, other versions, other magic, and damage
inside a payload whose CRCs are then made valid again, which reaches the entropy decoder, the
keyframe decoder, the renderer and the audio section's parser, which `info` runs; the same inside
the index and the keyframe runs of format 3.3). Each damaged
file must either decode, and then every CRC in it matches, or raise BitstreamError: never another
exception, never a hang.

CI runs NRFF_FUZZ_CI_EXAMPLES cases (default 30) of each kind; the nightly run,

    NRFF_FUZZ_CASES=10000 python -m pytest -m slow tests/test_fuzz.py --hypothesis-show-statistics

runs NRFF_FUZZ_CASES cases (default 10,000) of all kinds mixed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitstream import BitstreamError
from bitstream.bytes_io import ByteReader
from bitstream.container import PREAMBLE, SECTION_HEAD, SECTION_OVERHEAD
from bitstream.entropy import decode_tensors, encode_tensors
from bitstream.header import MAGIC
from bitstream.keyframe_run import RUN_TAGS
from nrffcodec import decode
from nrffcodec.app.info import inspect_file

from .nrf_tools import all_crcs_match, one_thread, parts, reseal, sections, time_limit, tiny_encodes

CASE_SECONDS = 20.0
CI_EXAMPLES = int(os.environ.get("NRFF_FUZZ_CI_EXAMPLES", "30"))
CI_WEIGHT_EXAMPLES = 5 * CI_EXAMPLES  # a weight block decodes in a millisecond
SLOW_CASES = int(os.environ.get("NRFF_FUZZ_CASES", "10000"))
QUIET_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]

Draw = Callable[[st.SearchStrategy], object]


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    with one_thread():
        return tiny_encodes()


def check(data: bytes) -> bool:
    """Decode and inspect `data`; True when it decoded. Anything but BitstreamError fails the test."""
    decoded = False
    with one_thread(), time_limit(CASE_SECONDS):
        for name, consume in (("decode", lambda d: decode(d, device="cpu")), ("info", inspect_file)):
            try:
                consume(data)
            except BitstreamError:
                continue
            assert all_crcs_match(data), f"{name} accepted a file whose CRCs do not all match"
            decoded = decoded or name == "decode"
    return decoded


# ---------------------------------------------------------------- mutations: (draw, valid file) -> damaged file


def _position(draw: Draw, data: bytes, end_ok: bool = False) -> int:
    return draw(st.integers(0, len(data) if end_ok else len(data) - 1))


def flip_bits(draw: Draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        out[_position(draw, data)] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


def truncate(draw: Draw, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data) - 1))]


def insert_bytes(draw: Draw, data: bytes) -> bytes:
    pos = _position(draw, data, end_ok=True)
    return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]


def delete_bytes(draw: Draw, data: bytes) -> bytes:
    pos = _position(draw, data)
    return data[:pos] + data[pos + draw(st.integers(1, 64)) :]


def overwrite(draw: Draw, data: bytes) -> bytes:
    pos = _position(draw, data)
    fill = draw(st.one_of(st.binary(min_size=1, max_size=32), st.sampled_from([b"\x00" * 8, b"\xff" * 8])))
    return data[:pos] + fill[: len(data) - pos] + data[pos + len(fill) :]


def swap_ranges(draw: Draw, data: bytes) -> bytes:
    size = draw(st.integers(1, len(data) // 2))
    a = draw(st.integers(0, len(data) - 2 * size))
    b = draw(st.integers(a + size, len(data) - size))
    return data[:a] + data[b : b + size] + data[a + size : b] + data[a : a + size] + data[b + size :]


def rearrange_sections(draw: Draw, data: bytes) -> bytes:
    """Swap two whole sections, or drop one, or repeat one."""
    found = sections(data)
    pieces = [data[o : o + SECTION_OVERHEAD + n] for o, n in found]
    head = data[: found[0][0]]
    action = draw(st.sampled_from(["swap", "drop", "repeat"]))
    i = draw(st.integers(0, len(pieces) - 1))
    if action == "swap":
        j = draw(st.integers(0, len(pieces) - 1).filter(lambda j: j != i))
        pieces[i], pieces[j] = pieces[j], pieces[i]
    elif action == "drop":
        del pieces[i]
    else:
        pieces.insert(draw(st.integers(0, len(pieces))), pieces[i])
    return head + b"".join(pieces)


def other_version(draw: Draw, data: bytes) -> bytes:
    magic, _, _ = PREAMBLE.unpack_from(data)
    return PREAMBLE.pack(magic, draw(st.integers(0, 255)), draw(st.integers(0, 255))) + data[PREAMBLE.size :]


def other_magic(draw: Draw, data: bytes) -> bytes:
    return draw(st.binary(min_size=4, max_size=4).filter(lambda m: m != MAGIC)) + data[4:]


def resealed(draw: Draw, data: bytes, tags: tuple[bytes, ...] = ()) -> bytes:
    """Damage inside one section's payload (one of `tags` when given and present), then make every CRC
    valid again: the parsers behind the CRCs."""
    found = [(o, n) for o, n in sections(data) if n]
    offset, length = draw(st.sampled_from([(o, n) for o, n in found if data[o : o + 4] in tags] or found))
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        pos = offset + SECTION_HEAD.size + draw(st.integers(0, length - 1))
        if draw(st.booleans()):
            out[pos] ^= 1 << draw(st.integers(0, 7))
        else:
            out[pos] = draw(st.integers(0, 255))
    return reseal(bytes(out))


def resealed_run(draw: Draw, data: bytes) -> bytes:
    """`resealed` inside the index (FRNT's end in 4.x) or a keyframe run (3.3, 3.4, 4.1, 4.2): the place,
    layouts, lengths, references, OBU headers and sizes, coded frame headers, and run entries."""
    return resealed(draw, data, (*RUN_TAGS, b"RIDX", b"GIDX", b"FRNT"))


MUTATIONS = {
    f.__name__: f
    for f in (
        flip_bits,
        truncate,
        insert_bytes,
        delete_bytes,
        overwrite,
        swap_ranges,
        rearrange_sections,
        other_version,
        other_magic,
        resealed,
        resealed_run,
    )
}


def run_case(draw: Draw, seeds: dict[str, bytes], kind: str) -> None:
    valid = seeds[draw(st.sampled_from(sorted(seeds)))]
    damaged = MUTATIONS[kind](draw, valid)
    decoded = check(damaged)
    if kind == "other_magic":
        assert not decoded
    if kind == "other_version":
        major = PREAMBLE.unpack_from(damaged)[1]
        assert decoded == (major == PREAMBLE.unpack_from(valid)[1]), (
            "a minor version alone must never change the verdict"
        )


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("kind", sorted(MUTATIONS))
@settings(max_examples=CI_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=QUIET_HEALTH)
@given(data=st.data())
def test_damaged_files_decode_or_raise_the_bitstream_error(seeds, kind: str, data) -> None:
    run_case(data.draw, seeds, kind)


@pytest.mark.slow
@settings(max_examples=SLOW_CASES, deadline=None, suppress_health_check=QUIET_HEALTH)
@given(data=st.data())
def test_fuzz_many_cases(seeds, data) -> None:
    run_case(data.draw, seeds, data.draw(st.sampled_from(sorted(MUTATIONS))))


# ---------------------------------------------------------------- the entropy decoder on its own


@pytest.fixture(scope="module")
def weight_blocks(seeds) -> list[tuple[bytes, list[tuple[int, ...]]]]:
    """(coded block, shapes) of each real GOP's two networks: damage to the tensor headers reaches
    every model's parameters, which the chunk's CRC would otherwise keep from the decoder."""
    _, _, chunks = parts(seeds["two_gops"])
    out = []
    for chunk in chunks[:2]:
        tensors = [t for network in chunk.networks for t in network]
        out.append((encode_tensors(tensors)[0], [t.symbols.shape for t in tensors]))
    return out


def damaged_weights(draw: Draw, weight_blocks) -> None:
    block, shapes = draw(st.sampled_from(weight_blocks))
    kind = draw(st.sampled_from(["flip_bits", "overwrite", "insert_bytes", "delete_bytes"]))
    block = MUTATIONS[kind](draw, block)
    with time_limit(CASE_SECONDS), contextlib.suppress(BitstreamError):
        decode_tensors(ByteReader(block, "fuzz"), shapes)


@settings(
    max_examples=CI_WEIGHT_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=QUIET_HEALTH
)
@given(data=st.data())
def test_damaged_weight_headers_decode_or_raise_the_bitstream_error(weight_blocks, data) -> None:
    damaged_weights(data.draw, weight_blocks)


@pytest.mark.slow
@settings(max_examples=SLOW_CASES, deadline=None, suppress_health_check=QUIET_HEALTH)
@given(data=st.data())
def test_fuzz_many_weight_headers(weight_blocks, data) -> None:
    damaged_weights(data.draw, weight_blocks)


# ---------------------------------------------------------------- exhaustive


def test_truncation_at_every_offset_is_refused(seeds) -> None:
    for valid in seeds.values():
        for cut in range(len(valid)):
            assert not check(valid[:cut]), f"decoded a file cut at byte {cut}"


def test_the_seeds_themselves_decode(seeds) -> None:
    assert all(check(valid) for valid in seeds.values())
    for tag in RUN_TAGS:
        assert any(tag in valid for valid in seeds.values()), f"no seed holds a {tag.decode()} to damage"
