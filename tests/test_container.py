"""The .nrf container: round trip, range checks on write and read, versions, index, CRCs."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from bitstream import (
    BitstreamError,
    FieldArch,
    GopChunk,
    Header,
    Keyframe,
    NrfFile,
    QuantizedTensor,
    QuantSpec,
    VideoInfo,
    write_nrf,
)
from bitstream.bytes_io import ByteWriter
from bitstream.container import PREAMBLE, SECTION_HEAD, frame_section
from bitstream.gop_index import INDEX_FIELDS
from bitstream.header import FORMAT_MAJOR, FORMAT_MINOR
from nrffcodec import decode

ARCH = FieldArch(width=4, hidden_layers=1, shared_hidden=True, freqs_t=1, freqs_y=2, freqs_x=2, out_channels=4)
SHAPES = [[(4, 13), (4,), (2, 2)], [(3, 3)]]


def make_header(frames: int = 5, gops: int = 2, **video) -> Header:
    info = dict(width=37, height=23, fps_num=30000, fps_den=1001, frame_count=frames)
    info.update(video)
    return Header(
        video=VideoInfo(**info),
        gop_length=3,
        gop_count=gops,
        keyframe_codec=0,
        keyframe_period=1,
        flow_scale=2.0,
        flow=ARCH,
        residual=ARCH,
        quant=QuantSpec(weight_bits=8, per_channel=True),
    )


def make_chunks(counts=(3, 2), seed: int = 0) -> list[GopChunk]:
    rng = np.random.default_rng(seed)
    chunks, first = [], 0
    for i, n in enumerate(counts):
        nets = [
            [QuantizedTensor(rng.integers(-9, 9, s).astype(np.int32), np.full(1, 0.5, np.float32)) for s in shapes]
            for shapes in SHAPES
        ]
        chunks.append(
            GopChunk(i, first, n, n // 2, Keyframe([0, 1], [bytes(rng.integers(1, 255, 30, dtype=np.uint8))]), nets)
        )
        first += n
    return chunks


def build() -> bytes:
    return write_nrf(make_header(), [b"\x40\x01vps", b"\x42\x01sps"], make_chunks()).data


def test_round_trip() -> None:
    data = build()
    nrf = NrfFile(data)
    assert nrf.header == make_header()
    assert nrf.parameter_sets == [b"\x40\x01vps", b"\x42\x01sps"]
    assert [(e.first_frame, e.frame_count, e.key_offset) for e in nrf.index] == [(0, 3, 1), (3, 2, 1)]
    assert nrf.index[-1].offset + nrf.index[-1].length == len(data)
    for i, original in enumerate(make_chunks()):
        chunk = nrf.read_gop(i, SHAPES)
        assert chunk.keyframe.slices == original.keyframe.slices
        for net_a, net_b in zip(chunk.networks, original.networks):
            for a, b in zip(net_a, net_b):
                np.testing.assert_array_equal(a.symbols, b.symbols)
    assert sum(size for _, _, size in nrf.sections) + sum(e.length for e in nrf.index) == len(data)


def test_all_zero_networks_are_written_as_no_block_and_read_back_as_zeros() -> None:
    chunks = make_chunks((1, 4))
    chunks[0].networks = [
        [QuantizedTensor(np.zeros(s, np.int32), np.ones(1, np.float32)) for s in shapes] for shapes in SHAPES
    ]
    data = write_nrf(make_header(), [b"\x40\x01vps", b"\x42\x01sps"], chunks).data
    nrf = NrfFile(data)
    empty, full = nrf.read_gop(0, SHAPES), nrf.read_gop(1, SHAPES)
    assert empty.weights_size == 0 and full.weights_size > 0
    assert all(
        not t.symbols.any() and t.symbols.shape == s
        for net, shapes in zip(empty.networks, SHAPES)
        for t, s in zip(net, shapes)
    )
    for net_a, net_b in zip(full.networks, chunks[1].networks):
        for a, b in zip(net_a, net_b):
            np.testing.assert_array_equal(a.symbols, b.symbols)
    # one zero tensor among trained ones keeps the block: only networks that are all zero lose it
    chunks[0].networks[1][0] = chunks[1].networks[1][0]
    assert write_nrf(make_header(), [b"\x40\x01vps", b"\x42\x01sps"], chunks).network_bytes > full.weights_size


def test_reading_from_path_matches_bytes(tmp_path) -> None:
    path = tmp_path / "x.nrf"
    path.write_bytes(build())
    assert NrfFile(path).header == NrfFile(build()).header


@pytest.mark.parametrize("change", [dict(width=0), dict(width=20000), dict(fps_den=0), dict(fps_num=2**31)])
def test_out_of_range_fields_are_refused_on_write(change) -> None:
    with pytest.raises(ValueError, match="outside"):
        write_nrf(make_header(**change), [], make_chunks())


def test_inconsistent_header_is_refused() -> None:
    with pytest.raises(ValueError, match="GOPs for"):
        make_header(frames=1, gops=2)


def test_flow_scale_must_be_exact_float32() -> None:
    with pytest.raises(ValueError, match="float32"):
        write_nrf(dataclasses.replace(make_header(), flow_scale=0.1), [], make_chunks())


def _rewrite_head(data: bytes, mutate) -> bytes:
    """Re-encode the HEAD section with `mutate(payload) -> payload`, fixing its length and CRC
    (chunk offsets follow from the sections' lengths, so nothing else moves)."""
    _, offset, size = NrfFile(data).sections[1]
    tag, length = SECTION_HEAD.unpack_from(data, offset)
    payload = mutate(data[offset + 8 : offset + 8 + length])
    return data[:offset] + frame_section(tag, payload) + data[offset + size :]


def test_out_of_range_field_in_file_is_rejected() -> None:
    data = _rewrite_head(build(), lambda p: b"\x00" + p[1:])  # width = 0
    with pytest.raises(BitstreamError, match="width"):
        NrfFile(data)


def test_newer_minor_version_with_extra_fields_still_decodes() -> None:
    data = bytearray(_rewrite_head(build(), lambda p: p + b"\x01\x02\x03\x04"))
    struct.pack_into("<B", data, 5, FORMAT_MINOR + 1)
    nrf = NrfFile(bytes(data))
    assert nrf.header == make_header()
    assert nrf.read_gop(1, SHAPES).frame_count == 2


def test_newer_major_version_is_refused_naming_both_versions() -> None:
    data = bytearray(build())
    struct.pack_into("<BB", data, 4, FORMAT_MAJOR + 1, 3)
    with pytest.raises(BitstreamError, match=rf"{FORMAT_MAJOR + 1}\.3.*{FORMAT_MAJOR}\."):
        NrfFile(bytes(data))


def test_wrong_magic_is_refused() -> None:
    with pytest.raises(BitstreamError, match="not an .nrf"):
        NrfFile(b"RIFF" + build()[4:])


def test_every_truncation_is_detected() -> None:
    data = build()
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            nrf = NrfFile(data[:cut])
            for i in range(len(nrf.index)):
                nrf.read_gop(i, SHAPES)


def test_every_single_bit_flip_is_detected() -> None:
    data = build()
    for pos in range(PREAMBLE.size, len(data)):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << (pos % 8)
        with pytest.raises(BitstreamError):
            nrf = NrfFile(bytes(flipped))
            for i in range(len(nrf.index)):
                nrf.read_gop(i, SHAPES)


def test_swapped_chunks_are_detected() -> None:
    chunks = make_chunks(counts=(3, 3))
    data = write_nrf(make_header(frames=6), [b"\x40\x01vps", b"\x42\x01sps"], chunks).data
    nrf = NrfFile(data)
    a, b = nrf.index
    swapped = data[: a.offset] + data[b.offset : b.offset + b.length] + data[a.offset : a.offset + a.length]
    broken = NrfFile(swapped)
    with pytest.raises(BitstreamError, match="GOP 0"):
        broken.read_gop(0, SHAPES)


def test_header_claiming_huge_sizes_is_rejected_quickly() -> None:
    huge = ByteWriter()
    for value in (16384, 16384, 1, 1, 10_000_000):
        huge.uvarint(value)
    original = make_header().video  # width 37, height 23, fps 30000/1001, 5 frames: 1 + 1 + 3 + 2 + 1 bytes
    fields = (original.width, original.height, original.fps_num, original.fps_den, original.frame_count)
    assert fields == (37, 23, 30000, 1001, 5)
    data = _rewrite_head(build(), lambda p: huge.getvalue() + p[8:])
    with pytest.raises(BitstreamError):
        NrfFile(data)


def _newer_minor(data: bytes, entry_padding: int = 0, extra_sections: bytes = b"") -> bytes:
    """The same file as a newer minor version would lay it out: more fields per GOP-index entry
    and/or unknown sections between GIDX and the first GOPC (the index says how many bytes)."""
    nrf = NrfFile(data)
    _, gidx_offset, gidx_size = [s for s in nrf.sections if s[0] == "GIDX"][0]
    writer = ByteWriter()
    writer.uvarint(INDEX_FIELDS + entry_padding)
    writer.uvarint(len(extra_sections))
    for e in nrf.index:
        for value in (e.frame_count, e.key_offset, e.length) + (300,) * entry_padding:
            writer.uvarint(value)
    writer.raw(b"appended by a newer minor")
    preamble = PREAMBLE.pack(b"NRFF", FORMAT_MAJOR, FORMAT_MINOR + 1)
    return (
        preamble
        + data[PREAMBLE.size : gidx_offset]
        + frame_section(b"GIDX", writer.getvalue())
        + extra_sections
        + data[gidx_offset + gidx_size :]
    )


@pytest.mark.parametrize("padding,extra", [(4, b""), (0, b"XTRA"), (9, b"XTRA")])
def test_newer_minor_index_entries_and_sections_are_skipped(padding: int, extra: bytes) -> None:
    unknown = frame_section(extra, b"a field this reader does not know") if extra else b""
    nrf = NrfFile(_newer_minor(build(), padding, unknown))
    assert nrf.version == (FORMAT_MAJOR, FORMAT_MINOR + 1)
    assert [(e.first_frame, e.frame_count) for e in nrf.index] == [(0, 3), (3, 2)]
    for i, original in enumerate(make_chunks()):
        assert nrf.read_gop(i, SHAPES).keyframe.slices == original.keyframe.slices


def test_a_real_file_in_newer_minor_layout_decodes_to_the_same_frames(encoded) -> None:
    path, _ = encoded
    data = path.read_bytes()
    newer = _newer_minor(_rewrite_head(data, lambda p: p + b"\x07" * 6), 4, frame_section(b"XTRA", b"?"))
    assert NrfFile(newer).version[1] == FORMAT_MINOR + 1
    a, b = decode(data, device="cpu"), decode(newer, device="cpu")
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")
