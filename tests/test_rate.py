"""--bitrate and --min-psnr: the search for the keyframe QP that meets a goal, on model curves and real encodes."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import pytest

from bitstream import KeyframeCodec
from nrffcodec.app.options import parse_bitrate
from nrffcodec.core.quantizer import log_steps
from nrffcodec.encoder import rate
from nrffcodec.encoder.rate import (
    MAX_TRIALS,
    Goal,
    RateTrial,
    answer,
    encode_to_goal,
    encodes_left,
    qp_at,
    still_open,
    target_bytes,
)
from nrffcodec.errors import InputError
from nrffcodec.settings import KEYFRAME_QP_MAX, EncodeSettings

from .cli_tools import one_line_error, run

FAST_GOP_1 = ["--preset", "fast", "--gop", "1", "--device", "cpu", "--jobs", "1"]


Curve = dict[int, RateTrial]


AV1_STEPS = log_steps(KeyframeCodec.AV1)


def model_curve(rng: random.Random) -> Curve:
    """QP 1..63: bytes falling 4-11% and PSNR 0.1-0.5 dB for each 7.6% of AV1's quantizer step (a QP
    step at QP 40, decision 0077), one step in ten flat in both (x265 keyframes map AV1 QPs pairwise)."""
    size, psnr, curve = 1_000_000.0, 55.0, {}
    for qp in range(1, 64):
        curve[qp] = RateTrial(qp, round(size), round(psnr, 2))
        if rng.random() >= 0.1 and qp < 63:
            units = (AV1_STEPS[qp + 1] - AV1_STEPS[qp]) / math.log(1.076)
            size *= (1.0 - rng.uniform(0.04, 0.11)) ** units
            psnr -= rng.uniform(0.1, 0.5) * units
    return curve


def search(curve: Curve, goal: Goal, first: int, steps: tuple[float, ...] = AV1_STEPS) -> list[RateTrial]:
    return rate.search(curve.__getitem__, goal, first, steps)


@pytest.mark.parametrize("kind", ["bytes", "psnr"])
def test_the_search_finds_the_qp_that_meets_the_goal_in_a_few_trials(kind: str) -> None:
    """--bitrate: the least QP whose bytes fit; --min-psnr: the greatest whose PSNR reaches the floor."""
    rng = random.Random(7)
    counts = []
    for _ in range(60):
        curve = model_curve(rng)
        for first in (24, 40, 58):
            for _ in range(10):
                if kind == "bytes":
                    low, high = math.log(curve[63].bytes * 0.8), math.log(curve[1].bytes * 1.2)
                    goal = Goal(max_bytes=round(math.exp(rng.uniform(low, high))))
                    meeting = [t.qp for t in curve.values() if t.bytes <= goal.max_bytes]
                    best = min(meeting, default=63)  # none: the fewest bytes
                else:
                    goal = Goal(min_psnr=round(rng.uniform(curve[63].psnr_yuv - 2, curve[1].psnr_yuv + 1), 2))
                    meeting = [t.qp for t in curve.values() if t.psnr_yuv >= goal.min_psnr]
                    best = max(meeting, default=1)  # none: the best picture
                trials = search(curve, goal, first)
                assert answer(trials, goal).qp == best, (goal, trials)
                assert len({t.qp for t in trials}) == len(trials), "a QP tried twice"
                counts.append(len(trials))
    assert max(counts) <= MAX_TRIALS and sum(counts) / len(counts) < 4.0, sorted(counts)[-20:]


def test_the_log_steps_rise_with_the_qp_and_read_back() -> None:
    """AV1's step is the spec's AC step at qindex 4 x QP (249, 255 at the top); x265's doubles every 6 of its QPs."""
    for codec in KeyframeCodec:
        steps = log_steps(codec)
        assert len(steps) == KEYFRAME_QP_MAX + 1 and all(a < b for a, b in zip(steps, steps[1:]))
        for qp in range(KEYFRAME_QP_MAX + 1):
            assert qp_at(steps[qp], steps) == pytest.approx(qp)
        assert qp_at((steps[20] + steps[21]) / 2, steps) == pytest.approx(20.5)
        assert qp_at(steps[-1] + 2 * (steps[-1] - steps[-2]), steps) == pytest.approx(KEYFRAME_QP_MAX + 2)
    assert [round(math.exp(s)) for s in log_steps(KeyframeCodec.AV1)[::21]] == [4, 91, 353, 1828]
    hevc = log_steps(KeyframeCodec.HEVC)
    assert hevc[KEYFRAME_QP_MAX] - hevc[KEYFRAME_QP_MAX - 40] == pytest.approx(0.45 * 40 / 6 * math.log(2))


