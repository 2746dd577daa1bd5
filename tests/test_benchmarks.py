"""The hand-run benchmarks' pure parts: clip sizing, the lossless intermediate, the BD-rate table."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from bitstream import NrfFile, write_nrf
from bitstream.av1 import SHOWN_AGAIN
from nrffcodec import EncodeSettings, encode_video
from nrffcodec.errors import InputError
from nrffcodec.evaluation.sweep import SweepOptions
from nrffcodec.media.writer import write_video

from .clips import moving_texture
from .nrf_tools import TINY, one_thread, parts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
common = pytest.importorskip("common")
rd = pytest.importorskip("rd")
repack = pytest.importorskip("repack")
bound = pytest.importorskip("interpolation_bound")
latent = pytest.importorskip("latent_residual")


@pytest.mark.parametrize(
    "size, fitted",
    [
        ((640, 272), (320, 136)),
        ((768, 576), (384, 288)),
        ((176, 144), (176, 144)),
        ((320, 240), (320, 240)),
        ((1920, 1080), (384, 216)),
    ],
)
def test_fitted_size_divides_by_a_whole_factor(size, fitted) -> None:
    assert common.fitted_size(*size) == fitted


def test_max_size_reads_width_by_height_and_refuses_the_rest() -> None:
    assert common.parse_size("192x144") == (192, 144) and common.parse_size("384X288") == (384, 288)
    assert common.fitted_size(768, 576, common.parse_size("192x144")) == (192, 144)
    for bad in ("abc", "192", "192x", "x144", "12x300", "-1x144", "１９２x144"):
        with pytest.raises(InputError):
            common.parse_size(bad)
    with pytest.raises(InputError, match="^--size must"):
        common.parse_size("1920by1080", "--size")
    assert common.size_type("1920x1080") == (1920, 1080)
    with pytest.raises(argparse.ArgumentTypeError, match="^a size must be at least 16x16"):
        common.size_type("12x9")  # gpu.py's and memory.py's --size: argparse's one line, exit 2


def test_prepare_cuts_scales_and_keeps_frames_losslessly(tmp_path: Path) -> None:
    source = tmp_path / "bikes.mkv"
    write_video(source, moving_texture(100, 80, 40, dx=1))
    prepared = common.prepare(source, tmp_path / "work", frames=3, limit=(64, 48))
    assert prepared.path.name == "bikes_50x40_f32-35.mkv" and prepared.video.first_frame == 32
    assert prepared.video.y.shape == (3, 40, 50)
    assert "scaled to 50x40, frames 32-34" in prepared.note
    again = common.prepare(source, tmp_path / "work", frames=3, limit=(64, 48))
    assert np.array_equal(again.video.y, prepared.video.y)


def test_summary_table_has_a_row_per_pair_a_column_per_clip_and_the_means() -> None:
    def row(test, anchor, rgb, yuv):
        return {"test": test, "anchor": anchor, "psnr_rgb": rgb, "psnr_yuv": yuv}

    rows = [
        (
            "a",
            "176x144",
            [row("nrff", "x264", 10.0, 12.0), row("nrff", "x265", 30.0, None), row("x265", "x264", -20.0, -21.0)],
        ),
        (
            "b",
            "320x136",
            [row("nrff", "x264", 20.0, 14.0), row("nrff", "x265", 40.0, 42.0), row("x265", "x264", -10.0, -11.0)],
        ),
    ]
    text = rd.summary(rows, SweepOptions(baselines=("x264", "x265")), "python benchmarks/rd.py", 60.0)
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(lines) == 4 and "a PSNR-RGB" in lines[0] and "mean PSNR-YUV420" in lines[0]
    assert lines[1].startswith("| nrff vs x264 |") and "+15.0% (2)" in lines[1] and "+13.0% (2)" in lines[1]
    assert lines[2].startswith("| nrff vs x265 |") and "no overlap" in lines[2] and "+42.0% (1)" in lines[2]
    assert lines[3].startswith("| x265 vs x264 |") and "-15.0% (2)" in lines[3]


def test_repack_rewrites_a_3x_file_smaller_to_the_same_frames() -> None:
    with one_thread():
        data, _ = encode_video(moving_texture(16, 12, 4, dx=1), EncodeSettings(gop=1, **TINY))
        legacy = write_nrf(*parts(data), major=3).data
        rewritten = repack.repacked(legacy)  # raises SystemExit where the frames differ
    obus = [obu for chunk in parts(data)[2] for obu in chunk.keyframe.slices]  # a KPAK leaves out their headers
    packed = sum(2 if obu in SHOWN_AGAIN else 1 for obu in obus)  # and spells a frame shown again in one byte
    kpak = write_nrf(*parts(data), header_runs=False).data
    assert rewritten == data and NrfFile(legacy).version[0] == 3 and len(legacy) - len(kpak) == 42 + packed
    assert NrfFile(data).version == (4, 2) and len(data) < len(kpak)  # a KHDR codes the frame headers


def test_interpolation_bound_interleaves_and_prices_the_odd_frames() -> None:
    video = moving_texture(16, 12, 5, dx=1)
    even, odd = (dataclasses.replace(video, y=video.y[k::2], u=video.u[k::2], v=video.v[k::2]) for k in (0, 1))
    assert all(np.array_equal(getattr(bound.interleaved(even, odd, video), p), getattr(video, p)) for p in "yuv")
    all_rows = [
        {"crf": c, "bytes": b, "psnr_yuv": q, "psnr_rgb": q - 3, "odd_psnr_yuv": q}
        for c, b, q in ((63, 1000, 30.0), (56, 2000, 33.0), (48, 4000, 36.0))
    ]
    costlier = [r | {"bytes": round(r["bytes"] * 1.1), "odd_psnr_yuv": r["psnr_yuv"] - 2} for r in all_rows]
    rows = {"all": all_rows, "mci": costlier, "average": costlier}
    assert bound.bd(rows, "mci", "psnr_yuv") == pytest.approx(10.0, abs=0.01)
    text = "\n".join(bound.table({"clip": rows}))
    assert "| clip | 56 | 2,000, 33.00 / 30.00 | 2,200 | -200 (-13) | 33.00 / 31.00 / 31.00 |" in text
    assert "| mci, PSNR-RGB | +10.0% |" in text
    one_point = rows | {"mci": costlier[:1]}  # a curve of one point has no BD-rate, and the table says so
    assert bound.bd(one_point, "mci", "psnr_yuv") is None
    assert "| mci, PSNR-YUV | none |" in bound.bd_lines({"clip": one_point}, ("mci",))


def test_latent_residual_rate_model_is_a_distribution_and_the_fit_corrects_the_prediction() -> None:
    torch = pytest.importorskip("torch")
    values = torch.arange(-60.0, 61.0)
    bits = torch.stack([latent.laplace_bits(v, torch.tensor(0.3), torch.tensor(1.7)) for v in values])
    assert float(torch.exp2(-bits).sum()) == pytest.approx(1.0, abs=1e-3)
    assert latent.pareto([(100, 30.0), (120, 29.0), (150, 31.0), (150, 30.5)]) == [(100, 30.0), (150, 31.0)]
    video = moving_texture(16, 16, 4, dx=1)
    target = latent.planes_of(video, [1, 3])
    prediction = tuple(p * 0.9 for p in target)  # too dark: the latents or the synthesis must brighten it
    fitted = latent.fit(target, prediction, lam=1e-4, steps=80, hidden=4)
    before, after = (float(((luma - target[0]) ** 2).mean()) for luma in (prediction[0], fitted.planes[0]))
    assert after < before / 2 and fitted.latent_bytes >= 0 and fitted.decoder_bytes > 0


def test_scheduling_bystander_counts_alone_and_beside_a_command() -> None:
    scheduling = pytest.importorskip("scheduling")
    alone, nothing = scheduling.bystander_rate(0.3)
    beside, stdout = scheduling.bystander_rate(0.0, [sys.executable, "-c", "print('done')"])
    assert alone > 0 and beside > 0 and nothing == ""
    assert stdout.strip() == "done"


def test_training_scale_reads_configs_and_reads_the_anchor_curve_in_log_rate() -> None:
    scale = pytest.importorskip("training_scale")
    assert scale.Config.parse("3:32/64@4") == scale.Config(3, (32, 64), 4.0)
    assert scale.Config.parse("2") == scale.Config(2, None, 1.0)
    with pytest.raises(ValueError):
        scale.Config.parse("2:16")
    settings = scale.settings_for(scale.Config.parse("3:32/64@4"), 32, "cpu", 6100)
    assert (settings.iterations, settings.rung.flow_width, settings.rung.residual_width) == (24400, 32, 64)
    assert scale.settings_for(scale.Config.parse("2@0.5"), 32, "cpu", 6100).rung.flow_width == 12  # quality 2's own
    curve = [(1000, 30.0), (4000, 34.0)]
    assert scale.psnr_at(2000, curve) == pytest.approx(32.0)  # halfway in log rate
    assert scale.psnr_at(500, curve) is None and scale.psnr_at(5000, curve) is None


def test_weight_entropy_bounds_lie_under_what_the_file_spends(capsys) -> None:
    weights = pytest.importorskip("weight_entropy")
    assert common.entropy_bits(np.array([0, 0, 1, 1])) == pytest.approx(4.0)
    alternating = np.array([3, 0] * 50)  # known exactly from the symbol before (0 before the first)
    assert weights.context_bits(alternating) == pytest.approx(0.0) and common.entropy_bits(alternating) == 100
    fixture = Path(__file__).parent / "fixtures" / "carphone_fields-4.0.nrf"
    assert weights.main([str(fixture)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| carphone_fields"))
    now, payload, per_tensor, pooled, context = (float(c.replace(",", "")) for c in row.split("|")[4:9])
    assert context <= per_tensor <= payload < now and per_tensor <= pooled


def test_motion_grid_bound_finds_a_known_shift_and_prices_a_still_grid_at_nothing() -> None:
    torch = pytest.importorskip("torch")
    grid = pytest.importorskip("motion_grid_bound")
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (32, 48)).astype(np.uint8)
    target = np.roll(reference, (2, -3), axis=(0, 1))  # target(y, x) = reference(y - 2, x + 3)
    found = grid.block_match(reference, target, 16, 4)
    assert (found[0][1:, 1:-1] == -2).all() and (found[1][1:, 1:-1] == 3).all()  # blocks clear of the wrap
    still = torch.zeros(2, 2, 2, 3), torch.zeros(2, 3)
    assert grid.entropy_bytes(grid.grid_bytes(*still)) == 0
    refs = [[torch.full((4, 6), v), torch.full((2, 3), v), torch.full((2, 3), v)] for v in (10.0, 30.0)]
    assert all(float(p.mean()) == pytest.approx(20.0) for p in grid.predict(refs, *still))  # an even blend


def test_motion_grid_rate_proxy_grows_with_the_grids_detail() -> None:
    torch = pytest.importorskip("torch")
    grid = pytest.importorskip("motion_grid_bound")
    still, blend = torch.zeros(2, 2, 3, 4), torch.zeros(3, 4)
    assert float(grid.rate_proxy(still, blend)) == pytest.approx(0.0, abs=1e-5)
    uniform = torch.full((2, 2, 3, 4), 0.5)  # one jump per row from no motion, then nothing to send
    busy = torch.randn(2, 2, 3, 4)
    assert 0 < float(grid.rate_proxy(uniform, blend)) < float(grid.rate_proxy(busy, blend))


def test_rate_search_replays_every_goal_of_a_curve_to_its_answer() -> None:
    """benchmarks/rate_search.py: a goal between each two QPs, each searched to the QP that meets it."""
    replay = pytest.importorskip("rate_search")
    points = [[qp, round(400_000 * 0.93**qp), round(52.0 - 0.3 * qp, 4), 1.0, 48.0 - 0.28 * qp] for qp in range(1, 64)]
    rows, lines = replay.replay([{"clip": "model", "size": "64x48", "points": points}])
    kinds = ("--bitrate", "--min-psnr", "--min-psnr-rgb")
    assert [(row["kind"], len(row["counts"]), row["wrong"]) for row in rows] == [(kind, 62 * 8, 0) for kind in kinds]
    assert all(2 <= count <= 8 for row in rows for count in row["counts"])
    assert lines[-1].startswith("| all | all | 1,488 |")
