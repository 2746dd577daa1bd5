"""The keyframe chain and the trained GOPs wait on disk (decision 0076): the same records as in
memory, and neither the spools nor the writer hold a whole clip's."""

from __future__ import annotations

import dataclasses
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from bitstream import Keyframe, KeyframeCodec, NrfFile, QuantizedTensor
from nrffcodec.core.video import Video
from nrffcodec.encoder.keyframes import CodedKeyframes, join_stretches
from nrffcodec.encoder.pack import pack_file
from nrffcodec.encoder.plan import header_for, plan_encode
from nrffcodec.encoder.spool import KeyframeSpool, ResultSpool
from nrffcodec.encoder.train import GopResult
from nrffcodec.settings import EncodeSettings


def stretch(rng: np.random.Generator, sets: list[bytes], count: int, size: int = 40) -> CodedKeyframes:
    """`count` records of two random slices each, every record using each of `sets` (in turn first)."""
    records = []
    for n in range(count):
        ids = [(n + k) % len(sets) for k in range(len(sets))]
        slices = [rng.bytes(size), rng.bytes(int(rng.integers(0, size)))]
        records.append(Keyframe(ids, slices))
    return CodedKeyframes(tuple(sets), tuple(records))


def test_a_spooled_chain_joins_as_the_chain_in_memory(tmp_path) -> None:
    rng = np.random.default_rng(1)
    parts = [stretch(rng, [b"A"], 3), stretch(rng, [b"B", b"A"], 4), stretch(rng, [b"C", b"A"], 2)]
    spool = KeyframeSpool(9, tmp_path)
    for index in (2, 0, 1):  # as processes hand them back
        spool.add(index, [0, 3, 7][index], parts[index].parameter_sets, parts[index].records)
    parameter_sets, records = spool.joined()
    expected = join_stretches(parts)
    assert parameter_sets == expected.parameter_sets == (b"A", b"B", b"C")
    assert list(records) == list(expected.records) and records == expected.records
    assert records[-1] == expected.records[8] and records[2:5] == list(expected.records[2:5])
    with pytest.raises(IndexError):
        records[9]


def test_a_chain_with_a_stretch_missing_is_refused(tmp_path) -> None:
    spool = KeyframeSpool(5, tmp_path)
    spool.add(0, 0, [b"A"], stretch(np.random.default_rng(2), [b"A"], 3).records)
    with pytest.raises(ValueError, match=r"GOPs \[3, 4\]"):
        spool.joined()


def test_the_spool_keeps_its_pictures_on_disk(tmp_path) -> None:
    rng = np.random.default_rng(3)
    parts = [stretch(rng, [b"A"], 16, size=32_000) for _ in range(16)]  # 256 pictures, about 12 MB
    total = sum(k.payload_bytes for part in parts for k in part.records)
    tracemalloc.start()
    try:
        spool = KeyframeSpool(256, tmp_path)
        before = tracemalloc.get_traced_memory()[0]
        for index, part in enumerate(parts):
            spool.add(index, 16 * index, part.parameter_sets, part.records)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < total / 50
    assert spool.joined()[1] == [k for part in parts for k in part.records]


def written_peak(tmp_path, frames: int) -> tuple[int, int]:
    """Python's peak while pack_file writes a GOP-1 file of `frames` large keyframes from a spool,
    intra every 8 with runs split at 8 GOPs, and the keyframes' bytes; the file must hold them all."""
    settings = EncodeSettings(gop=1, keyframe_codec=KeyframeCodec.HEVC)
    video = Video(*(np.zeros((frames, n, n), np.uint8) for n in (16, 8, 8)), Fraction(25))
    plan = dataclasses.replace(plan_encode(frames, 16, 16, settings, 1), keyframe_period=8)
    rng = np.random.default_rng(4)
    parts = [stretch(rng, [b"sps", b"pps"], 8, size=60_000) for _ in range(frames // 8)]
    spool = KeyframeSpool(frames, tmp_path)
    for index, part in enumerate(parts):
        spool.add(index, 8 * index, part.parameter_sets, part.records)
    keyframes = CodedKeyframes(*spool.joined())
    header = header_for(video, plan, settings)
    pack_file(header, plan, keyframes, {}, tmp_path / "first.nrf")  # the lazy imports done
    tracemalloc.start()
    try:
        packed = pack_file(header, plan, keyframes, {}, tmp_path / "out.nrf")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    nrf = NrfFile((tmp_path / "out.nrf").read_bytes())
    assert packed.size == (tmp_path / "out.nrf").stat().st_size
    assert [nrf.read_gop(i, [[], []]).keyframe for i in range(frames)] == list(join_stretches(parts).records)
    return peak, sum(k.payload_bytes for part in parts for k in part.records)


def test_the_writer_holds_one_run_of_a_spooled_chain_at_a_time(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("bitstream.keyframe_run.SPLIT_RUN_GOPS", 8)
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    short_peak, short_bytes = written_peak(tmp_path / "short", 32)
    long_peak, long_bytes = written_peak(tmp_path / "long", 256)
    assert long_bytes > 7 * short_bytes
    assert long_peak < 1.5 * short_peak and long_peak < long_bytes / 4  # one run's keyframes, not the clip's


def trained(index: int, rng: np.random.Generator, weights: int = 1000) -> GopResult:
    def tensor() -> QuantizedTensor:
        return QuantizedTensor(rng.integers(-50, 50, (weights // 10, 10), dtype=np.int32), np.ones(1, np.float32))

    return GopResult(index, [tensor(), tensor()], [tensor()], 1.5, 30.0 + index)


def same_result(a: GopResult, b: GopResult) -> bool:
    tensors = zip(a.flow + a.residual, b.flow + b.residual, strict=True)
    return (a.index, a.seconds, a.train_psnr) == (b.index, b.seconds, b.train_psnr) and all(
        np.array_equal(x.symbols, y.symbols) and np.array_equal(x.steps, y.steps) for x, y in tensors
    )


def test_trained_gops_wait_on_disk_and_read_back_the_same(tmp_path) -> None:
    rng = np.random.default_rng(5)
    results = [trained(i, rng, weights=20_000) for i in range(64)]  # 64 GOPs of 60,000 weights: 15 MB
    tracemalloc.start()
    try:
        spool = ResultSpool(tmp_path)
        before = tracemalloc.get_traced_memory()[0]
        for result in reversed(results):
            spool.add(result)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 15_000_000 / 50
    assert len(spool) == 64 and sorted(spool) == list(range(64)) and 64 not in spool and spool.get(64) is None
    assert all(same_result(spool[r.index], r) for r in results)
    again = trained(3, rng)
    spool.add(again)  # a GOP trained again replaces the first
    assert same_result(spool[3], again) and len(spool) == 64