def test_the_search_finds_the_qp_on_x265s_scale_too() -> None:
    """x265 keyframes: AV1 QPs map pairwise to one of x265's, so the curve is flat every other step."""
    hevc = log_steps(KeyframeCodec.HEVC)
    curve = {
        qp: RateTrial(qp, round(300_000 * 0.89 ** round(0.45 * qp)), 50.0 - 0.6 * round(0.45 * qp))
        for qp in range(1, 64)
    }
    for limit in (12_000, 40_000, 150_000, 280_000):
        goal = Goal(max_bytes=limit)
        trials = search(curve, goal, 40, hevc)
        assert answer(trials, goal).qp == min(qp for qp, t in curve.items() if t.bytes <= limit)
        assert len(trials) <= 6, trials


def test_each_trials_line_says_where_the_answer_still_lies() -> None:
    bound, floor = Goal(max_bytes=5_000), Goal(min_psnr=40.0)
    first = [RateTrial(40, 4_000, 41.0)]
    assert still_open(first, bound) == "; the answer lies in QP 1..40: at most 7 more encodes"
    two = [*first, RateTrial(30, 6_000, 43.0)]
    timed = "; the answer lies in QP 31..40: at most 6 more encodes, about 1 min 15 s each"
    assert still_open(two, bound, 75.0) == timed
    last = "; the answer lies in QP 39..40: 1 more encode, about 4 s each"
    assert still_open([*first, RateTrial(38, 5_500, 41.5)], bound, 4.0) == last
    assert still_open([*first, RateTrial(39, 5_001, 41.2)], bound) == ""  # settled: 40
    assert still_open([RateTrial(63, 9_000, 30.0)], bound) == ""  # nothing fits: QP 63 kept
    assert still_open([RateTrial(40, 4_000, 39.0)], floor) == "; the answer lies in QP 1..39: at most 7 more encodes"
    assert still_open(first, floor) == "; the answer lies in QP 40..63: at most 7 more encodes"
    capped = [RateTrial(qp, 4_000, 41.0) for qp in range(40, 40 + MAX_TRIALS)]
    assert still_open(capped, floor) == ""  # the search stops at MAX_TRIALS, whatever is open


def promises(curve: Curve, goal: Goal) -> tuple[list[RateTrial], list[int]]:
    """A search's trials, and after each the most encodes its line said were left."""
    promised: list[int] = []
    trials = rate.search(curve.__getitem__, goal, 40, AV1_STEPS, lambda t: promised.append(encodes_left(t, goal)))
    return trials, promised


def test_the_search_makes_no_more_trials_than_each_line_promised() -> None:
    rng = random.Random(11)
    for _ in range(40):
        curve = model_curve(rng)
        size = math.exp(rng.uniform(math.log(curve[63].bytes), math.log(curve[1].bytes)))
        trials, promised = promises(curve, Goal(max_bytes=round(size)))
        assert all(len(trials) - n <= left for n, left in enumerate(promised, 1)) and promised[-1] == 0


def test_a_goal_out_of_reach_ends_at_the_scale_ends() -> None:
    curve = {qp: RateTrial(qp, 10_000 - 100 * qp, 60.0 - qp / 2) for qp in range(1, 64)}
    assert answer(search(curve, Goal(max_bytes=100), 40), Goal(max_bytes=100)).qp == 63  # the fewest bytes
    assert answer(search(curve, Goal(max_bytes=10**9), 40), Goal(max_bytes=10**9)).qp == 1  # the best picture
    assert answer(search(curve, Goal(min_psnr=70), 40), Goal(min_psnr=70)).qp == 1  # the best picture
    assert answer(search(curve, Goal(min_psnr=10), 40), Goal(min_psnr=10)).qp == 63  # the fewest bytes


def test_target_bytes_count_the_video_at_its_rate() -> None:
    assert target_bytes(100_000, 16, Fraction(25)) == 8_000
    assert target_bytes(1_000_000, 30_000, Fraction(30_000, 1_001)) == 125_125_000
    assert target_bytes(1, 1, Fraction(25)) == 0


