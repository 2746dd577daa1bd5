"""KPAK (format 4.1): a run of AV1 keyframes stored as its OBUs without their header bytes, and each
frame shown again in one byte (bitstream/av1.py pack_obus; docs/decisions/0061)."""

from __future__ import annotations

import pytest

import bitstream.container as container
from bitstream import FORMAT_MAJOR, BitstreamError, NrfFile, write_nrf
from bitstream.av1 import SHOWN_AGAIN, pack_obus, split_obus, unpack_obus
from bitstream.keyframe_run import PACKED_RUN_TAG, RUN_TAG, STREAM_RUN_TAG, RunPlace, read_keyframe_run
from nrffcodec import decode
from nrffcodec.app.info import info_lines, inspect_file

from .nrf_tools import as_kstr, keyframe_run_encode, one_thread, parts, same_frames, tags


@pytest.fixture(scope="module")
def runs() -> bytes:
    """Ten one-frame GOPs coded by the keyframe codec alone: one KPAK (a 4.2 writer's second choice)."""
    return write_nrf(*parts(keyframe_run_encode()), header_runs=False).data


def test_a_4_0_reader_refuses_a_packed_run_when_it_reads_it(runs, monkeypatch) -> None:
    """A 4.0 reader is this one knowing 4.0 and no KPAK: it opens a 4.1 file as a newer minor and
    refuses the run's GOPs by tag, never misreading them."""
    kstr = as_kstr(runs)
    monkeypatch.setattr(container, "RUN_TAGS", (RUN_TAG, STREAM_RUN_TAG))
    monkeypatch.setitem(container.NEWEST_MINOR, FORMAT_MAJOR, 0)
    nrf = NrfFile(runs)
    assert nrf.newer_minor and not NrfFile(kstr).newer_minor and len(parts(kstr)[2]) == len(nrf.index)
    with pytest.raises(BitstreamError, match="expected section KRUN, found b'KPAK'"):
        nrf.read_gop(0, [[], []])


def packed_saving(obus: list[bytes]) -> int:
    """Bytes a KPAK saves on these OBUs against a KSTR: each header byte, and a frame shown again is one byte."""
    return sum(2 if obu in SHOWN_AGAIN else 1 for obu in obus)


def test_a_packed_run_leaves_out_each_obu_header_byte_and_nothing_else(runs) -> None:
    kstr = as_kstr(runs)
    assert tags(kstr)[-1] == STREAM_RUN_TAG and NrfFile(kstr).version == (FORMAT_MAJOR, 0)
    keyframes = [c.keyframe for c in parts(runs)[2]]
    assert keyframes == [c.keyframe for c in parts(kstr)[2]]
    assert len(kstr) - len(runs) == packed_saving([s for k in keyframes for s in k.slices])
    assert write_nrf(*parts(kstr), header_runs=False).data == runs and as_kstr(kstr) == kstr
    for data, packed in ((runs, True), (kstr, False)):  # the keyframe bytes reported are those `nrff info` adds up
        written = write_nrf(*parts(data), packed_runs=packed, header_runs=False)
        assert written.keyframe_bytes == sum(c.keyframe_size for c in parts(data)[2])
    with one_thread():
        assert same_frames(decode(runs, device="cpu"), decode(kstr, device="cpu"))


def test_obus_pack_only_where_they_come_back_byte_for_byte(runs) -> None:
    obus = [s for c in parts(runs)[2] for s in c.keyframe.slices]
    packed = pack_obus(obus)
    assert packed is not None and unpack_obus(packed) == obus
    assert len(packed) == sum(map(len, obus)) - packed_saving(obus) and any(o in SHOWN_AGAIN for o in obus)
    frame = next(o for o in obus if o[0] == 0x32)
    size_and_payload = frame[1:]
    assert pack_obus([bytes([0x1A]) + size_and_payload]) is None  # a header its payload does not imply
    assert pack_obus([bytes([0x36, 0x00]) + size_and_payload]) is None  # an extension byte
    padded = bytes([0x32, (len(frame) - 2) | 0x80, 0x00]) + frame[2:]  # a size field one byte longer than needed
    assert split_obus(padded) == [padded] and pack_obus([padded]) is None
    assert pack_obus([bytes([0x32, 0x00])]) is None  # an empty payload implies no header
    assert pack_obus([bytes([0x32])]) is None  # no size field
    assert [pack_obus([again]) for again in SHOWN_AGAIN] == [bytes([i]) for i in range(8)]
    assert pack_obus([bytes([0x1A, 0x01, 0x8C])]) == bytes([8, 0x8C])  # other trailing bits: as a frame header
    with pytest.raises(ValueError, match="run past the end"):
        unpack_obus(b"\x0c\x01")
    with pytest.raises(ValueError, match="cut short"):
        unpack_obus(b"\x88")


def test_a_packed_run_is_read_only_in_the_form_its_writer_gives() -> None:
    """A frame shown again could also be spelt as a one-byte frame header (code 8, then 0x88): the
    reader refuses that spelling, so every KPAK has one form and its bytes add up as written."""
    place, shown = bytes([0, 0, 2, 0]), bytes([8, 0x10])  # two keyframes: a frame OBU showing a picture, then
    for again, accepted in ((b"\x00", True), (b"\x08\x88", False)):  # frame 0 shown again, in either spelling
        payload = place + shown + again
        if accepted:
            run = read_keyframe_run(payload, "run", RunPlace(0, 0, 2), [], tag=PACKED_RUN_TAG)
            assert [k.slices for k, _ in run] == [[bytes([0x32, 1, 0x10])], [SHOWN_AGAIN[0]]]
            assert sum(n for _, n in run) == len(payload) - 3
        else:
            with pytest.raises(BitstreamError, match="not packed as written"):
                read_keyframe_run(payload, "run", RunPlace(0, 0, 2), [], tag=PACKED_RUN_TAG)


def test_info_counts_the_keyframes_that_show_a_picture_again(runs) -> None:
    info = inspect_file(runs)
    again = [g["gop"] for g in info["gops"] if g["keyframe_shows_again"]]
    assert again == [c.gop_index for c in parts(runs)[2] if c.keyframe.slices[0] in SHOWN_AGAIN] and again
    assert all(g["keyframe_bytes"] == 1 for g in info["gops"] if g["keyframe_shows_again"])
    legend = next(line for line in info_lines(info) if line.startswith("key = "))
    assert legend.endswith(f"; {len(again)} keyframes show again a picture an earlier one coded")
