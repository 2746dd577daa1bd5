"""Quantizer bounds, warp correctness, GOP planning, colour conversion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bitstream import STEP_VALUES
from nrffcodec.core.colour import rgb8_to_yuv420, yuv420_to_rgb8
from nrffcodec.core.gop import gops_needed, plan_gops, reference_gops
from nrffcodec.core.quant import FINE_STEP_DIVISOR, dequantize, fake_quantize, quant_config_for, quantize, steps_for
from nrffcodec.core.warp import sample
from nrffcodec.errors import InputError
from nrffcodec.settings import EncodeSettings, QuantConfig, rd_lambda


def qmax(bits: int) -> int:
    return QuantConfig(bits).qmax


# ---------------------------------------------------------------- quantizer


@pytest.mark.parametrize("bits", [4, 6, 8, 12])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantization_error_is_at_most_half_a_step(bits: int, per_channel: bool) -> None:
    w = torch.randn(16, 24) * torch.linspace(0.01, 3, 16)[:, None]
    q = quantize(w, QuantConfig(bits, per_channel))
    assert np.abs(q.symbols).max() <= qmax(bits)
    steps = torch.from_numpy(q.steps)
    assert steps.numel() == (16 if per_channel else 1)
    bound = (steps[:, None] if per_channel else steps) / 2
    assert torch.all((dequantize(q) - w).abs() <= bound * (1 + 1e-6))
    assert np.isin(q.steps, STEP_VALUES).all(), "steps travel as one-byte codes"


def test_fake_quantize_equals_what_the_decoder_rebuilds() -> None:
    w = torch.randn(8, 5, requires_grad=True)
    fq = fake_quantize(w, QuantConfig(8, True))
    assert torch.equal(fq.detach(), dequantize(quantize(w, QuantConfig(8, True))))
    fq.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w)), "straight-through gradient"


def test_steps_never_let_symbols_overflow() -> None:
    w = torch.tensor([[1e-3, -7.77], [123.456, 0.0]])
    for bits in (2, 3, 8):
        step = steps_for(w, QuantConfig(bits, False))
        assert (w.abs().max() / step).item() <= qmax(bits)


def test_output_layers_and_small_tensors_get_finer_steps() -> None:
    config = QuantConfig(8, False, 0.5)
    hidden, bias, output = torch.randn(32, 32), torch.randn(32), torch.randn(4, 32)
    assert quant_config_for(hidden, config) == config
    assert quant_config_for(bias, config) == QuantConfig(8, False, 0.5 / FINE_STEP_DIVISOR)
    assert quant_config_for(output, config, output_layer=True) == QuantConfig(8, True, 0.5 / FINE_STEP_DIVISOR)
    # one step per output row, each a quarter of what the row's own RMS would get at the hidden layers' ratio
    output[0] *= 50.0
    steps = steps_for(output, quant_config_for(output, config, output_layer=True))
    rms = output.pow(2).mean(dim=1).sqrt()
    assert steps.shape == (4,)
    ideal = rms * 0.5 / FINE_STEP_DIVISOR
    assert torch.all((steps / ideal).log2().abs() <= 1 / 16 + 1e-6), "the nearest grid value, at most 4.4% away"
    assert np.isin(steps.numpy(), STEP_VALUES).all()
    min_max = QuantConfig(8, False, None)
    assert quant_config_for(output, min_max, output_layer=True) == min_max


# ---------------------------------------------------------------- warp


def warp(image: torch.Tensor, flow_y: torch.Tensor, flow_x: torch.Tensor) -> torch.Tensor:
    """Whole-frame backward warp through the renderer's sampler."""
    _, height, width = image.shape
    ys = torch.arange(height, dtype=image.dtype)[:, None].expand(height, width)
    xs = torch.arange(width, dtype=image.dtype)[None, :].expand(height, width)
    return sample(image, ys + flow_y, xs + flow_x)


def test_zero_flow_is_identity() -> None:
    image = torch.rand(3, 23, 37)
    zero = torch.zeros(23, 37)
    assert torch.allclose(warp(image, zero, zero), image, atol=1e-5)


def test_known_shift_moves_the_pattern() -> None:
    image = torch.zeros(1, 20, 30)
    image[0, 8:12, 10:14] = 1.0
    # backward warp: output(y, x) = image(y + fy, x + fx); flow (-2, -3) moves the square by (+2, +3)
    out = warp(image, torch.full((20, 30), -2.0), torch.full((20, 30), -3.0))
    expected = torch.zeros(1, 20, 30)
    expected[0, 10:14, 13:17] = 1.0
    assert torch.allclose(out, expected, atol=1e-5)


