"""The .nrf container: round trip, range checks on write and read, versions, index, CRCs, in the 4.x
layout and in the 3.x one this code still reads (and writes on request)."""

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
from bitstream.bytes_io import ByteReader, ByteWriter
from bitstream.framing import PREAMBLE, SECTION_HEAD, frame_section
from bitstream.front import read_parameter_sets
from bitstream.gop_chunk import zero_tensor
from bitstream.gop_index import INDEX_FIELDS, RUN_INDEX_FIELDS
from bitstream.header import FORMAT_MAJOR, NEWEST_MINOR, FrontHead
from bitstream.records import write_record
from nrffcodec import decode

MAJORS = sorted(NEWEST_MINOR, reverse=True)  # 4, 3

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


def build(major: int = FORMAT_MAJOR) -> bytes:
    return write_nrf(make_header(), [b"\x40\x01vps", b"\x42\x01sps"], make_chunks(), major=major).data


@pytest.mark.parametrize("major", MAJORS)
def test_round_trip(major: int) -> None:
    data = build(major)
    nrf = NrfFile(data)
    assert nrf.header == make_header() and nrf.version == (major, 0 if major > 3 else 2)  # no keyframe run: 4.0, 3.2
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


def _front(data: bytes) -> tuple[int, int, bytes, bytes, bytes]:
    """(offset, size) of the front's sections and the header record, parameter sets and index payloads."""
    nrf = NrfFile(data)
    first, last = nrf.sections[1], [s for s in nrf.sections if s[0] in ("FRNT", "GIDX", "RIDX")][0]
    payloads = []
    for _, offset, size in nrf.sections[1 : nrf.sections.index(last) + 1]:
        payloads.append(data[offset + SECTION_HEAD.size : offset + size - 4])
    if len(payloads) == 1:  # 4.x: one FRNT section
        reader = ByteReader(payloads[0], "FRNT")
        head = reader.blob()
        start = reader.offset
        read_parameter_sets(reader)
        payloads = [head, payloads[0][start : reader.offset], payloads[0][reader.offset :]]
    return first[1], last[1] + last[2] - first[1], *payloads


def _with_front(
    data: bytes, head: bytes, pset: bytes, index: bytes, index_tag: bytes = b"", extra: bytes = b""
) -> bytes:
    """`data` with its front made of these payloads (and `extra` sections after it), lengths and CRCs fixed;
    chunk offsets follow from the index, so nothing else moves."""
    offset, size, *_ = _front(data)
    if NrfFile(data).version[0] == 3:
        front = frame_section(b"HEAD", head) + frame_section(b"PSET", pset) + frame_section(index_tag, index)
    else:
        writer = ByteWriter()
        writer.blob(head)
        front = frame_section(b"FRNT", writer.getvalue() + pset + index)
    return data[:offset] + front + extra + data[offset + size :]


def _rewrite_head(data: bytes, mutate) -> bytes:
    """Re-encode the header record with `mutate(payload) -> payload`."""
    _, _, head, pset, index = _front(data)
    tag = [s[0] for s in NrfFile(data).sections if s[0] in ("GIDX", "RIDX")]
    return _with_front(data, mutate(head), pset, index, tag[0].encode() if tag else b"")


@pytest.mark.parametrize("major", MAJORS)
def test_out_of_range_field_in_file_is_rejected(major: int) -> None:
    data = _rewrite_head(build(major), lambda p: b"\x00" + p[1:])  # width = 0
    with pytest.raises(BitstreamError, match="width"):
        NrfFile(data)


def _minor(data: bytes, minor: int) -> bytes:
    return data[:4] + bytes([data[4], minor]) + data[6:]


@pytest.mark.parametrize("major", MAJORS)
def test_newer_minor_version_with_extra_fields_still_decodes(major: int) -> None:
    data = _minor(_rewrite_head(build(major), lambda p: p + b"\x01\x02\x03\x04"), NEWEST_MINOR[major] + 1)
    nrf = NrfFile(data)
    assert nrf.header == make_header()
    assert nrf.read_gop(1, SHAPES).frame_count == 2


def test_appended_header_fields_are_refused_at_a_known_minor() -> None:
    """(A 3.x reader never checked HEAD's end, and still does not.)"""
    with pytest.raises(BitstreamError, match="trailing"):
        NrfFile(_rewrite_head(build(), lambda p: p + b"\x01"))


@pytest.mark.parametrize("major", [FORMAT_MAJOR + 1, 2])
def test_another_major_version_is_refused_naming_the_versions(major: int) -> None:
    data = bytearray(build())
    struct.pack_into("<BB", data, 4, major, 3)
    with pytest.raises(BitstreamError, match=rf"{major}\.3 is not supported.*3\.x .*{FORMAT_MAJOR}\.x"):
        NrfFile(bytes(data))


def test_wrong_magic_is_refused() -> None:
    with pytest.raises(BitstreamError, match="not an .nrf"):
        NrfFile(b"RIFF" + build()[4:])


@pytest.mark.parametrize("major", MAJORS)
def test_every_truncation_is_detected(major: int) -> None:
    data = build(major)
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            nrf = NrfFile(data[:cut])
            for i in range(len(nrf.index)):
                nrf.read_gop(i, SHAPES)


@pytest.mark.parametrize("major", MAJORS)
def test_every_single_bit_flip_is_detected(major: int) -> None:
    data = build(major)
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


