"""--bitrate: the search for the least keyframe QP whose file fits, on model curves and on real encodes."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import pytest

from nrffcodec.app.options import parse_bitrate
from nrffcodec.encoder.rate import MAX_TRIALS, RateTrial, answer, encode_at_rate, next_qp, target_bytes
from nrffcodec.errors import InputError
from nrffcodec.settings import EncodeSettings

from .cli_tools import one_line_error, run

FAST_GOP_1 = ["--preset", "fast", "--gop", "1", "--device", "cpu", "--jobs", "1"]


def model_curve(rng: random.Random) -> dict[int, int]:
    """Bytes per QP 1..63 falling 4-11% a step, with one step in ten flat (x265 keyframes map QPs pairwise)."""
    size, curve = 200_000.0, {}
    for qp in range(1, 64):
        curve[qp] = round(size)
        size *= 1.0 if rng.random() < 0.1 else 1.0 - rng.uniform(0.04, 0.11)
    return curve


def search(curve: dict[int, int], target: int, first: int) -> list[RateTrial]:
    trials: list[RateTrial] = []
    qp: int | None = first
    while qp is not None:
        trials.append(RateTrial(qp, curve[qp]))
        qp = next_qp(trials, target)
    return trials


def test_the_search_finds_the_least_qp_that_fits_in_a_few_trials() -> None:
    rng = random.Random(7)
    counts = []
    for _ in range(60):
        curve = model_curve(rng)
        for first in (24, 40, 58):
            for _ in range(10):
                target = round(math.exp(rng.uniform(math.log(curve[63] * 0.8), math.log(curve[1] * 1.2))))
                trials = search(curve, target, first)
                fitting = [qp for qp, size in curve.items() if size <= target]
                kept = answer(trials, target)
                assert kept.qp == (min(fitting) if fitting else 63), (target, trials)
                assert len({t.qp for t in trials}) == len(trials), "a QP tried twice"
                counts.append(len(trials))
    assert max(counts) <= MAX_TRIALS and sum(counts) / len(counts) < 4.0, sorted(counts)[-20:]


def test_a_target_out_of_reach_ends_at_the_scale_ends() -> None:
    curve = {qp: 10_000 - 100 * qp for qp in range(1, 64)}
    assert answer(search(curve, 100, 40), 100).qp == 63  # nothing fits: the fewest bytes
    assert answer(search(curve, 10**9, 40), 10**9).qp == 1  # everything fits: the best picture


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


def test_bitrate_and_keyframe_qp_exclude_each_other() -> None:
    with pytest.raises(InputError, match="give one"):
        EncodeSettings(bitrate=1e5, keyframe_qp=30)


def test_the_search_keeps_one_file_and_holds_the_pilots_gop_length(tmp_path: Path) -> None:
    """encode_at_rate over a stand-in encoder: the kept trial's file becomes the output, the others go."""
    from nrffcodec.encoder.report import EncodeReport

    seen: list[EncodeSettings] = []

    def fake_encode(settings: EncodeSettings, path: Path) -> EncodeReport:
        seen.append(settings)
        size = 40_000 - 500 * settings.keyframe_qp
        path.write_bytes(bytes(size))
        qp, quality = settings.keyframe_qp, None
        return EncodeReport(size, 0.0, quality, 1, 1, 1, 1, 8, qp, size, 0, 0, 1.0, 0.5, 0.0, "cpu", [])

    out = tmp_path / "video.nrf"
    report = encode_at_rate(fake_encode, EncodeSettings(bitrate=1e5), out, 20_200, lambda text: None)
    assert report.keyframe_qp == 40 and out.stat().st_size == 20_000 and report.target_bytes == 20_200
    assert [p.name for p in tmp_path.iterdir()] == ["video.nrf"], "trial files left behind"
    assert seen[0].gop is None and all(s.gop == 8 for s in seen[1:]) and len(seen) >= 2
    assert all(s.bitrate is None for s in seen) and report.rate_trials[0] == (40, 20_000)
    assert report.pilot_seconds == 0.5 * len(seen) and not report.notes
    far = encode_at_rate(fake_encode, EncodeSettings(bitrate=1e5), tmp_path / "far.nrf", 100, lambda text: None)
    assert far.keyframe_qp == 63 and "smallest file" in far.notes[0]


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
    tried = dict(report["rate_trials"])
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