def test_sample_at_half_pixel_interpolates() -> None:
    image = torch.tensor([[[0.0, 1.0, 2.0, 3.0]] * 4])
    value = sample(image, torch.tensor([1.0]), torch.tensor([1.5]))
    assert abs(value.item() - 1.5) < 1e-5


# ---------------------------------------------------------------- GOP planning


def test_one_frame() -> None:
    gops = plan_gops(1, 15)
    assert [(g.first, g.count, g.key) for g in gops] == [(0, 1, 0)]
    assert gops[0].predicted == []
    assert reference_gops(len(gops), 0) == (0, 0, 0)


def test_fewer_frames_than_a_gop() -> None:
    gops = plan_gops(7, 15)
    assert [(g.first, g.count, g.key) for g in gops] == [(0, 7, 3)]
    assert gops[0].predicted == [0, 1, 2, 4, 5, 6]


def test_remainder_is_spread_not_left_as_a_tiny_gop() -> None:
    gops = plan_gops(32, 15)
    assert [(g.first, g.count) for g in gops] == [(0, 16), (16, 16)]
    gops = plan_gops(40, 15)
    assert [g.count for g in gops] == [14, 13, 13]
    assert sum(g.count for g in gops) == 40
    assert reference_gops(len(gops), 1) == (0, 1, 2)
    assert reference_gops(len(gops), 0) == (0, 0, 1) and reference_gops(len(gops), 2) == (1, 2, 2)


def test_gops_needed_include_reference_neighbours() -> None:
    gops = plan_gops(60, 15)
    assert gops_needed(gops, 30, 45) == [1, 2, 3]
    assert gops_needed(gops, 0, 1) == [0, 1]


# ---------------------------------------------------------------- colour


def test_rgb_round_trip_is_close() -> None:
    rng = np.random.default_rng(0)
    rgb = np.repeat(np.repeat(rng.integers(20, 235, (6, 9, 3), dtype=np.uint8), 2, 0), 2, 1)[:11, :17]
    y, u, v = rgb8_to_yuv420(rgb, 0, False)
    assert y.shape == (11, 17) and u.shape == (6, 9)
    back = yuv420_to_rgb8(y, u, v, 0, False)
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 3


# ---------------------------------------------------------------- keyframe codecs