@pytest.mark.parametrize("major", MAJORS)
def test_header_claiming_huge_sizes_is_rejected_quickly(major: int) -> None:
    huge = ByteWriter()
    for value in (16384, 16384, 1, 1, 10_000_000):
        huge.uvarint(value)
    original = make_header().video  # width 37, height 23, fps 30000/1001, 5 frames: 1 + 1 + 3 + 2 + 1 bytes
    fields = (original.width, original.height, original.fps_num, original.fps_den, original.frame_count)
    assert fields == (37, 23, 30000, 1001, 5)
    data = _rewrite_head(build(major), lambda p: huge.getvalue() + p[8:])
    with pytest.raises(BitstreamError):
        NrfFile(data)


def _newer_minor(data: bytes, entry_padding: int = 0, extra_sections: bytes = b"") -> bytes:
    """The same file as a newer minor version would lay it out: more fields per GOP-index entry,
    bytes appended to the index and/or unknown sections before the first chunk (the index's gap)."""
    nrf = NrfFile(data)
    tag = [s[0].encode() for s in nrf.sections if s[0] in ("GIDX", "RIDX")]
    runs = tag != [b"GIDX"]
    _, _, head, pset, _ = _front(data)
    writer = ByteWriter()
    writer.uvarint((RUN_INDEX_FIELDS if runs else INDEX_FIELDS) + entry_padding)
    writer.uvarint(len(extra_sections))
    sections = [e for e in nrf.index if not e.position]
    if runs:
        writer.uvarint(len(sections))
    for e in sections:
        for value in (e.frame_count * e.run, e.key_offset, e.length) + (e.run,) * runs + (300,) * entry_padding:
            writer.uvarint(value)
    writer.raw(b"appended by a newer minor")
    newer = _with_front(data, head, pset, writer.getvalue(), tag[0] if tag else b"", extra_sections)
    return _minor(newer, NEWEST_MINOR[nrf.version[0]] + 1)


@pytest.mark.parametrize("major", MAJORS)
@pytest.mark.parametrize("padding,extra", [(4, b""), (0, b"XTRA"), (9, b"XTRA")])
def test_newer_minor_index_entries_and_sections_are_skipped(major: int, padding: int, extra: bytes) -> None:
    unknown = frame_section(extra, b"a field this reader does not know") if extra else b""
    nrf = NrfFile(_newer_minor(build(major), padding, unknown))
    assert nrf.version == (major, NEWEST_MINOR[major] + 1)
    assert [(e.first_frame, e.frame_count) for e in nrf.index] == [(0, 3), (3, 2)]
    for i, original in enumerate(make_chunks()):
        assert nrf.read_gop(i, SHAPES).keyframe.slices == original.keyframe.slices


def test_a_real_file_in_newer_minor_layout_decodes_to_the_same_frames(encoded) -> None:
    path, _ = encoded
    data = path.read_bytes()
    appended = _minor(_rewrite_head(data, lambda p: p + b"\x07" * 6), NEWEST_MINOR[FORMAT_MAJOR] + 1)
    newer = _newer_minor(appended, 4, frame_section(b"XTRA", b"?"))
    assert NrfFile(newer).version == (FORMAT_MAJOR, NEWEST_MINOR[FORMAT_MAJOR] + 1)
    a, b = decode(data, device="cpu"), decode(newer, device="cpu")
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


def _one_frame_gops(count: int) -> list[GopChunk]:
    return [
        GopChunk(i, i, 1, 0, Keyframe([], [bytes([i + 1]) * 9]), [[zero_tensor(s) for s in n] for n in SHAPES])
        for i in range(count)
    ]


def test_a_file_of_one_frame_gops_stores_no_networks_and_saves_their_bytes() -> None:
    header = make_header(frames=4, gops=4)
    new, old = (write_nrf(header, [b"ps"], _one_frame_gops(4), major=m).data for m in (FORMAT_MAJOR, 3))
    nrf = NrfFile(new)
    assert not nrf.header.networks and NrfFile(old).header.networks and NrfFile(old).header == header
    assert nrf.header.video == header.video and nrf.header.gop_count == 4
    assert [nrf.read_gop(i, SHAPES).keyframe.slices for i in range(4)] == [[bytes([i + 1]) * 9] for i in range(4)]
    # two sections' framing less FRNT's header length, and the architecture (flow scale, two FieldArchs of
    # 7 one-byte fields, quant) less its flag
    assert len(old) - len(new) == 2 * 12 - 1 + 4 + 2 * 7 + 2 - 1
    with_networks = _one_frame_gops(4)
    with_networks[2] = make_chunks((1,))[0]
    with_networks[2].gop_index, with_networks[2].first_frame = 2, 2
    assert NrfFile(write_nrf(header, [b"ps"], with_networks).data).header == header  # weights need the archs


def test_gops_of_several_frames_in_a_file_without_networks_are_refused() -> None:
    lean = write_nrf(make_header(frames=4, gops=4), [b"ps"], _one_frame_gops(4), runs=False).data
    _, _, _, pset, index = _front(lean)
    reader = ByteReader(index, "index")
    fields, gap, count = reader.uvarint(), reader.uvarint(), reader.uvarint()
    entries = [[reader.uvarint() for _ in range(fields)] for _ in range(count)]
    writer = ByteWriter()
    for value in (fields, gap, count - 1, 2, 0, entries[0][2] + entries[1][2], 1):
        writer.uvarint(value)  # the first two GOPs' sections as one GOP of two frames
    for entry in entries[2:]:
        for value in entry:
            writer.uvarint(value)
    head = ByteWriter()
    write_record(head, FrontHead(make_header(frames=4).video, 3, 3, 0, 1, networks=False))
    with pytest.raises(BitstreamError, match="several frames in a file that stores no networks"):
        NrfFile(_with_front(lean, head.getvalue(), pset, writer.getvalue()))
