"""KHDR (format 4.2): a run of AV1 keyframes whose frame headers a model codes (bitstream/av1_headers.py,
docs/decisions/0063)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bitstream import BitstreamError, NrfFile, write_nrf
from bitstream.av1 import OBU_FRAME, SHOWN_AGAIN, obu_type, pack_obus, read_size
from bitstream.av1_frame_header import apply, frame_header
from bitstream.av1_headers import code_headers, decode_headers, sequence_header_of
from bitstream.av1_syntax import BitReader, ReferenceSlots, Unsupported
from bitstream.bytes_io import ByteReader
from bitstream.keyframe_run import HEADER_RUN_TAG, PACKED_RUN_TAG, RunPlace, read_keyframe_run, write_keyframe_run
from nrffcodec import EncodeSettings, decode, encode_video

from .clips import moving_texture
from .nrf_tools import TINY, one_thread, parts, same_frames, tags

FRAMES = 40  # two of SVT-AV1's 16-frame mini-GOPs and a part: every layer, frames shown again, two key frames


@pytest.fixture(scope="module")
def encoded() -> bytes:
    """A clip the keyframe codec codes alone (GOP length 1), keyframe period 32."""
    with one_thread():
        data, _ = encode_video(moving_texture(32, 24, FRAMES, dx=1), EncodeSettings(gop=1, keyframe_period=32, **TINY))
    return data


def run_obus(data: bytes) -> tuple[bytes, list[bytes]]:
    """(the sequence header, the run's OBUs) of a file of one run."""
    _, parameter_sets, chunks = parts(data)
    return parameter_sets[0], [obu for chunk in chunks for obu in chunk.keyframe.slices]


def payload(unit: bytes) -> bytes:
    """The OBU's payload (no extension byte in SVT-AV1's keyframes)."""
    size, cursor = read_size(unit, 1, 0)
    return unit[cursor : cursor + size]


def test_a_clip_of_keyframes_alone_is_one_khdr_that_decodes_to_the_same_frames(encoded) -> None:
    kpak = write_nrf(*parts(encoded), header_runs=False).data
    assert tags(encoded) == [b"FRNT", HEADER_RUN_TAG] and NrfFile(encoded).version == (4, 2)
    assert tags(kpak)[-1] == PACKED_RUN_TAG and len(encoded) < len(kpak)
    assert [c.keyframe for c in parts(encoded)[2]] == [c.keyframe for c in parts(kpak)[2]]
    with one_thread():
        assert same_frames(decode(encoded, device="cpu"), decode(kpak, device="cpu"))


def test_headers_come_back_bit_for_bit_and_cost_less(encoded) -> None:
    sequence_header, obus = run_obus(encoded)
    seq = sequence_header_of(sequence_header)
    coded = code_headers(obus, seq)
    decoded = decode_headers(coded, seq, FRAMES, "run")
    assert decoded.units == obus and sum(decoded.stored_bytes()) == len(coded)
    assert sum(decoded.tile_bytes) + decoded.header_bytes == len(coded) and min(decoded.header_bits) > 0
    assert any(o in SHOWN_AGAIN for o in obus)
    assert len(coded) < len(pack_obus(obus))
    with pytest.raises(BitstreamError, match="past the end"):
        decode_headers(coded[:-1], seq, FRAMES, "run")


def trace_header_bits(sequence_header: bytes, obus: list[bytes], tmp_path: Path) -> list[int]:
    """Per frame OBU, where FFmpeg's own AV1 parser (the trace_headers filter) says its header ends:
    an oracle independent of bitstream/av1_frame_header.py."""
    av = pytest.importorskip("av")
    path = tmp_path / "run.obu"
    path.write_bytes(b"\x12\x00" + sequence_header + b"".join(obus))
    with av.open(str(path), format="obu") as container:
        stream = container.streams.video[0]
        try:
            trace = av.bitstream.BitStreamFilterContext("trace_headers", stream)
        except Exception:  # noqa: BLE001 - an FFmpeg built without the filter
            pytest.skip("FFmpeg without trace_headers")
        av.logging.set_level(av.logging.INFO)
        with av.logging.Capture() as logs:
            for packet in container.demux(stream):
                trace.filter(packet)
            trace.filter(None)
    ends, last, in_frame = [], 0, False
    for _, _, line in logs:
        if line.startswith("Frame Header"):
            in_frame, last = True, 0
        elif line.startswith("Tile Group") and in_frame:
            ends.append(last)
            in_frame = False
        elif in_frame and (field := re.match(r"(\d+)\s+(\S+)\s+([01]+) = ", line)) and field.group(2) != "zero_bit":
            last = int(field.group(1)) + len(field.group(3))  # zero_bit: byte_alignment(), after the header
    return ends


def test_the_walk_ends_each_header_where_ffmpeg_does(encoded, tmp_path) -> None:
    sequence_header, obus = run_obus(encoded)
    seq, slots, ends = sequence_header_of(sequence_header), ReferenceSlots(), []
    for unit in obus:
        body = payload(unit)
        reader = BitReader(body)
        summary = frame_header(reader, seq, slots)
        apply(summary, slots)
        if obu_type(unit) == OBU_FRAME:
            ends.append(reader.position + 8 * (len(unit) - len(body)))  # FFmpeg counts from the OBU's first byte
    assert ends == trace_header_bits(sequence_header, obus, tmp_path) and len(ends) > FRAMES // 2


def test_syntax_outside_the_model_falls_back_to_a_kpak(encoded) -> None:
    sequence_header, _ = run_obus(encoded)
    chunks = parts(encoded)[2]
    assert write_keyframe_run(chunks, (HEADER_RUN_TAG, PACKED_RUN_TAG), sequence_header)[0] == HEADER_RUN_TAG
    assert write_keyframe_run(chunks, (HEADER_RUN_TAG, PACKED_RUN_TAG), None)[0] == PACKED_RUN_TAG
    assert write_keyframe_run(chunks, (HEADER_RUN_TAG, PACKED_RUN_TAG), b"\x0a\x01\x08")[0] == PACKED_RUN_TAG
    with pytest.raises(Unsupported, match="reduced still picture"):
        sequence_header_of(b"\x0a\x01\x08")
    with pytest.raises(Unsupported, match="runs past"):
        sequence_header_of(b"\x0a\x01\x00")
    seq = sequence_header_of(sequence_header)
    with pytest.raises(Unsupported, match="no frame of the run filled"):
        code_headers([SHOWN_AGAIN[0]], seq)  # a frame shown again, without the frame
    frame = next(o for o in run_obus(encoded)[1] if obu_type(o) == OBU_FRAME)
    for unit in (bytes([frame[0] | 0x04, 0]) + frame[1:], bytes([frame[0], 0])):  # an extension; no payload
        with pytest.raises(Unsupported):
            code_headers([unit], seq)


def test_a_khdr_is_read_only_in_the_form_its_writer_gives(encoded) -> None:
    """A zero word more after the coded headers decodes to the same OBUs; the reader refuses it."""
    header, parameter_sets, chunks = parts(encoded)
    tag, payload, _ = write_keyframe_run(chunks, (HEADER_RUN_TAG,), parameter_sets[0])
    seq = sequence_header_of(parameter_sets[0])
    coded = code_headers(run_obus(encoded)[1], seq)
    words = ByteReader(coded, "run").uvarint()
    longer = bytes([words + 1]) + coded[1 : 1 + 4 * words] + bytes(4) + coded[1 + 4 * words :]
    assert tag == HEADER_RUN_TAG and payload.endswith(coded) and words < 127
    assert decode_headers(longer, seq, FRAMES, "run").units == decode_headers(coded, seq, FRAMES, "run").units
    place = RunPlace(0, 0, FRAMES)
    assert len(read_keyframe_run(payload, "run", place, parameter_sets, tag=tag)) == FRAMES
    with pytest.raises(BitstreamError, match="not coded as written"):
        read_keyframe_run(payload[: -len(coded)] + longer, "run", place, parameter_sets, tag=tag)


def test_damaged_coded_headers_read_or_raise_the_bitstream_error(encoded) -> None:
    """Each byte of the coded headers and the first tiles' records replaced: the run reads or is refused
    in one BitstreamError (constriction's own assertion on data no encoder wrote included)."""
    header, parameter_sets, chunks = parts(encoded)
    _, payload, _ = write_keyframe_run(chunks, (HEADER_RUN_TAG,), parameter_sets[0])
    place, refused = RunPlace(0, 0, FRAMES), 0
    for pos in range(4, min(len(payload), 400), 3):
        for value in (payload[pos] ^ 0xFF, 0):
            damaged = payload[:pos] + bytes([value]) + payload[pos + 1 :]
            try:
                read_keyframe_run(damaged, "run", place, parameter_sets, tag=HEADER_RUN_TAG)
            except BitstreamError:
                refused += 1
    assert refused > 0