@pytest.mark.parametrize("codec", ["HEVC", "AV1"])
@pytest.mark.parametrize("size", [(23, 37), (4, 6), (144, 176)])
def test_keyframe_round_trip_any_size(codec: str, size) -> None:
    from bitstream import KeyframeCodec
    from nrffcodec.core.keyframes import CODECS

    rng = np.random.default_rng(0)
    h, w = size
    y = rng.integers(60, 200, (h, w), dtype=np.uint8)
    u = np.full(((h + 1) // 2, (w + 1) // 2), 120, np.uint8)
    intra = CODECS[KeyframeCodec[codec]]
    coded = intra.encode_sequence([(y, u, u)], 10)[0]
    assert coded.parameter_sets and coded.slices
    back = intra.decode_sequence([(coded.parameter_sets, coded.slices)], h, w)[0]
    assert [p.shape for p in back] == [(h, w), u.shape, u.shape]
    assert np.abs(back[0].astype(int) - y.astype(int)).mean() < 8  # near-lossless at QP 10
    again = intra.encode_sequence([(y, u, u)], 10)[0]
    assert again.slices == coded.slices, "keyframe coding is deterministic"


@pytest.mark.parametrize("codec", ["HEVC", "AV1"])
@pytest.mark.parametrize("count, period", [(11, 4), (6, 16), (3, 1)])
def test_each_keyframe_decodes_from_its_intra_keyframe_on(codec: str, count: int, period: int) -> None:
    """The chain may predict from later keyframes (AV1 random access), yet unit i must show keyframe i
    and need only the units from its intra keyframe to i: what `nrff decode --frames` reads."""
    from bitstream import KeyframeCodec
    from nrffcodec.core.keychain import decode_keyframes
    from nrffcodec.core.keyframes import CODECS
    from nrffcodec.encoder.keyframes import code_keyframes
    from nrffcodec.encoder.plan import plan_encode
    from nrffcodec.settings import EncodeSettings
    from tests.clips import moving_texture

    clip = moving_texture(width=40, height=24, frames=count, dx=2)
    pictures = [(clip.y[t], clip.u[t], clip.v[t]) for t in range(count)]
    coder = CODECS[KeyframeCodec[codec]]
    settings = EncodeSettings(keyframe_qp=30, keyframe_codec=KeyframeCodec[codec], keyframe_period=period)
    # one keyframe per frame; GOP length 1 would stretch the period, so it is set back to the test's
    plan = dataclasses.replace(plan_encode(count, 24, 40, settings, 1), keyframe_period=period)
    coded_keyframes = code_keyframes(clip, plan, "medium")
    parameter_sets, records = coded_keyframes.parameter_sets, coded_keyframes.records
    coded = [([parameter_sets[p] for p in r.parameter_set_ids], r.slices) for r in records]
    whole = coder.decode_sequence(coded, 24, 40)
    assert len(records) == len(whole) == count
    for i in range(count):
        alone = decode_keyframes(coder, parameter_sets, dict(enumerate(records)), [i], period, 24, 40)[i]
        assert all(np.array_equal(a, b) for a, b in zip(alone, whole[i])), f"keyframe {i}"
        assert np.abs(whole[i][0].astype(int) - pictures[i][0].astype(int)).mean() < 12, f"keyframe {i} is its picture"


@pytest.mark.parametrize("codec", ["HEVC", "AV1"])
def test_a_walk_through_a_long_intra_group_holds_a_few_keyframes(codec: str) -> None:
    """At GOP length 1 an intra group is hundreds of keyframes: a walk in order decodes each once,
    reads each keyframe's units only when the decoder needs them, and holds what it has not
    released; going back re-decodes from the intra keyframe, to the same pictures."""
    from bitstream import KeyframeCodec
    from nrffcodec.core.keychain import KeyframeGroups
    from nrffcodec.core.keyframes import CODECS
    from nrffcodec.encoder.keyframes import code_keyframes
    from nrffcodec.encoder.plan import plan_encode
    from nrffcodec.settings import EncodeSettings
    from tests.clips import moving_texture

    count = 40
    clip = moving_texture(width=40, height=24, frames=count, dx=2)
    coder = CODECS[KeyframeCodec[codec]]
    settings = EncodeSettings(keyframe_qp=30, keyframe_codec=KeyframeCodec[codec], keyframe_period=count)
    plan = dataclasses.replace(plan_encode(count, 24, 40, settings, 1), keyframe_period=count)
    coded = code_keyframes(clip, plan, "medium")
    sets, records = coded.parameter_sets, coded.records
    whole = coder.decode_sequence([([sets[p] for p in r.parameter_set_ids], r.slices) for r in records], 24, 40)
    read: list[int] = []

    def record(i: int):
        read.append(i)
        return records[i]

    keys = KeyframeGroups(coder, sets, record, count, count, 24, 40)
    held = []
    for i in range(count):
        keys.release_before(i - 1)
        for j in range(max(0, i - 1), min(count, i + 2)):  # a GOP's previous, own and next keyframe
            assert all(np.array_equal(a, b) for a, b in zip(keys[j], whole[j])), f"keyframe {j}"
        held.append(keys.held)
        if i == 2:
            assert max(read) < 8, "units read long before the decoder needs them"
    assert read == list(range(count)) and max(held) == 3
    assert all(np.array_equal(a, b) for a, b in zip(keys[5], whole[5]))  # back past what was kept
    assert read[count:] == list(range(6)) and keys.held <= 4


def test_svt_av1_threads_do_not_change_the_keyframe_bytes(monkeypatch) -> None:
    """The keyframe coder uses the machine's cores (KEYFRAME_THREADS), so the file must not depend on them."""
    from bitstream import KeyframeCodec
    from nrffcodec.core import keyframes
    from tests.clips import moving_texture

    clip = moving_texture(width=96, height=64, frames=6, dx=3)
    pictures = [(clip.y[t], clip.u[t], clip.v[t]) for t in range(0, 6, 2)]
    coder = keyframes.CODECS[KeyframeCodec.AV1]
    coded = {}
    for threads in (1, 4):
        monkeypatch.setattr(keyframes, "KEYFRAME_THREADS", threads)
        assert f"lp={threads}:" in coder.options(40, 16, "medium")["svtav1-params"]
        coded[threads] = [c.slices for c in coder.encode_sequence(pictures, 40, 16, False, "medium")]
    assert coded[1] == coded[4]


@pytest.mark.parametrize("preset, svt_preset", [("fast", "3"), ("medium", "0"), ("slow", "-1")])
def test_keyframes_take_svt_av1_preset_from_nrffs_preset(preset: str, svt_preset: str) -> None:
    from bitstream import KeyframeCodec
    from nrffcodec.core.keyframes import CODECS

    assert CODECS[KeyframeCodec.AV1].options(40, 16, preset)["preset"] == svt_preset
    assert CODECS[KeyframeCodec.HEVC].options(40, 16, preset)["preset"] == "slow"


def test_the_encoder_and_its_pilot_code_keyframes_at_the_encodes_preset(clip_path, monkeypatch) -> None:
    from nrffcodec import EncodeSettings, encode_video, read_video
    from nrffcodec.core.keyframes import KeyframeCoder

    used = []
    original = KeyframeCoder.encode_sequence

    def recording(self, pictures, qp, period=1, full_range=False, preset="medium", every_frame=False):
        used.append((preset, every_frame))
        return original(self, pictures, qp, period, full_range, preset, every_frame)

    monkeypatch.setattr(KeyframeCoder, "encode_sequence", recording)
    encode_video(read_video(clip_path), EncodeSettings(preset="slow", iterations=3, quality=4, gop=None, jobs=1))
    assert len(used) > 1 and {preset for preset, _ in used} == {"slow"}  # the pilot's candidates, then the encode
    assert ("slow", True) in used  # GOP length 1, every frame a keyframe, is always measured


# ---------------------------------------------------------------- training processes


@pytest.mark.parametrize(
    "device, explicit, tasks, cores, expected",
    [
        ("cpu", None, 8, 2, 2),  # one process per core
        ("cpu", None, 1, 2, 1),  # never more than there are GOPs
        ("cuda", None, 8, 16, 1),  # one process per GPU: its captured steps keep the GPU busy
        ("cuda", 4, 8, 16, 4),  # --jobs wins
    ],
)
def test_default_jobs(
    monkeypatch: pytest.MonkeyPatch, device: str, explicit: int | None, tasks: int, cores: int, expected: int
) -> None:
    from nrffcodec.encoder import runner

    monkeypatch.setattr(runner.os, "cpu_count", lambda: cores)
    assert runner.default_jobs(explicit, device, tasks) == expected


@pytest.mark.parametrize(
    "jobs, available, expected",
    [
        (16, None, 16),  # where the system cannot say, as asked
        (16, 64 << 30, 16),
        (16, 16 << 30, 10),  # about 1.68 GB a process at 1080p, GOPs of up to 32 frames, its tasks included
        (16, 100 << 20, 1),  # never fewer than one
    ],
)
def test_no_more_training_processes_than_memory_holds(jobs: int, available: int | None, expected: int) -> None:
    from nrffcodec.encoder.runner import jobs_that_fit

    assert jobs_that_fit(jobs, 1080, 1920, 32, available) == expected


def test_a_training_process_that_dies_is_one_line_naming_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from nrffcodec import encode_video
    from nrffcodec.encoder import runner
    from nrffcodec.errors import ResourceError
    from tests.clips import moving_texture
    from tests.conftest import fast_settings

    def killed(task, *args, **kwargs):  # what the kernel does to a process out of memory
        os._exit(137)

    monkeypatch.setattr(runner, "train_gop", killed)  # the forked workers inherit it
    with pytest.raises(ResourceError, match="a process training GOPs died.*smaller --jobs"):
        encode_video(moving_texture(16, 16, 12, dx=1), fast_settings(gop=4, jobs=2, iterations=5))


@pytest.mark.parametrize("changes", [{"keyframe_qp": 0}, {"keyframe_qp": 64}, {"weight_bits": 1}, {"quality": 9}])
def test_settings_refuse_what_the_cli_refuses(changes) -> None:
    with pytest.raises(InputError, match="must be"):
        EncodeSettings(**changes)


def test_a_keyframe_qp_override_moves_the_qp_and_the_pilots_lambda_only() -> None:
    plain, chosen = EncodeSettings(quality=4), EncodeSettings(quality=4, keyframe_qp=37)
    assert chosen.rung == dataclasses.replace(plain.rung, keyframe_qp=37)
    assert chosen.rd_lambda == rd_lambda(37) < plain.rd_lambda
