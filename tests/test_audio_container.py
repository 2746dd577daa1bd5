"""AUDI sections (since format 3.2): written and read back exactly, skipped by an older reader, refused when
damaged; in a 4.x file and in the 3.2 layout."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitstream.container as container
import bitstream.writer as writer
from bitstream import (
    FORMAT_MAJOR,
    AudioParams,
    AudioStream,
    BitstreamError,
    NrfFile,
    add_audio,
    audio_streams,
)
from bitstream.audio import audio_payload, parse_audio
from bitstream.container import AUDIO_TAG
from bitstream.framing import frame_section
from bitstream.front import front_payload
from bitstream.gop_index import index_payload
from nrffcodec import decode

from .audio_clips import synthetic_stream
from .nrf_tools import parts


@pytest.fixture(scope="module", params=[FORMAT_MAJOR, 3])
def plain(encoded, request) -> bytes:
    """The shared encode as this nrff writes it, and as 3.2 wrote it (every GOP its own GOPC, GIDX)."""
    path, _ = encoded
    data = path.read_bytes()
    return data if request.param == FORMAT_MAJOR else writer.write_nrf(*parts(data), runs=False, major=3).data


def with_index_gap(plain: bytes, gap: int, extra: bytes) -> bytes:
    """`plain` with its index saying `gap` bytes lie before the chunks, and `extra` there."""
    nrf = NrfFile(plain)
    legacy = nrf.version[0] == 3
    name, offset, size = nrf.sections[3 if legacy else 1]
    entries = [(e.frame_count, e.key_offset, e.length) + (1,) * (not legacy) for e in nrf.index]
    index = index_payload(entries, gap, runs=not legacy)
    if not legacy:
        index = front_payload(nrf.header, nrf.parameter_sets, index, nrf.header.networks)
    return plain[:offset] + frame_section(name.encode(), index) + extra + plain[offset + size :]


@pytest.fixture(scope="module")
def with_audio(plain) -> bytes:
    return add_audio(plain, [synthetic_stream(), synthetic_stream(5, seed=1)])


@pytest.fixture(scope="module")
def plain_frames(plain):
    return decode(plain, device="cpu")


def test_audio_round_trips_between_the_index_and_the_chunks(plain, with_audio) -> None:
    nrf = NrfFile(with_audio)
    assert nrf.version in ((FORMAT_MAJOR, 0), (3, writer.MINOR_WITHOUT_RUNS))  # no keyframe run
    assert audio_streams(nrf) == [synthetic_stream(), synthetic_stream(5, seed=1)]
    names = [name for name, _, _ in nrf.sections]
    front = ["FRNT"] if nrf.version[0] == FORMAT_MAJOR else ["HEAD", "PSET", "GIDX"]
    assert names == ["preamble", *front, "AUDI", "AUDI"]
    assert nrf.audio_bytes == len(with_audio) - len(plain) - 1  # the gap's varint grew by one byte
    assert nrf.chunks_start == nrf.sections[-1][1] + nrf.sections[-1][2]
    assert audio_streams(NrfFile(plain)) == [] and NrfFile(plain).audio_bytes == 0


def test_an_older_reader_skips_the_audio_and_decodes_the_same_frames(
    plain, plain_frames, with_audio, monkeypatch
) -> None:
    """A 3.0 or 3.1 reader is this one without the walk over the sections before the chunks, at its
    own minor: it seeks to the chunks by the index's gap, never reading the AUDI bytes."""
    if NrfFile(plain).version[0] != 3:
        pytest.skip("no 4.x reader predates AUDI")
    monkeypatch.setitem(container.NEWEST_MINOR, 3, 1)
    monkeypatch.setattr(container.NrfFile, "_walk_gap", lambda self, stream, start, end: [])
    old = NrfFile(with_audio)
    assert old.audio_bytes == 0 and [n for n, _, _ in old.sections] == ["preamble", "HEAD", "PSET", "GIDX"]
    shift = len(with_audio) - len(plain)
    assert [(e.first_frame, e.frame_count, e.offset - shift) for e in old.index] == [
        (e.first_frame, e.frame_count, e.offset) for e in NrfFile(plain).index
    ]
    a, b = plain_frames, decode(old, device="cpu")
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


