"""The per-clip GOP length: the cost model, the candidates, and the pilot inside a real encode."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bitstream import KeyframeCodec, NrfFile
from nrffcodec import EncodeSettings
from nrffcodec.core.gop import gop_sizes, plan_gops
from nrffcodec.encoder.gop_length import (
    choose,
    descending_search,
    distinct_plans,
    length_label,
    lengths_phrase,
    pilot_gop,
    pilot_rounds,
    pilot_schedule,
)
from nrffcodec.encoder.keyframes import code_keyframes
from nrffcodec.encoder.pilot_measure import GOP_FRAMING_BYTES, RUN_FRAMING_BYTES, above_floor_curve, other_floor_qp
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.plan import plan_encode
from nrffcodec.media.reader import read_video
from nrffcodec.settings import GOP_CANDIDATES, PRESETS, rd_lambda

from .clips import moving_texture
from .conftest import FAST
from .pilot_tools import PIXELS, measure


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


def test_gop_sizes_say_what_the_plan_holds() -> None:
    for frames in range(1, 70):
        for length in GOP_CANDIDATES:
            gops = plan_gops(frames, length)
            low, *high = sorted({g.count for g in gops})
            expected = f"{low}-{high[0]} frames" if high else f"{low} frame{'s' * (low != 1)}"
            assert gop_sizes(frames, len(gops)) == expected


def test_the_pilot_names_the_frames_a_short_window_holds() -> None:
    assert length_label(measure(32, 12, 0, 0.0, 0, 0.0)) == "GOP 32 (12 frames)"
    assert length_label(measure(8, 12, 0, 0.0, 0, 0.0)) == "GOP 8 (6 frames)"
    assert length_label(measure(16, 64, 0, 0.0, 0, 0.0)) == "GOP 16"
    assert length_label(measure(1, 12, 0, 0.0, 0, 0.0)) == "GOP 1"


def test_the_lengths_turned_down_read_as_a_sentence() -> None:
    assert lengths_phrase([32]) == "GOP length 32 lies"
    assert lengths_phrase([32, 16]) == "GOP lengths 32 and 16 lie"
    assert lengths_phrase([32, 16, 8]) == "GOP lengths 32, 16 and 8 lie"


def test_rounds_go_longest_first_two_at_a_time() -> None:
    assert pilot_rounds((32, 16, 8, 4)) == [[32, 16], [8, 4]]
    assert pilot_rounds((32, 16, 8, 4, 2)) == [[32, 16], [8, 4], [2]]
    assert pilot_rounds((16, 8, 4, 2)) == [[16, 8], [4, 2]]
    assert pilot_rounds((16, 8, 4)) == [[16, 8], [4]]


def _search(costs: dict[int, float], above_floor: set[int] | None = None) -> tuple[int, list[int]]:
    """descending_search over measures whose cost at lambda 0 is `costs` (distortion only); `above_floor`:
    the lengths above the floor's curve, where that ends the descent (default: every length)."""

    def measure_round(lengths):
        return [
            measure(n, 32, key_bytes=0, key_mse=0.0, net_bytes=0, net_mse=costs[n] / (32 - len(plan_gops(32, n))))
            for n in lengths
        ]

    above = set(costs) if above_floor is None else above_floor
    best, measures = descending_search(
        list(costs), measure_round, 0.0, PIXELS, lambda measured: any(m.gop_length in above for m in measured)
    )
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


def test_a_round_whose_lengths_all_lie_below_the_floors_curve_ends_the_descent() -> None:
    falling = {32: 3.0, 16: 2.0, 8: 1.0, 4: 0.5, 2: 0.4}
    assert _search(falling, above_floor=set()) == (16, [32, 16])
    assert _search(falling, above_floor={16, 4}) == (2, [32, 16, 8, 4, 2])  # one a round above: on as before
    assert _search(falling, above_floor={32, 2}) == (4, [32, 16, 8, 4])  # 8 and 4 below: 2 is not measured


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


def test_on_a_clip_no_field_predicts_the_pilot_measures_one_round_and_stops_its_training() -> None:
    frames = [moving_texture(32, 32, 1, seed=seed) for seed in range(16)]  # a new picture every frame
    video = dataclasses.replace(frames[0], **{p: np.concatenate([getattr(f, p) for f in frames]) for p in "yuv"})
    lines: list[str] = []
    _, report = encode_video(video, EncodeSettings(**{**FAST, "gop": None, "iterations": 40}), log=lines.append)
    pilot = next(line for line in lines if line.startswith("pilot (per frame"))
    assert report.gop_length == 1 and "GOP 8:" in pilot and "GOP 4:" not in pilot and "GOP 2:" not in pilot, pilot
    assert "GOP 8: stopped after 50% of its steps at " in pilot  # far below the floor's curve (decision 0084)


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


def test_the_floors_second_point_is_the_cheaper_one_up_to_the_scales_top() -> None:
    assert [other_floor_qp(qp) for qp in (28, 52, 57, 58, 60, 61, 63)] == [34, 58, 63, 63, 63, 55, 57]


@pytest.mark.parametrize("gop", [1, 3])
def test_the_pilot_counts_keyframe_bytes_as_the_file_stores_them(gop: int) -> None:
    """A run of AV1 keyframes is a KPAK, one byte less an OBU: the pilot counts the file's bytes but the
    run's parameter-set references (a count, then two bytes each), which its framing estimate leaves out."""
    video = moving_texture(16, 12, 6, dx=1)
    settings = EncodeSettings(gop=gop, preset="fast", iterations=5, quality=1, device="cpu", jobs=1)
    plan = plan_encode(video.frame_count, video.height, video.width, settings, gop)
    keyframes = code_keyframes(video, plan, settings.preset)
    stored = keyframes.stored_bytes(plan.gops, KeyframeCodec.AV1)
    assert keyframes.stored_bytes(plan.gops, KeyframeCodec.HEVC) == keyframes.bytes
    if gop > 1:  # every GOP has frames to predict: no run
        assert stored == keyframes.bytes
        return
    _, report = encode_video(video, settings)
    references = sum(len(r.parameter_set_ids) for r in keyframes.records)
    assert stored < keyframes.bytes - len(keyframes.records)  # a byte an OBU, two for a frame shown again
    assert report.keyframe_bytes == stored + 1 + 2 * references
