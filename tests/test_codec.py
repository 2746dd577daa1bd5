"""End to end on the CPU: encode a clip with real motion, decode it, check quality and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nrffcodec.core.render
from bitstream import BitstreamError, NrfFile
from nrffcodec import decode, encode_video, measure, read_video
from nrffcodec.app.info import inspect_file
from nrffcodec.core.quality import psnr

from .clips import moving_texture
from .conftest import NEEDS_CUDA, fast_settings
from .nrf_tools import parts

# Copying the keyframe (a broken warp) scores ~17 dB on the predicted frames of this clip; a working
# warp learns the 1 px/frame translation and scores ~30 dB after 250 steps.
PREDICTED_PSNR_BOUND = 26.0


def _predicted_psnr_yuv(reference, decoded, keys: set[int]) -> float:
    frames = [t for t in range(reference.frame_count) if t not in keys]
    mses = []
    for plane, weight in (("y", 6), ("u", 1), ("v", 1)):
        a = getattr(reference, plane)[frames].astype(float)
        b = getattr(decoded, plane)[frames].astype(float)
        mses.append(weight * np.mean((a - b) ** 2))
    return psnr(sum(mses) / 8)


def _keys(path) -> set[int]:
    return {e.first_frame + e.key_offset for e in NrfFile(path).index}


def test_only_the_output_layers_are_stored_with_a_step_per_channel(encoded) -> None:
    path, _ = encoded
    header, _, chunks = parts(path.read_bytes())
    for chunk in chunks:
        for arch, tensors in zip((header.flow, header.residual), chunk.networks):
            per_channel = [t.steps.size > 1 for t in tensors]
            output_weight = len(tensors) - 3  # storage order ends with last.weight, last.bias, swish
            assert per_channel == [i == output_weight for i in range(len(tensors))]
            assert tensors[output_weight].steps.size == arch.out_channels
    assert inspect_file(path)["tensors_with_channel_steps"] == [2 * len(chunks), 14 * len(chunks)]


def test_encode_decode_quality_beats_a_broken_warp(encoded, clip_path) -> None:
    path, report = encoded
    source = read_video(clip_path)
    decoded = decode(path, device="cpu")
    assert decoded.y.shape == source.y.shape and decoded.fps == source.fps
    assert _predicted_psnr_yuv(source, decoded, _keys(path)) > PREDICTED_PSNR_BOUND
    assert report.bytes == path.stat().st_size
    assert report.bpp == pytest.approx(8 * path.stat().st_size / (48 * 32 * 12))


def test_bound_fails_when_the_warp_ignores_flow(monkeypatch) -> None:
    """The control: with flow cut off from the warp, the same training cannot reach the bound."""
    original = nrffcodec.core.render.sample
    monkeypatch.setattr(
        nrffcodec.core.render, "sample", lambda image, y, x: original(image, y.detach().round(), x.detach().round())
    )
    video = moving_texture(48, 32, 12, dx=1)
    data, _ = encode_video(video, fast_settings())
    monkeypatch.undo()
    decoded = decode(data, device="cpu")
    assert _predicted_psnr_yuv(video, decoded, _keys(data)) < PREDICTED_PSNR_BOUND - 4


def test_decoder_frames_match_what_the_encoder_reported(encoded, clip_path) -> None:
    path, report = encoded
    quality = measure(read_video(clip_path), decode(path, device="cpu"))
    assert quality == report.quality


def test_decoding_twice_gives_identical_frames(encoded) -> None:
    path, _ = encoded
    a, b = decode(path, device="cpu"), decode(path, device="cpu")
    for plane in "yuv":
        assert np.array_equal(getattr(a, plane), getattr(b, plane))


@pytest.mark.parametrize("start,end", [(0, 1), (3, 9), (6, 12), (11, 12)])
def test_frame_range_decode_matches_full_decode(encoded, start: int, end: int) -> None:
    path, _ = encoded
    full = decode(path, device="cpu")
    part = decode(path, (start, end), device="cpu")
    assert part.first_frame == start
    for plane in "yuv":
        assert np.array_equal(getattr(part, plane), getattr(full, plane)[start:end])


def test_frame_range_reads_only_the_gops_it_needs(encoded, monkeypatch) -> None:
    path, _ = encoded
    nrf = NrfFile(path)
    read = []
    original = NrfFile.read_gop
    monkeypatch.setattr(NrfFile, "read_gop", lambda self, i, shapes: read.append(i) or original(self, i, shapes))
    decode(nrf, (0, 2), device="cpu")
    assert len(nrf.index) == 2 and sorted(set(read)) == [0, 1]  # GOP 0 plus its next-keyframe neighbour


@pytest.mark.parametrize("period,chunks_read", [(1, [2, 3, 4]), (4, [0, 1, 2, 3, 4])])
def test_predicted_keyframes_decode_from_their_intra_keyframe_only(
    clip_path, monkeypatch, period: int, chunks_read: list[int]
) -> None:
    """Five GOPs of 2 frames; with period 4 keyframes 0 and 4 are intra, 1-3 predicted from their predecessor."""
    video = read_video(clip_path, (0, 10))
    data, _ = encode_video(video, fast_settings(iterations=10, gop=2, keyframe_period=period))
    full = decode(data, device="cpu")
    read = []
    original = NrfFile.read_gop
    monkeypatch.setattr(NrfFile, "read_gop", lambda self, i, shapes: read.append(i) or original(self, i, shapes))
    part = decode(data, (6, 8), device="cpu")  # GOP 3, warping from keyframes 2, 3 and 4
    assert np.array_equal(part.y, full.y[6:8]) and np.array_equal(part.u, full.u[6:8])
    assert sorted(set(read)) == chunks_read


def test_same_settings_give_the_same_file(clip_path) -> None:
    video = read_video(clip_path, (0, 6))
    settings = fast_settings(iterations=40, gop=6)
    assert encode_video(video, settings)[0] == encode_video(video, settings)[0]


@pytest.mark.parametrize(
    "after_cuda",
    [False, pytest.param(True, marks=NEEDS_CUDA)],
)
def test_worker_processes_give_the_same_file_as_one_process(clip_path, after_cuda: bool) -> None:
    """Also in a process that ran CUDA autograd first, whose children cannot be forked to train."""
    if after_cuda:
        weight = torch.ones(4, device="cuda", requires_grad=True)
        (weight * 2).sum().backward()
    video = read_video(clip_path)
    one, _ = encode_video(video, fast_settings(iterations=30, jobs=1))
    two, _ = encode_video(video, fast_settings(iterations=30, jobs=2))
    assert one == two


@pytest.mark.parametrize("size", [(37, 23), (1, 1), (5, 2)])
def test_odd_and_tiny_sizes(size) -> None:
    width, height = size
    video = moving_texture(width, height, 5, dx=1)
    data, report = encode_video(video, fast_settings(iterations=20, gop=5))
    decoded = decode(data, device="cpu")
    assert decoded.y.shape == (5, height, width)
    assert decoded.u.shape == (5, (height + 1) // 2, (width + 1) // 2)
    assert report.quality == measure(video, decoded)


def test_single_frame_video() -> None:
    video = moving_texture(16, 16, 1)
    data, report = encode_video(video, fast_settings(iterations=10))
    assert report.gops == 1
    assert decode(data, device="cpu").frame_count == 1
    assert report.quality.psnr_yuv > 30  # the keyframe alone, coded at the quality's QP


def test_quality_knob_raises_bytes(clip_path) -> None:
    video = read_video(clip_path, (0, 6))
    low, _ = encode_video(video, fast_settings(iterations=20, quality=1, gop=6))
    high, _ = encode_video(video, fast_settings(iterations=20, quality=8, gop=6))
    assert len(high) > len(low)


def test_truncated_and_flipped_files_raise_the_bitstream_error(encoded) -> None:
    path, _ = encoded
    data = path.read_bytes()
    for cut in (0, 5, 40, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError):
            decode(data[:cut], device="cpu")
    rng = np.random.default_rng(0)
    for pos in rng.choice(np.arange(6, len(data)), 40, replace=False):
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        with pytest.raises(BitstreamError):
            decode(bytes(flipped), device="cpu")
