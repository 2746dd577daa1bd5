"""Crafted files whose every CRC is valid: the decoder refuses them with BitstreamError, quickly and
without large allocations, or decodes them. Built with the real writer from a real encode's parts.
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc

import numpy as np
import pytest

from bitstream import STEP_VALUES, BitstreamError, KeyframeCodec, QuantizedTensor, write_nrf
from nrffcodec import decode
from nrffcodec.core.keyframes import CODECS, KeyframeCoder

from .nrf_tools import one_thread, parts, tiny_encodes


@pytest.fixture(scope="module")
def valid() -> bytes:
    with one_thread():
        return tiny_encodes()["two_gops"]


def _huge_claim(valid: bytes) -> bytes:
    """One GOP of 2048 frames of 16384x16384 (800 GB decoded) in about a kilobyte: legal, but not decodable here."""
    header, parameter_sets, chunks = parts(valid)
    video = dataclasses.replace(header.video, width=16384, height=16384, frame_count=2048)
    header = dataclasses.replace(header, video=video, gop_length=1024, gop_count=1)
    chunk = dataclasses.replace(chunks[0], gop_index=0, first_frame=0, frame_count=2048, key_offset=1024)
    return write_nrf(header, parameter_sets, [chunk]).data


def test_a_tiny_file_claiming_terabytes_is_refused_before_allocating(valid, monkeypatch) -> None:
    data = _huge_claim(valid)
    assert len(data) < 4096

    def too_late(*args, **kwargs):
        raise AssertionError("a keyframe was decoded before the claim was checked")

    monkeypatch.setattr(KeyframeCoder, "decode_stream", too_late)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BitstreamError, match="memory"):
            decode(data, device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000 and time.perf_counter() - started < 5


def test_one_frame_of_a_huge_claim_fails_on_its_keyframe(valid) -> None:
    """Within memory, the claim meets the real keyframe, which is not 16384x16384."""
    with pytest.raises(BitstreamError, match="keyframe"):
        decode(_huge_claim(valid), frames=(0, 1), device="cpu")


@pytest.mark.parametrize("codec", ["HEVC", "AV1"])
def test_a_keyframe_larger_than_the_header_is_refused_before_ffmpeg_allocates_it(codec: str) -> None:
    flat = np.full((512, 512), 100, np.uint8)
    chroma = np.full((256, 256), 128, np.uint8)
    intra = CODECS[KeyframeCodec[codec]]
    big = intra.encode_sequence([(flat, chroma, chroma)], 40)[0]
    assert big.size < 2000  # a few hundred bytes describe a 512x512 picture
    with pytest.raises(BitstreamError, match="does not decode"):  # refused by max_pixels, not by our size check
        intra.decode_sequence([(big.parameter_sets, big.slices)], 16, 16)


@pytest.mark.parametrize(
    "symbol,step", [(32767, float(STEP_VALUES[-1])), (-32768, float(STEP_VALUES[-1])), (0, float(STEP_VALUES[-1]))]
)
def test_extreme_weights_decode_to_some_frames(valid, symbol: int, step: float) -> None:
    """Weights at the format's limits make inf/NaN in the networks: the output is garbage, never a crash."""
    header, parameter_sets, chunks = parts(valid)
    for chunk in chunks:
        chunk.networks = [
            [
                QuantizedTensor(np.full(t.symbols.shape, symbol, np.int32), np.full(t.steps.shape, step, np.float32))
                for t in net
            ]
            for net in chunk.networks
        ]
    with one_thread():
        video = decode(write_nrf(header, parameter_sets, chunks).data, device="cpu")
    assert video.frame_count == header.video.frame_count and video.y.dtype == np.uint8