def test_the_video_decodes_the_same_with_and_without_audio(plain_frames, with_audio) -> None:
    a, b = plain_frames, decode(with_audio, device="cpu")
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


def test_a_damaged_audio_section_is_refused_when_the_file_is_opened(with_audio) -> None:
    _, offset, size = [s for s in NrfFile(with_audio).sections if s[0] == "AUDI"][1]
    damaged = bytearray(with_audio)
    damaged[offset + size // 2] ^= 0x10
    with pytest.raises(BitstreamError, match="AUDI.*CRC"):
        NrfFile(bytes(damaged))


def test_sections_that_do_not_fill_the_gap_are_refused(plain) -> None:
    audio = frame_section(AUDIO_TAG, audio_payload(synthetic_stream()))
    for gap, extra in ((len(audio) + 1, audio + b"\0"), (len(audio) - 3, audio[:-3])):
        with pytest.raises(BitstreamError, match="first GOP chunk"):
            NrfFile(with_index_gap(plain, gap, extra))


def test_an_unknown_section_beside_the_audio_is_skipped(plain) -> None:
    extra = frame_section(b"XTRA", b"a newer minor's") + frame_section(AUDIO_TAG, audio_payload(synthetic_stream()))
    assert audio_streams(NrfFile(with_index_gap(plain, len(extra), extra))) == [synthetic_stream()]


@pytest.mark.parametrize(
    "change",
    [
        dict(codec="AAC!"),
        dict(layout="stereo\n"),
        dict(extradata=b"x" * (1 << 20 + 1)),
        dict(params=dataclasses.replace(synthetic_stream().params, channels=0)),
        dict(packets=(dataclasses.replace(synthetic_stream().packets[0], data=b""),)),
    ],
)
def test_the_writer_refuses_values_out_of_range(change) -> None:
    with pytest.raises(ValueError):
        audio_payload(dataclasses.replace(synthetic_stream(), **change))


def test_every_truncation_of_an_audio_payload_is_refused() -> None:
    payload = audio_payload(synthetic_stream())
    for cut in range(len(payload)):
        with pytest.raises(BitstreamError):
            parse_audio(payload[:cut], "AUDI")


def test_reserved_flags_and_huge_counts_are_refused() -> None:
    stream = AudioStream(
        AudioParams(
            sample_rate=8000, channels=1, time_base_num=1, time_base_den=8000, frame_size=0, bit_rate=0, origin=0
        ),
        "pcm_u8",
        "",
        b"",
        (),
    )
    empty = audio_payload(stream)
    with pytest.raises(BitstreamError, match="exceeds the limit"):
        parse_audio(empty[:-1] + b"\x05", "AUDI")  # five packets promised in no bytes
    with pytest.raises(BitstreamError, match="reserved"):
        parse_audio(empty[:-1] + b"\x01\x80\x00\x01\x01\x07", "AUDI")


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_damaged_audio_payloads_parse_or_raise_the_bitstream_error(data) -> None:
    payload = bytearray(audio_payload(synthetic_stream(int(data.draw(st.integers(1, 12))))))
    for _ in range(data.draw(st.integers(1, 6))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(BitstreamError):
        parse_audio(bytes(payload), "AUDI")


def test_a_renamed_audio_section_fails_its_crc(with_audio) -> None:
    _, offset, _ = [s for s in NrfFile(with_audio).sections if s[0] == "AUDI"][0]
    renamed = bytearray(with_audio)
    renamed[offset : offset + 4] = b"AUDX"
    with pytest.raises(BitstreamError, match="AUDX.*CRC"):
        NrfFile(bytes(renamed))
