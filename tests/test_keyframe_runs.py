"""Keyframe runs: one-frame GOPs without networks share one section (KPAK for AV1 keyframes, since format
4.1; KSTR for them in 3.4 and 4.0; KRUN otherwise, since 3.3) and one index entry; the 3.x layouts are
written here with major=3."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import bitstream.container as container
from bitstream import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    BitstreamError,
    GopChunk,
    Header,
    KeyframeCodec,
    NrfFile,
    add_audio,
    add_audio_file,
    audio_streams,
    write_nrf,
    write_nrf_file,
)
from bitstream.bytes_io import ByteReader
from bitstream.framing import CRC, SECTION_HEAD, SECTION_OVERHEAD, frame_section
from bitstream.front import FRONT_TAG, front_payload, read_parameter_sets
from bitstream.keyframe_run import (
    HEADER_RUN_TAG,
    PACKED_RUN_TAG,
    RUN_TAG,
    SPLIT_RUN_GOPS,
    STREAM_RUN_TAG,
    Keyframe,
    split_runs,
)
from nrffcodec import decode
from nrffcodec.app.info import inspect_file

from .audio_clips import synthetic_stream
from .nrf_tools import (
    as_kstr,
    frames_sha256,
    keyframe_run_encode,
    one_thread,
    parts,
    same_frames,
    sections,
    tags,
)

FIXTURES = Path(__file__).parent / "fixtures"
# frames of the 3.2 fixture as nrff 3.2 decoded them (AV1 keyframes only: dav1d's output is exact everywhere)
KEYFRAMES_ONLY_SHA256 = "2d52d194e0a99b4e2d463cd89644a42e24b994be16bad807b9ec97e9f826d17d"


def without_runs(data: bytes) -> bytes:
    """The same encode stored as 3.2 wrote it: every GOP in its own GOPC."""
    return write_nrf(*parts(data), runs=False, major=3).data


@pytest.fixture(scope="module")
def runs() -> bytes:
    return keyframe_run_encode()


def as_krun(data: bytes, major: int = 3) -> bytes:
    """The same encode with its runs stored as KRUN sections (as 3.3 wrote them, by default)."""
    return write_nrf(*parts(data), stream_runs=False, major=major).data


def test_weightless_one_frame_gops_are_written_as_one_run(runs) -> None:
    nrf = NrfFile(runs)
    assert nrf.version == (FORMAT_MAJOR, FORMAT_MINOR) == (4, 2)
    assert tags(runs) == [b"FRNT", HEADER_RUN_TAG]
    assert tags(write_nrf(*parts(runs), major=3).data) == [b"HEAD", b"PSET", b"RIDX", STREAM_RUN_TAG]
    assert len(nrf.index) == nrf.header.gop_count == 10
    assert [(e.first_frame, e.frame_count, e.key_offset, e.run, e.position) for e in nrf.index] == [
        (i, 1, 0, 10, i) for i in range(10)
    ]


def test_a_run_decodes_to_the_frames_of_the_same_encode_without_runs(runs) -> None:
    plain = without_runs(runs)
    assert NrfFile(plain).version == (3, 2) and not {RUN_TAG, STREAM_RUN_TAG} & set(tags(plain))
    saved = len(plain) - len(write_nrf(*parts(runs), major=3).data)
    assert saved >= 15 * (NrfFile(runs).header.gop_count - 1), f"a run saved only {saved} bytes"
    with one_thread():
        assert same_frames(decode(runs, device="cpu"), decode(plain, device="cpu"))
    keyframes = [(c.keyframe, c.frame_count) for c in parts(runs)[2]]
    assert keyframes == [(c.keyframe, c.frame_count) for c in parts(plain)[2]]
    assert write_nrf(*parts(runs)).data == runs  # the reader gives back what the writer took


def test_a_stream_run_drops_the_per_keyframe_layout_and_lengths_of_a_krun(runs) -> None:
    krun = as_krun(runs, FORMAT_MAJOR)
    assert NrfFile(krun).version == (FORMAT_MAJOR, 0) and tags(krun)[-1] == RUN_TAG
    assert NrfFile(as_krun(runs)).version == (3, 3)
    keyframes = [c.keyframe for c in parts(runs)[2]]
    assert keyframes == [c.keyframe for c in parts(krun)[2]]
    slices = sum(len(k.slices) for k in keyframes)
    references = sum(len(k.parameter_set_ids) for k in keyframes)
    # a KRUN pays a layout byte per keyframe and a length per slice; a KPAK a count and its references
    assert len(krun) - len(runs) >= len(keyframes) + 2 * slices - 1 - references
    assert as_krun(krun, FORMAT_MAJOR) == krun
    for data in (runs, krun):  # what the encoder reports as keyframe bytes is what `nrff info` adds up
        assert write_nrf(*parts(data), stream_runs=data is runs).keyframe_bytes == sum(
            c.keyframe_size for c in parts(data)[2]
        )
    with one_thread():
        assert same_frames(decode(runs, device="cpu"), decode(krun, device="cpu"))


def test_keyframes_whose_obus_split_otherwise_are_kept_as_a_krun(runs) -> None:
    """A stream run's keyframes end at the OBU showing their picture: where the encoder's do not, the
    writer keeps the KRUN, which records them as they are."""
    header, parameter_sets, chunks = parts(runs)
    k = next(k for k in range(1, len(chunks)) if len(chunks[k].keyframe.slices) > 1)
    moved = chunks[k].keyframe.slices.pop(0)  # now after the OBU that shows keyframe k - 1's picture
    chunks[k - 1].keyframe.slices.append(moved)
    data = write_nrf(header, parameter_sets, chunks).data
    assert tags(data)[-1] == RUN_TAG and NrfFile(data).version == (FORMAT_MAJOR, 0)
    assert [c.keyframe for c in parts(data)[2]] == [c.keyframe for c in chunks]
    assert NrfFile(write_nrf(header, parameter_sets, chunks, major=3).data).version == (3, 3)


@pytest.mark.parametrize("stream_runs", [True, False])
def test_both_run_writers_refuse_a_keyframe_their_reader_would(runs, stream_runs: bool) -> None:
    header, parameter_sets, chunks = parts(runs)
    chunks[2].keyframe.parameter_set_ids = [0] * 65  # a reader takes at most 64
    with pytest.raises(ValueError, match="GOP 2: 65 parameter sets"):
        write_nrf(header, parameter_sets, chunks, stream_runs=stream_runs)


@pytest.mark.parametrize("packed", [True, False])
def test_a_stream_run_in_a_file_of_hevc_keyframes_is_refused(runs, packed: bool) -> None:
    """A KSTR or KPAK is split by AV1's syntax: a file that says its keyframes are HEVC cannot hold one."""
    runs = runs if packed else as_kstr(runs)
    header, parameter_sets, chunks = parts(runs)
    hevc = dataclasses.replace(header, keyframe_codec=KeyframeCodec.HEVC)
    _, offset, size = NrfFile(runs).sections[1]  # FRNT
    reader = ByteReader(runs[offset + SECTION_HEAD.size : offset + size - CRC.size], "FRNT")
    reader.blob()
    read_parameter_sets(reader)
    front = front_payload(hevc, parameter_sets, reader.raw(reader.remaining), networks=False)
    crafted = runs[:offset] + frame_section(FRONT_TAG, front) + runs[offset + size :]
    assert len(crafted) == len(runs)  # the fronts differ only in the codec's one-byte field
    nrf = NrfFile(crafted)
    assert nrf.header.keyframe_codec == KeyframeCodec.HEVC
    tag = (HEADER_RUN_TAG if packed else STREAM_RUN_TAG).decode()
    with pytest.raises(BitstreamError, match=f"{tag} section in a file whose keyframes are not AV1"):
        nrf.read_gop(0, [[], []])