@pytest.mark.parametrize(("text", "rate"), [("64000", 64e3), ("500k", 5e5), ("1.5M", 1.5e6), ("800kbps", 8e5)])
def test_bitrates_read_as_ffmpeg_writes_them(text: str, rate: float) -> None:
    assert parse_bitrate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "-5k", "0", "5x", "1e3"])
def test_a_bitrate_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="--bitrate"):
        parse_bitrate(text)


@pytest.mark.parametrize(
    "rates",
    [
        {"bitrate": 1e5, "keyframe_qp": 30},
        {"bitrate": 1e5, "min_psnr": 38.0},
        {"min_psnr": 38, "keyframe_qp": 3},
        {"min_psnr": 38, "min_psnr_rgb": 32},
    ],
)
def test_the_options_that_set_the_rate_exclude_each_other(rates: dict) -> None:
    with pytest.raises(InputError, match="give one"):
        EncodeSettings(**rates)


@pytest.mark.parametrize("psnr", [0.0, -3.0, 100.0, math.inf, math.nan])
@pytest.mark.parametrize("option", ["--min-psnr", "--min-psnr-rgb"])
def test_a_psnr_floor_out_of_range_is_refused(psnr: float, option: str) -> None:
    with pytest.raises(InputError, match=f"^{option} must"):
        EncodeSettings(**{option[2:].replace("-", "_"): psnr})


def test_the_search_keeps_one_file_and_holds_the_pilots_gop_length(tmp_path: Path) -> None:
    """encode_at_rate over a stand-in encoder: the kept trial's file becomes the output, the others go."""
    from nrffcodec.core.quality import Quality
    from nrffcodec.encoder.report import EncodeReport

    seen: list[EncodeSettings] = []

    def fake_encode(settings: EncodeSettings, path: Path) -> EncodeReport:
        seen.append(settings)
        size = 40_000 - 500 * settings.keyframe_qp
        path.write_bytes(bytes(size))
        qp = settings.keyframe_qp
        quality = Quality(*[60.0 - qp / 2] * 5, 1)
        return EncodeReport(size, 0.0, quality, 1, 1, 1, 1, 8, qp, size, 0, 0, 1.0, 0.5, 0.0, "cpu", [])

    def quiet(text: str) -> None:
        pass

    out = tmp_path / "video.nrf"
    report = encode_to_goal(fake_encode, EncodeSettings(bitrate=1e5), out, Goal(max_bytes=20_200), quiet)
    assert report.keyframe_qp == 40 and out.stat().st_size == 20_000 and report.target_bytes == 20_200
    assert [p.name for p in tmp_path.iterdir()] == ["video.nrf"], "trial files left behind"
    assert seen[0].gop is None and all(s.gop == 8 for s in seen[1:]) and len(seen) >= 2
    assert all(s.bitrate is None for s in seen) and report.rate_trials[0] == (40, 20_000, 40.0, 40.0)
    assert report.pilot_seconds == 0.5 * len(seen) and not report.notes
    far = encode_to_goal(fake_encode, EncodeSettings(bitrate=1e5), tmp_path / "far.nrf", Goal(max_bytes=100), quiet)
    assert far.keyframe_qp == 63 and "--bitrate not met" in far.notes[0]
    lines: list[str] = []
    encode_to_goal(fake_encode, EncodeSettings(bitrate=1e5), tmp_path / "x.nrf", Goal(max_bytes=30_000), lines.append)
    open_lines = [line for line in lines if "more encode" in line]
    assert open_lines[0].endswith("at most 7 more encodes")  # the first trial ran the pilot: not timed
    assert len(open_lines) > 1 and all(line.endswith(", about 1 s each") for line in open_lines[1:])
    seen.clear()
    floor = encode_to_goal(fake_encode, EncodeSettings(min_psnr=38), tmp_path / "floor.nrf", Goal(min_psnr=38), quiet)
    assert floor.keyframe_qp == 44 and floor.min_psnr == 38 and floor.target_bytes is None
    assert all(s.min_psnr is None for s in seen) and {t[0] for t in floor.rate_trials} >= {44, 45}


