"""The per-clip GOP length: the cost model, the candidates, and the pilot inside a real encode."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bitstream import Keyframe, NrfFile, encoded_networks_size
from nrffcodec import EncodeSettings
from nrffcodec.app.workdir import Workdir, job_key
from nrffcodec.core.gop import plan_gops
from nrffcodec.encoder import pipeline
from nrffcodec.encoder.floor_check import FloorCheck, check_against_floor, trained_measure, window_gops
from nrffcodec.encoder.gop_length import (
    GOP_FRAMING_BYTES,
    PILOT_WINDOW,
    RUN_FRAMING_BYTES,
    PilotChoice,
    PilotMeasure,
    above_floor_curve,
    choose,
    descending_search,
    distinct_plans,
    other_floor_qp,
    pilot_gop,
    pilot_rounds,
    pilot_schedule,
)
from nrffcodec.encoder.keyframes import CodedKeyframes
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.train import GopResult
from nrffcodec.media.reader import read_video
from nrffcodec.settings import GOP_CANDIDATES, PRESETS, rd_lambda

from .conftest import FAST

PIXELS = 100


def measure(length: int, frames: int, key_bytes: int, key_mse: float, net_bytes: int, net_mse: float) -> PilotMeasure:
    gops = plan_gops(frames, length)
    return PilotMeasure(length, gops, key_bytes, key_mse * PIXELS * len(gops), net_bytes, net_mse)


def test_cost_adds_every_gops_networks_and_weighs_predicted_frames() -> None:
    m = measure(8, 32, key_bytes=1000, key_mse=10.0, net_bytes=50, net_mse=40.0)
    assert m.bits() == 8 * (1000 + 4 * 50 + 4 * GOP_FRAMING_BYTES)
    assert m.distortion(PIXELS) == pytest.approx(4 * 10.0 * PIXELS + 28 * 40.0 * PIXELS)
    assert m.cost(2.0, PIXELS) == pytest.approx(m.distortion(PIXELS) + 2.0 * m.bits())


def test_the_slope_decides_between_cheap_and_good() -> None:
    long = measure(32, 32, key_bytes=1000, key_mse=10.0, net_bytes=100, net_mse=80.0)
    short = measure(8, 32, key_bytes=1500, key_mse=10.0, net_bytes=100, net_mse=40.0)
    # short costs 8 * (1500 + 400 - 1100) = 6,400 more bits and saves about 30 * 40 * 100 of error
    breakeven = (long.distortion(PIXELS) - short.distortion(PIXELS)) / (short.bits() - long.bits())
    assert choose([long, short], breakeven * 0.9, PIXELS) is short
    assert choose([long, short], breakeven * 1.1, PIXELS) is long


def test_a_tie_keeps_the_longer_gop() -> None:
    a = measure(32, 32, 1000, 10.0, 100, 40.0)
    b = dataclasses.replace(a, gop_length=16)
    assert choose([b, a], 5.0, PIXELS).gop_length == 32
    with pytest.raises(ValueError):
        choose([], 1.0, PIXELS)


def test_lambda_follows_the_keyframe_qp() -> None:
    lambdas = [rd_lambda(qp) for qp in (22, 34, 40, 46, 58)]
    assert lambdas == sorted(lambdas)  # coarser keyframes: a bit is worth more distortion
    assert rd_lambda(40) == pytest.approx(2**9.5)  # AV1 QP 40 ~ HEVC QP 28.5


def test_candidates_by_quality_and_override() -> None:
    assert EncodeSettings(quality=1).gop_candidates == GOP_CANDIDATES
    assert EncodeSettings(quality=7).gop_candidates == (16, 8, 4, 2, 1)
    assert EncodeSettings(quality=8).gop_candidates == (8, 4, 2, 1)
    assert EncodeSettings(quality=1, gop=5).gop_candidates == (5,)


def test_lengths_with_the_same_plan_are_tried_once() -> None:
    plans = {g: plan_gops(12, g) for g in GOP_CANDIDATES}
    assert distinct_plans(GOP_CANDIDATES, plans) == [32, 8, 4, 2, 1]  # 12 frames: 32 and 16 both give one GOP


def test_rounds_go_longest_first_two_at_a_time() -> None:
    assert pilot_rounds((32, 16, 8, 4)) == [[32, 16], [8, 4]]
    assert pilot_rounds((32, 16, 8, 4, 2)) == [[32, 16], [8, 4], [2]]
    assert pilot_rounds((16, 8, 4, 2)) == [[16, 8], [4, 2]]
    assert pilot_rounds((16, 8, 4)) == [[16, 8], [4]]


def _search(costs: dict[int, float]) -> tuple[int, list[int]]:
    """descending_search over measures whose cost at lambda 0 is `costs` (distortion only)."""

    def measure_round(lengths):
        return [
            measure(n, 32, key_bytes=0, key_mse=0.0, net_bytes=0, net_mse=costs[n] / (32 - len(plan_gops(32, n))))
            for n in lengths
        ]

    best, measures = descending_search(list(costs), measure_round, 0.0, PIXELS)
    return best.gop_length, [m.gop_length for m in measures]


def test_search_stops_when_a_longer_gop_wins_and_descends_while_the_shortest_wins_or_nearly() -> None:
    assert _search({32: 1.0, 16: 2.0, 8: 0.5, 4: 0.1}) == (32, [32, 16])  # carphone: one round
    assert _search({32: 1.0, 16: 1.2, 8: 0.5, 4: 0.1}) == (32, [32, 16])  # 20% above the best: stop
    assert _search({32: 1.0, 16: 1.1, 8: 0.5, 4: 0.1}) == (4, [32, 16, 8, 4])  # 10% above: one more round
    assert _search({32: 3.0, 16: 2.0, 8: 0.5, 4: 0.7, 2: 0.1}) == (8, [32, 16, 8, 4])  # 4 is 40% above 8
    assert _search({16: 2.0, 8: 1.0, 4: 1.006, 2: 0.9}) == (2, [16, 8, 4, 2])  # bikes quality 5, random access
    assert _search({32: 3.0, 16: 2.0, 8: 1.0, 4: 0.5}) == (4, [32, 16, 8, 4])
    assert _search({16: 2.0, 8: 1.0, 4: 0.5}) == (4, [16, 8, 4])
    assert _search({32: 3.0, 16: 2.0, 8: 1.0, 4: 0.5, 2: 0.4}) == (2, [32, 16, 8, 4, 2])
    assert _search({16: 2.0, 8: 1.0, 4: 1.1, 2: 0.4}) == (2, [16, 8, 4, 2])  # quality 7: 2 measured with 4
    with pytest.raises(ValueError):
        descending_search([], lambda lengths: [], 1.0, PIXELS)


def test_short_gops_get_narrower_networks_but_not_below_quality_1s() -> None:
    medium = EncodeSettings(quality=5)
    assert medium.rung_for_length(8) == dataclasses.replace(medium.rung, gop=8)
    narrow = medium.rung_for_length(4)
    assert (narrow.gop, narrow.flow_width, narrow.residual_width) == (4, 16, 32)
    low = EncodeSettings(quality=2).rung_for_length(4)  # 12/20 halved, held at quality 1's 8/12
    assert (low.flow_width, low.residual_width) == (8, 12)
    shortest = medium.rung_for_length(2)
    assert (shortest.flow_width, shortest.residual_width) == (8, 16)  # a quarter at 3 frames or fewer
    assert medium.rung_for_length(3) == dataclasses.replace(shortest, gop=3)
    given = EncodeSettings(quality=5, flow_width=20).rung_for_length(2)
    assert (given.flow_width, given.residual_width) == (20, 16)


def test_pilot_trains_the_gop_in_the_middle_of_the_window() -> None:
    assert pilot_gop(plan_gops(32, 8)).first == 16
    assert pilot_gop(plan_gops(32, 32)).first == 0
    assert pilot_gop(plan_gops(5, 8)).index == 0


def test_pilot_schedule_is_a_fraction_of_every_preset() -> None:
    medium = PRESETS["medium"]
    pilot = pilot_schedule(medium)
    assert pilot.steps(31)[0] < medium.steps(31)[0] / 2
    fixed = pilot_schedule(dataclasses.replace(medium, fixed_steps=10))
    assert 1 <= fixed.steps(31)[0] < 10


def test_encode_without_gop_runs_the_pilot_and_writes_its_choice(clip_path) -> None:
    video = read_video(clip_path)
    settings = EncodeSettings(**{**FAST, "gop": None, "iterations": 40})
    lines: list[str] = []
    data, report = encode_video(video, settings, log=lines.append)
    assert report.gop_length in settings.gop_candidates
    assert any("pilot" in line and f"-> GOP {report.gop_length}" in line for line in lines)
    nrf = NrfFile(data)
    assert [(e.first_frame, e.frame_count) for e in nrf.index] == [
        (g.first, g.count) for g in plan_gops(video.frame_count, report.gop_length)
    ]
    assert any("GOP 1:" in line for line in lines)  # the keyframe codec alone is always measured
    # the pilot is deterministic: the same settings choose the same length and write the same bytes
    again, _ = encode_video(video, settings)
    assert again == data


def test_gop_length_1_pays_its_framing_and_wins_when_the_fields_are_dear() -> None:
    floor = measure(1, 32, key_bytes=3000, key_mse=20.0, net_bytes=0, net_mse=0.0)
    run = RUN_FRAMING_BYTES[floor.keyframe_codec]
    assert floor.bits() == 8 * (3000 + 32 * run) < 8 * (3000 + 32 * GOP_FRAMING_BYTES)  # keyframe run
    assert floor.distortion(PIXELS) == pytest.approx(32 * 20.0 * PIXELS)  # every frame is a keyframe
    fields = measure(8, 32, key_bytes=1500, key_mse=20.0, net_bytes=600, net_mse=20.0)
    assert choose([fields, floor], 1.0, PIXELS) is floor  # same distortion, fewer bytes
    cheap = measure(8, 32, key_bytes=1500, key_mse=20.0, net_bytes=100, net_mse=20.0)
    assert choose([cheap, floor], 1.0, PIXELS) is cheap


def test_at_gop_length_1_intra_keyframes_stay_as_far_apart_in_frames_as_at_the_longest_gop() -> None:
    from nrffcodec.encoder.plan import plan_encode

    settings = EncodeSettings(quality=7, keyframe_period=4)
    assert plan_encode(64, 16, 16, settings, 1).keyframe_period == 4 * 16  # quality 7's GOPs are up to 16
    assert plan_encode(64, 16, 16, settings, 8).keyframe_period == 4


def test_fields_are_kept_only_above_the_floors_own_curve() -> None:
    """The floor at two QPs spans a line in (log rate, PSNR); a length with fields must lie above it at its rate."""
    floor = measure(1, 32, 4000, 40.0, 0, 0.0)  # more bytes, less error
    cheaper_floor = measure(1, 32, 2000, 80.0, 0, 0.0)
    # the same bytes as the cheaper floor (its keyframe bytes plus networks, plus its run framing, less one GOP's)
    same_rate = 2000 + 32 * RUN_FRAMING_BYTES[cheaper_floor.keyframe_codec] - GOP_FRAMING_BYTES
    better = measure(32, 32, same_rate - 600, 60.0, 600, 60.0)  # at that rate, less error than the floor's curve
    worse = measure(32, 32, same_rate - 600, 100.0, 600, 100.0)
    assert better.bits() == cheaper_floor.bits() == worse.bits()
    assert above_floor_curve(better, floor, cheaper_floor, PIXELS)
    assert not above_floor_curve(worse, floor, cheaper_floor, PIXELS)
    # past the cheaper end, the line is extended: a point far below it in rate is judged against that
    far = measure(32, 32, 400, 90.0, 200, 90.0)
    assert above_floor_curve(far, floor, cheaper_floor, PIXELS)


def trained(gops) -> dict[int, GopResult]:
    """Results without weights (their coded size is the empty networks'), scored 99 dB in training:
    the check must go by the decoded frames, not by that."""
    return {g.index: GopResult(g.index, [], [], 0.0, 99.0) for g in gops}


def decoded(gops, psnrs: dict[int, float]) -> list[float]:
    """Each frame's decoded PSNR-RGB: its GOP's from `psnrs` (keyframes too; the check reads predicted frames only)."""
    return [psnrs[g.index] for g in gops for _ in range(g.count)]


def coded(gops, sizes: dict[int, int] | None = None) -> CodedKeyframes:
    """A keyframe chain for `gops`: one 2-byte parameter set, then each GOP's keyframe of `sizes` bytes (10)."""
    sizes = sizes or {}
    return CodedKeyframes((b"ps",), tuple(Keyframe([0], [bytes(sizes.get(g.index, 10))]) for g in gops))


def test_trained_fields_are_measured_over_every_gop_of_the_pilot_window_as_coded_and_decoded() -> None:
    chosen = measure(8, 32, key_bytes=1500, key_mse=20.0, net_bytes=600, net_mse=30.0)
    choice = PilotChoice(8, chosen, (measure(1, 32, 4000, 40.0, 0, 0.0),) * 2, 1.0, PIXELS)
    gops = plan_gops(48, 8)  # the encode's plan: the window's four GOPs and two beyond it
    window = window_gops(choice, gops)
    assert [g.index for g in window] == [0, 1, 2, 3]
    frames = decoded(gops, {0: 30.0, 1: 30.0, 2: 40.0, 3: 40.0, 4: 10.0, 5: 10.0})
    keys = coded(gops, {0: 100, 4: 999})
    got = trained_measure(chosen, window, keys, trained(gops), frames, PIXELS)
    mse = [255.0**2 * 10 ** (-p / 10) for p in (30.0, 30.0, 40.0, 40.0)]
    assert got.network_mse == pytest.approx(sum(mse) / 4)  # GOPs 4 and 5 lie beyond the window
    assert got.network_bytes == encoded_networks_size([[], []])
    assert got.keyframe_bytes == 2 + 100 + 3 * 10  # the encode's keyframes of the window and its parameter set
    assert got.keyframe_sse == pytest.approx(sum(mse) * PIXELS)  # one keyframe a GOP, as decoded
    assert trained_measure(chosen, window, keys, trained(gops[:3]), frames, PIXELS) is None  # GOP 3 untrained
    # a longer clip cut otherwise (42 frames: GOPs of 9 and 8): the GOPs inside the window, or the first
    assert [(g.first, g.count) for g in window_gops(choice, plan_gops(42, 8))] == [(0, 9), (9, 9), (18, 8)]
    assert [g.index for g in window_gops(choice, plan_gops(100, 48))] == [0]
    assert window_gops(PilotChoice(8), gops) == []
    assert window_gops(dataclasses.replace(choice, gop_length=1), gops) == []


def test_fields_that_decode_below_the_floor_fail_the_check() -> None:
    floor = measure(1, 32, 4000, 40.0, 0, 0.0)
    cheaper_floor = measure(1, 32, 2000, 80.0, 0, 0.0)
    chosen = measure(32, 32, 1000, 30.0, 200, 30.0)  # the pilot's estimate: far above the floor's curve
    choice = PilotChoice(32, chosen, (floor, cheaper_floor), 1.0, PIXELS)
    assert above_floor_curve(chosen, floor, cheaper_floor, PIXELS)
    gops = plan_gops(32, 32)
    keys = coded(gops, {0: 1000 - 2})
    psnr_33 = decoded(gops, {0: 33.0})  # MSE 32.6: as estimated
    held = check_against_floor(choice, gops, keys, trained(gops), psnr_33)
    assert isinstance(held, FloorCheck) and held.holds and held.floor is floor
    short = check_against_floor(choice, gops, keys, trained(gops), decoded(gops, {0: 20.0}))  # MSE 650
    assert short is not None and not short.holds and short.fields.network_mse > 600
    # a longer clip cut otherwise: its window (one GOP of 17 frames) and the pilot's (32) compared per frame,
    # here at the floor's rate a frame: just above the floor's quality holds, just below does not
    chosen16 = measure(16, 32, 1000, 30.0, 200, 30.0)
    per_frame_floor = PilotChoice(16, chosen16, (floor, cheaper_floor), 1.0, PIXELS)
    gops17 = plan_gops(51, 16)
    record = int(floor.bits()) // 8 * 17 // 32 - GOP_FRAMING_BYTES - 2 - encoded_networks_size([[], []])
    keys17 = coded(gops17, {0: record})
    for mse, holds in ((39.0, True), (41.0, False)):
        psnrs = decoded(gops17, {i: 10 * math.log10(255.0**2 / mse) for i in range(3)})
        check = check_against_floor(per_frame_floor, gops17, keys17, trained(gops17), psnrs)
        assert check is not None and check.holds == holds and len(check.fields.gops) == 1
    # nothing to check: no pilot (--gop), the pilot chose the floor itself, no GOP of the window trained
    low = decoded(gops, {0: 20.0})
    assert check_against_floor(PilotChoice(32), gops, keys, trained(gops), low) is None
    assert check_against_floor(dataclasses.replace(choice, gop_length=1), gops, keys, {}, low) is None
    assert check_against_floor(choice, gops, keys, {}, low) is None


@pytest.mark.parametrize("window", [PILOT_WINDOW, 6], ids=["clip in the window", "clip past the window"])
@pytest.mark.parametrize("floor_bytes, floor_mse, kept", [(10**6, 1e4, True), (10, 1e-3, False)])
def test_the_encoder_holds_the_trained_fields_to_the_floor(
    clip_path, tmp_path, monkeypatch, floor_bytes: int, floor_mse: float, kept: bool, window: int
) -> None:
    """Against a floor no fields could match the encode drops its trained fields and codes every frame
    as a keyframe; against a hopeless one it keeps them. Where the clip runs past the pilot window,
    the window's GOPs train first and are held to the floor before the rest train."""
    video = read_video(clip_path)
    settings = EncodeSettings(**{**FAST, "gop": None, "iterations": 40})
    window, pixels = min(video.frame_count, window), video.width * video.height
    floors = tuple(  # twice the bytes for half the error
        PilotMeasure(1, plan_gops(window, 1), floor_bytes * k, floor_mse / k * pixels * window, 0, 0.0) for k in (1, 2)
    )
    chosen = PilotMeasure(6, plan_gops(window, 6), 2000, 10.0 * pixels * window, 100, 10.0)
    choice = PilotChoice(6, chosen, floors, settings.rd_lambda, pixels)
    monkeypatch.setattr(pipeline, "choose_gop_length", lambda *args: choice)
    batches: list[list[int]] = []  # the GOPs of each training batch

    def train_fields(*args, **kwargs):
        results = real_train_fields(*args, **kwargs)
        batches.extend([sorted(results)] if results else [])
        return results

    real_train_fields = pipeline.train_fields
    monkeypatch.setattr(pipeline, "train_fields", train_fields)
    lines: list[str] = []
    store = Workdir(tmp_path / "work", job_key(video, settings, "cpu"), lines.append)
    data, report = encode_video(video, settings, log=lines.append, store=store)
    index = NrfFile(data).index
    assert len([line for line in lines if "decoded fields on the pilot window" in line]) == 1
    early = window < video.frame_count
    assert any(f"decoding frames 0-{window - 1} to measure them" in line for line in lines) == early
    if kept:
        assert report.gop_length == 6 and report.network_bytes > 0
        assert any("decoded fields on the pilot window" in line and line.endswith(": kept") for line in lines)
        assert [e.frame_count for e in index] == [g.count for g in plan_gops(video.frame_count, 6)]
        assert batches == ([[0], [1]] if early else [[0, 1]])
    else:
        assert report.gop_length == 1 and report.network_bytes == 0
        assert [e.frame_count for e in index] == [1] * video.frame_count
        assert any("no better than the keyframe codec alone" in line for line in lines)
        assert batches == ([[0]] if early else [[0, 1]])  # past the window, nothing more is trained
        # resumed (--workdir): the window's GOP comes from the store, and it is checked again before anything trains
        batches.clear()
        again = encode_video(video, settings, log=lines.append, store=store)[0]
        assert again == data and batches == []


def test_the_floors_second_point_is_the_cheaper_one_up_to_the_scales_top() -> None:
    assert [other_floor_qp(qp) for qp in (28, 52, 57, 58, 60, 61, 63)] == [34, 58, 63, 63, 63, 55, 57]