def test_a_3_3_reader_refuses_a_stream_run_when_it_reads_it(runs, monkeypatch) -> None:
    """A 3.3 reader is this one knowing only KRUN: it opens the file and refuses the run's GOPs by tag."""
    legacy = write_nrf(*parts(runs), major=3).data
    monkeypatch.setattr(container, "RUN_TAGS", (RUN_TAG,))
    nrf = NrfFile(legacy)
    with pytest.raises(BitstreamError, match="expected section KRUN, found b'KSTR'"):
        nrf.read_gop(0, [[], []])


def test_random_access_into_a_run_reads_its_section_once(runs, monkeypatch) -> None:
    with one_thread():
        whole = decode(runs, device="cpu")
        reads = []
        original = container.NrfFile._read_chunk
        monkeypatch.setattr(container.NrfFile, "_read_chunk", lambda self, *a: reads.append(a[1]) or original(self, *a))
        middle = decode(runs, frames=(5, 8), device="cpu")
    assert reads == [HEADER_RUN_TAG]
    assert all(np.array_equal(getattr(middle, p), getattr(whole, p)[5:8]) for p in "yuv")


@pytest.mark.parametrize("form", ["KPAK", "KSTR", "KRUN"])
def test_truncation_or_damage_inside_the_run_is_refused(runs, form: str) -> None:
    data = {"KPAK": runs, "KSTR": as_kstr(runs), "KRUN": as_krun(runs)}[form]
    offset, _ = sections(data)[-1]
    for pos in range(offset, len(data)):
        for damaged in (data[:pos], data[:pos] + bytes([data[pos] ^ 0x10]) + data[pos + 1 :]):
            with pytest.raises(BitstreamError) as caught:
                nrf = NrfFile(damaged)
                nrf.read_gop(len(nrf.index) - 1, [[], []])
            assert "\n" not in str(caught.value)  # one line, as the CLI prints it


