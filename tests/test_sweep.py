"""nrff sweep: files written, points reused on a re-run, CRFs chosen to cover nrff, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitstream import KeyframeCodec
from nrffcodec.app.cli import cli
from nrffcodec.core.keyframes import CODECS
from nrffcodec.errors import InputError
from nrffcodec.evaluation import sweep
from nrffcodec.evaluation.anchors import MIN_POINTS, crf_sweep, make_baselines, parse_presets
from nrffcodec.evaluation.baselines import X26x
from nrffcodec.evaluation.points import Clip, point_key
from nrffcodec.evaluation.svtav1 import SvtAv1
from nrffcodec.evaluation.sweep import NrffCodec, SweepOptions, run_sweep

from .clips import moving_texture

FAST_SWEEP = dict(qualities=(1, 6), preset="fast", iterations=20, device="cpu", jobs=1, crfs=(30, 40))
FILES = ("results.json", "results.csv", "rd.png", "rd.svg", "compare.png", "points.jsonl")


@pytest.fixture(scope="module")
def clip() -> Clip:
    return Clip.of("moving", moving_texture(64, 48, 6, dx=1))


@pytest.fixture(scope="module")
def swept(clip: Clip, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    result = run_sweep(clip, out, SweepOptions(**FAST_SWEEP), log=lines.append)
    return out, result, lines


def test_sweep_writes_every_file(swept) -> None:
    out, result, _ = swept
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "results.json").read_text())
    assert data["clip"]["width"] == 64 and data["clip"]["frames"] == [0, 6]
    assert {"nrff", "torch", "libavcodec"} <= set(data["versions"])
    points = data["points"]
    assert [(p["codec"], p["setting"]) for p in points] == [
        ("nrff", 1),
        ("nrff", 6),
        ("x264", 30),
        ("x264", 40),
        ("x265", 30),
        ("x265", 40),
        ("svtav1", 30),
        ("svtav1", 40),
    ]
    for p in points:
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (64 * 48 * 6))
        assert p["psnr_rgb"] > 10 and p["ms_ssim_rgb"] is not None and p["decode_s"] >= 0
    assert "x264" in points[2]["versions"] and "nrff" in points[0]["versions"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 8 and rows[0]["codec"] == "nrff" and float(rows[2]["psnr_yuv"]) > 10
    assert rows[-1]["label"] == "svtav1 p3" and rows[-1]["preset"] == "3"  # --preset fast's keyframes
    pairs = [(row["test"], row["anchor"]) for row in data["bd_rate"]]
    assert pairs == [
        ("nrff", "x264"),
        ("nrff", "x265"),
        ("nrff", "svtav1 p3"),
        ("x265", "x264"),
        ("svtav1 p3", "x264"),
    ]
    assert all((out / p["stream"]).stat().st_size >= p["bytes"] for p in points)  # what compare.png decodes
    assert (out / "rd.svg").read_text().lstrip().startswith("<?xml")


def test_rerun_reuses_points_and_force_redoes_them(swept, clip: Clip, monkeypatch) -> None:
    out, first, _ = swept

    def no_encoding(*args, **kwargs):
        raise AssertionError("a finished point was encoded again")

    monkeypatch.setattr("nrffcodec.evaluation.sweep.encode_video", no_encoding)
    monkeypatch.setattr("nrffcodec.evaluation.baselines.X26x.encode_stream", no_encoding)
    lines: list[str] = []
    again = run_sweep(clip, out, SweepOptions(**FAST_SWEEP), log=lines.append)
    assert all(p["reused"] for p in again.points) and sum("reused" in line for line in lines) == 8
    assert [p["bytes"] for p in again.points] == [p["bytes"] for p in first.points]
    assert again.bd_rate == first.bd_rate
    monkeypatch.undo()
    forced = run_sweep(
        clip, out, SweepOptions(**{**FAST_SWEEP, "qualities": (), "baselines": ("x264",), "crfs": (30,), "force": True})
    )
    assert [p["reused"] for p in forced.points] == [False]


def test_points_are_keyed_by_source_frames_and_settings(clip: Clip) -> None:
    other = Clip.of("moving", moving_texture(64, 48, 6, dx=1, seed=1))
    x264 = X26x("x264")
    assert point_key(x264, 30, clip) == point_key(x264, 30, Clip.of("renamed", clip.video))
    assert (
        len(
            {
                point_key(x264, 30, clip),
                point_key(x264, 31, clip),
                point_key(x264, 30, other),
                point_key(X26x("x264", "slow"), 30, clip),
                point_key(X26x("x265"), 30, clip),
            }
        )
        == 5
    )


def test_nrff_points_are_keyed_by_the_encoders_source(clip: Clip, monkeypatch) -> None:
    """A cached point of other encoder code is not reused (it would mix two encoders in one curve)."""
    nrff = NrffCodec("fast", "cpu", iterations=5)
    before = point_key(nrff, 3, clip)
    monkeypatch.setattr(sweep, "encoder_digest", lambda: "f" * 64)
    assert point_key(nrff, 3, clip) != before


class _FakeRunner:
    """Points on a smooth synthetic RD curve: bpp halves every 6 CRF, PSNR drops 0.5 dB per CRF."""

    def __init__(self) -> None:
        self.crfs: list[int] = []

    def run(self, codec, crf: int) -> dict:
        self.crfs.append(crf)
        return {"bpp": 2.0 ** (-(crf - 20) / 6), "psnr_rgb": 50 - 0.5 * crf, "psnr_yuv": 53 - 0.5 * crf}


@pytest.mark.parametrize("codec", [X26x("x264"), SvtAv1("4")], ids=["x264", "svtav1"])
@pytest.mark.parametrize("target_crfs", [(30, 33), (14, 45), (20, 60), (40, 70)])
def test_crf_choice_covers_the_nrff_range(target_crfs, codec) -> None:
    # nrff's points, placed where the baseline would be at these (fractional) CRFs, 1 dB worse
    runner = _FakeRunner()
    target = [{k: v - (1.0 if k != "bpp" else 0.0) for k, v in runner.run(None, c).items()} for c in target_crfs]
    runner.crfs.clear()
    points = crf_sweep(runner, codec, target)
    low, high = codec.crf_range
    assert len(points) >= MIN_POINTS and len(set(runner.crfs)) == len(runner.crfs)
    assert all(low <= c <= high for c in runner.crfs)
    lowest, highest = points[-1], points[0]
    if max(target_crfs) <= high:
        assert lowest["bpp"] <= min(p["bpp"] for p in target)
        assert lowest["psnr_rgb"] <= min(p["psnr_rgb"] for p in target)
    else:
        assert max(runner.crfs) == high
    assert highest["bpp"] >= max(p["bpp"] for p in target)


# ---------------------------------------------------------------- the command


def run(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_sweep_command(clip_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = (
        "sweep",
        clip_path,
        "--out",
        out,
        "--qualities",
        "2,5",
        "--preset",
        "fast",
        "--iterations",
        "10",
        "--crfs",
        "30,40",
        "--baselines",
        "x264",
        "--device",
        "cpu",
        "--jobs",
        "1",
        "--frames",
        "0:6",
    )
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "BD-rate nrff vs x264" in result.stdout and "x265" not in result.stdout
    assert "[1] nrff quality 2" in result.stderr
    assert all((out / name).exists() for name in FILES)
    quiet = run(*args, "-q")
    assert quiet.exit_code == 0 and quiet.output == ""


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--qualities", "0,3"), "--qualities"),
        (("--qualities", "a,b"), "comma-separated"),
        (("--baselines", "vp9"), "--baselines"),
        (("--crfs", "30,70"), "--crfs"),
        (("--crfs", "55", "--baselines", "x264"), "--crfs"),
        (("--baseline-preset", "svtav1=14"), "SVT-AV1 presets"),
        (("--baseline-preset", "quick"), "--baseline-preset"),
        (("--baseline-preset", "vp9=1"), "unknown codec"),
    ],
)
def test_sweep_option_errors_are_one_line(clip_path: Path, tmp_path: Path, extra, message: str) -> None:
    result = run("sweep", clip_path, "--out", tmp_path / "s", *extra)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nrff: error:") and message in lines[0]


def test_sweep_output_that_is_a_file(clip_path: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = run("sweep", clip_path, "--out", taken, "--qualities", "none", "--crfs", "30")
    assert result.exit_code == 2 and "not a folder" in result.stderr


def test_a_clip_too_long_for_memory_is_refused_as_it_is_read(clip_path: Path, tmp_path: Path, monkeypatch) -> None:
    """The sweep holds its clip: with room for 5 frames of this 48x32 clip (12 frames), one line, no sweep."""
    from nrffcodec.app.resources import SWEEP_COPIES

    monkeypatch.setattr("nrffcodec.decoder.available_memory", lambda: 5 * 48 * 32 * 3 // 2 * SWEEP_COPIES)
    result = run("sweep", clip_path, "--out", tmp_path / "s", "--qualities", "none", "--crfs", "30")
    assert result.exit_code == 2 and not (tmp_path / "s").exists()
    assert "more than 5 frames of 48x32 do not fit in memory (a sweep holds each about" in result.stderr
    assert "--frames START:END" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    few = run(
        "sweep", clip_path, "--out", tmp_path / "s", "--qualities", "none", "--crfs", "30", "--frames", "0:5", "-q"
    )
    assert few.exit_code == 0, few.stderr


def test_svt_av1s_default_preset_is_that_of_nrffs_own_keyframes() -> None:
    for preset, label in (("fast", "svtav1 p3"), ("medium", "svtav1 p0"), ("slow", "svtav1 p-1")):
        assert SweepOptions(preset=preset).anchor_labels() == ["x264", "x265", label]
        assert CODECS[KeyframeCodec.AV1].options(40, 16, preset)["preset"] == label.removeprefix("svtav1 p")
    given = SweepOptions(preset="slow", baseline_presets=parse_presets(["svtav1=4"]))
    assert given.anchor_labels() == ["x264", "x265", "svtav1 p4"]


def test_baseline_presets_per_codec_and_bare_for_x26x() -> None:
    pairs = parse_presets(["slow", "svtav1=0", "svtav1=4"])
    assert pairs == (("x264", "slow"), ("x265", "slow"), ("svtav1", "0"), ("svtav1", "4"))
    codecs = make_baselines(("x264", "svtav1"), pairs)
    assert [(c.label, c.preset) for c in codecs] == [("x264", "slow"), ("svtav1 p0", "0"), ("svtav1 p4", "4")]
    assert [c.label for c in make_baselines(("x265", "svtav1"), ())] == ["x265", "svtav1 p0"]  # the defaults
    assert make_baselines(("svtav1",), (), crfs=(55, 63))  # SVT-AV1's CRF scale reaches 63
    assert [c.label for c in make_baselines(("svtav1",), parse_presets(["svtav1=-1"]))] == ["svtav1 p-1"]
    same = parse_presets(["svtav1=4", "svtav1=04"])  # one preset, one curve
    assert same == (("svtav1", "4"), ("svtav1", "4")) and len(make_baselines(("svtav1",), same)) == 1
    with pytest.raises(InputError, match="-1..13"):
        parse_presets(["svtav1=-2"])
    with pytest.raises(InputError, match="x264"):
        make_baselines(("x264",), (), crfs=(55,))