def test_bitrate_writes_the_file_of_the_qp_it_reports(clip_path: Path, tmp_path: Path) -> None:
    """The output is `--keyframe-qp Q`'s file byte for byte, fits the rate, and Q - 1's does not; a work
    folder keeps each trial apart and the same command resumes them all."""
    sizes = {}
    for qp in (44, 46):
        result = run("encode", clip_path, tmp_path / f"{qp}.nrf", *FAST_GOP_1, "--keyframe-qp", qp, "--json")
        assert result.exit_code == 0, result.stderr
        sizes[qp] = json.loads(result.stdout)["bytes"]
    assert sizes[44] > sizes[46]
    frames, fps = 12, 25  # clip_path's
    bitrate = (sizes[44] - 1) * 8 * fps / frames  # 44 is over; the answer is 45 or 46
    work = tmp_path / "work"
    args = ("encode", clip_path, tmp_path / "rate.nrf", *FAST_GOP_1, "--bitrate", f"{bitrate:.0f}", "--json")
    result = run(*args, "--workdir", work)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    qp = report["keyframe_qp"]
    tried = {t[0]: t[1] for t in report["rate_trials"]}
    assert qp in (45, 46) and tried[qp] == report["bytes"] <= report["target_bytes"] < tried.get(qp - 1, sizes[44])
    assert (tmp_path / "rate.nrf").read_bytes() == (
        (tmp_path / "46.nrf").read_bytes() if qp == 46 else _encoded_at(clip_path, tmp_path, qp)
    )
    assert sorted(p.name for p in work.iterdir()) == sorted(f"qp-{q:02d}" for q in tried)
    again = run(*args, "--workdir", work, "-y")
    assert again.exit_code == 0 and "already coded" in again.stderr, again.stderr
    assert json.loads(again.stdout)["rate_trials"] == report["rate_trials"]
    assert "give one" in one_line_error(run(*args, "-y", "--keyframe-qp", "30"))
    assert "--bitrate" in one_line_error(run(*args[:-3], "--bitrate", "lots", "-y"))


@pytest.mark.parametrize("metric", ["yuv", "rgb"])
def test_min_psnr_writes_the_smallest_file_that_reaches_it(clip_path: Path, tmp_path: Path, metric: str) -> None:
    """--min-psnr (PSNR-YUV) and --min-psnr-rgb: the greatest QP whose file reaches the floor, Q + 1's falls short."""
    option, key, column = ("--min-psnr", "min_psnr", 2) if metric == "yuv" else ("--min-psnr-rgb", "min_psnr_rgb", 3)
    psnr = {}
    for qp in (44, 46):
        result = run("encode", clip_path, tmp_path / f"{qp}.nrf", *FAST_GOP_1, "--keyframe-qp", qp, "--json")
        assert result.exit_code == 0, result.stderr
        psnr[qp] = json.loads(result.stdout)["quality"][f"psnr_{metric}"]
    assert psnr[44] > psnr[46]
    floor = round((psnr[44] + psnr[46]) / 2, 3)  # 46 falls short; the answer is 44 or 45
    result = run("encode", clip_path, tmp_path / "floor.nrf", *FAST_GOP_1, option, floor, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    qp, tried = report["keyframe_qp"], {t[0]: t[column] for t in report["rate_trials"]}
    assert qp in (44, 45) and report["quality"][f"psnr_{metric}"] >= floor > tried.get(qp + 1, psnr[46])
    assert report[key] == floor and report["target_bytes"] is None
    assert report["min_psnr" if metric == "rgb" else "min_psnr_rgb"] is None
    expected = (tmp_path / "44.nrf").read_bytes() if qp == 44 else _encoded_at(clip_path, tmp_path, qp)
    assert (tmp_path / "floor.nrf").read_bytes() == expected
    text = run("encode", clip_path, tmp_path / "text.nrf", *FAST_GOP_1, option, floor)
    assert f"{option}: at least {floor:g} dB PSNR-{metric.upper()};" in text.stderr, text.stderr
    assert f"{option}: QP {qp}: " in text.stderr and f"PSNR-{metric.upper()} " in text.stderr


def _encoded_at(clip_path: Path, tmp_path: Path, qp: int) -> bytes:
    path = tmp_path / f"{qp}.nrf"
    assert run("encode", clip_path, path, *FAST_GOP_1, "--keyframe-qp", qp, "-q").exit_code == 0
    return path.read_bytes()


def test_the_library_encode_takes_a_bitrate(clip_path: Path) -> None:
    from nrffcodec.encoder.pipeline import encode_video
    from nrffcodec.media.reader import read_video

    video = read_video(clip_path)
    settings = EncodeSettings(preset="fast", gop=1, device="cpu", jobs=1, bitrate=40_000)
    data, report = encode_video(video, settings)
    assert len(data) == report.bytes <= report.target_bytes == 2_400
    assert report.rate_trials and report.gop_length == 1