def test_a_reader_without_runs_refuses_a_file_with_runs_at_its_index(runs, monkeypatch) -> None:
    """A 3.2 reader is this one knowing only GIDX: it meets RIDX where it expects its index and stops."""
    monkeypatch.setattr(container, "INDEX_TAGS", (b"GIDX",))
    with pytest.raises(BitstreamError, match="expected section GIDX, found b'RIDX'"):
        NrfFile(write_nrf(*parts(runs), major=3).data)


def test_the_3_2_fixtures_still_read_and_rewrite(tmp_path) -> None:
    two_gops = (FIXTURES / "two_gops-3.2.nrf").read_bytes()
    assert NrfFile(two_gops).version == (3, 2)
    assert write_nrf(*parts(two_gops), major=3).data == two_gops  # no run: byte for byte as 3.2 wrote it
    keyframes_only = (FIXTURES / "keyframes_only-3.2.nrf").read_bytes()
    as_3_4, as_4_0 = write_nrf(*parts(keyframes_only), major=3).data, as_kstr(keyframes_only)
    rewritten = write_nrf(*parts(keyframes_only)).data
    as_4_1 = write_nrf(*parts(keyframes_only), header_runs=False).data
    assert NrfFile(keyframes_only).version == (3, 2) and NrfFile(as_3_4).version == (3, 4)
    assert NrfFile(as_4_0).version == (4, 0) and NrfFile(rewritten).version == (4, 2)
    assert not NrfFile(rewritten).header.networks
    assert len(rewritten) < len(as_4_1) < len(as_4_0) < len(as_3_4) < len(keyframes_only)
    # what nrff 3.4 to 4.2 wrote for it, committed: the writers still write them, the reader reads them
    written = (as_3_4, as_4_0, as_4_1, rewritten)
    versions = ("3.4", "4.0", "4.1", "4.2")
    assert written == tuple((FIXTURES / f"keyframes_only-{v}.nrf").read_bytes() for v in versions)
    assert frames_sha256(decode(as_3_4, device="cpu")) == KEYFRAMES_ONLY_SHA256
    with one_thread():
        assert frames_sha256(decode(keyframes_only, device="cpu")) == KEYFRAMES_ONLY_SHA256
        assert frames_sha256(decode(rewritten, device="cpu")) == KEYFRAMES_ONLY_SHA256
        assert frames_sha256(decode(as_4_1, device="cpu")) == KEYFRAMES_ONLY_SHA256


def mixed_parts() -> tuple[Header, list[bytes], list[GopChunk]]:
    """A file's parts: each GOP of a fixture then two one-frame GOPs of its keyframe (parsed, not decoded)."""
    header, parameter_sets, chunks = parts((FIXTURES / "two_gops-3.2.nrf").read_bytes())
    mixed: list[GopChunk] = []
    for chunk in chunks:
        zero = [[dataclasses.replace(t, symbols=np.zeros_like(t.symbols)) for t in net] for net in chunk.networks]
        for count, networks in ((chunk.frame_count, chunk.networks), (1, zero), (1, zero)):
            first = sum(c.frame_count for c in mixed)
            mixed.append(GopChunk(len(mixed), first, count, min(chunk.key_offset, count - 1), chunk.keyframe, networks))
    video = dataclasses.replace(header.video, frame_count=sum(c.frame_count for c in mixed))
    return dataclasses.replace(header, video=video, gop_count=len(mixed)), parameter_sets, mixed


def test_a_file_written_a_section_at_a_time_is_the_same_file(tmp_path) -> None:
    header, parameter_sets, mixed = mixed_parts()
    in_memory = write_nrf(header, parameter_sets, mixed)
    sizes = write_nrf_file(tmp_path / "a.nrf", header, parameter_sets, mixed)
    assert (tmp_path / "a.nrf").read_bytes() == in_memory.data
    assert (sizes.size, sizes.keyframe_bytes, sizes.network_bytes) == (
        len(in_memory.data),
        in_memory.keyframe_bytes,
        in_memory.network_bytes,
    )
    add_audio_file(tmp_path / "a.nrf", tmp_path / "b.nrf", [synthetic_stream(4), synthetic_stream(3, seed=1)])
    assert (tmp_path / "b.nrf").read_bytes() == add_audio(
        in_memory.data, [synthetic_stream(4), synthetic_stream(3, seed=1)]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nrf", "b.nrf"]  # the spool left nothing


def test_runs_sit_beside_gops_with_networks_and_audio() -> None:
    header, parameter_sets, mixed = mixed_parts()
    video_only = write_nrf(header, parameter_sets, mixed).data
    data = add_audio(video_only, [synthetic_stream(4)])
    assert tags(data) == [b"FRNT", b"AUDI", b"GOPC", HEADER_RUN_TAG, b"GOPC", HEADER_RUN_TAG]
    assert audio_streams(NrfFile(data)) == [synthetic_stream(4)] and NrfFile(data).header.networks
    legacy = add_audio(write_nrf(header, parameter_sets, mixed, major=3).data, [synthetic_stream(4)])
    assert tags(legacy) == [b"HEAD", b"PSET", b"RIDX", b"AUDI", b"GOPC", STREAM_RUN_TAG, b"GOPC", STREAM_RUN_TAG]
    assert audio_streams(NrfFile(legacy)) == [synthetic_stream(4)]
    back = parts(data)[2]
    assert [(c.first_frame, c.frame_count, c.key_offset, c.keyframe) for c in back] == [
        (c.first_frame, c.frame_count, c.key_offset, c.keyframe) for c in mixed
    ]
    for a, b in zip(back, mixed):
        assert all(np.array_equal(x.symbols, y.symbols) for m, n in zip(a.networks, b.networks) for x, y in zip(m, n))
    info = inspect_file(data)
    assert info["bytes"]["total"] == len(data)
    assert info["bytes"]["networks"] == sum(g["network_bytes"] for g in info["gops"]) > 0
    assert len(without_runs(video_only)) > len(video_only) + 2 * SECTION_OVERHEAD


@pytest.mark.parametrize(
    ("period", "lengths"),
    [
        (0, [600]),  # no period given (the 3.x writers): one run
        (512, [512, 88]),  # a run ends at an intra keyframe once it holds SPLIT_RUN_GOPS
        (100, [300, 300]),
        (1, [256, 256, 88]),  # every keyframe intra: runs of SPLIT_RUN_GOPS
        (65535, [600]),  # no intra keyframe after the first
    ],
)
def test_a_long_run_ends_at_an_intra_keyframe(period: int, lengths: list[int]) -> None:
    chunks = [GopChunk(i, i, 1, 0, Keyframe([], [b"k"]), []) for i in range(600)]
    runs = split_runs(chunks, period)
    assert [len(run) for run in runs] == lengths and SPLIT_RUN_GOPS == 256
    assert [c for run in runs for c in run] == chunks


def test_a_reader_of_one_intra_group_reads_only_its_runs(runs, monkeypatch) -> None:
    """Ten one-frame GOPs with keyframe period 4 and runs split once they hold 2 GOPs: a reader of
    GOP 9 reads only the run that holds GOPs 8 and 9, and every GOP reads as in one run."""
    header, parameter_sets, chunks = parts(runs)
    header = dataclasses.replace(header, keyframe_period=4)
    monkeypatch.setattr("bitstream.keyframe_run.SPLIT_RUN_GOPS", 2)
    split = write_nrf(header, parameter_sets, chunks).data
    # the first run starts at a shown key frame; the others start mid-stream, where the header model
    # lacks the reference slots' order hints, so they fall back to KPAKs
    assert tags(split) == [b"FRNT", HEADER_RUN_TAG, PACKED_RUN_TAG, PACKED_RUN_TAG]
    assert [(e.run, e.position) for e in NrfFile(split).index][7:] == [(4, 3), (2, 0), (2, 1)]
    assert [c.keyframe for c in parts(split)[2]] == [c.keyframe for c in chunks]
    reads = []
    original = container.NrfFile._read_chunk
    monkeypatch.setattr(
        container.NrfFile, "_read_chunk", lambda self, *a: reads.append(a[0].offset) or original(self, *a)
    )
    nrf = NrfFile(split)
    nrf.read_gop(9, [[], []])
    assert reads == [nrf.index[8].offset]
