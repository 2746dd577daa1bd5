"""Rate-distortion sweep: nrff at several qualities against x264/x265 over a CRF sweep, on the same
source frames, every point scored by the same metrics on decoded frames.

A point is one (codec, setting). Finished points are appended to DIR/points.jsonl as they finish,
keyed by everything that changes their output (codec, setting, preset, frames, a hash of the
source frames), so an interrupted or repeated sweep reuses them. DIR/results.json and .csv hold
the points of the current run, the BD-rates and the versions; DIR/rd.png and rd.svg the curves.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bitstream import FORMAT_MAJOR, FORMAT_MINOR

from ..core.device import resolve_device
from ..core.video import Video
from ..decoder import decode
from ..encoder.pipeline import Progress, encode_video
from ..errors import InputError, OutputError
from ..media.files import atomic_output
from ..settings import QUALITY_LADDER, EncodeSettings
from ..version import encoder_digest
from . import machine
from .baselines import Codec, Coded, X26x
from .bdrate import bd_rate, overlap
from .points import Clip, PointRunner, PointStore

Log = Callable[[str], None]

BASELINES = ("x264", "x265")
DEFAULT_QUALITIES = (1, 3, 5, 7)
# CRF search: start in the middle of the useful range, step 4 (about 0.6x rate per step) until the
# baseline's curve spans nrff's bpp and PSNR range at both ends, then fill to at least MIN_POINTS.
CRF_START, CRF_STEP, CRF_RANGE, MIN_POINTS = 32, 4, (12, 51), 4
DEFAULT_CRFS = (22, 27, 32, 37)  # when there are no nrff points to cover
METRICS = ("psnr_rgb", "psnr_yuv")
METRIC_LABELS = {"psnr_rgb": "PSNR-RGB", "psnr_yuv": "PSNR-YUV420"}
CSV_COLUMNS = (
    "codec",
    "preset",
    "setting_name",
    "setting",
    "first_frame",
    "frames",
    "width",
    "height",
    "bytes",
    "bpp",
    "psnr_rgb",
    "psnr_yuv",
    "psnr_y",
    "psnr_u",
    "psnr_v",
    "ms_ssim_rgb",
    "encode_s",
    "decode_s",
    "reused",
    "versions",
)


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """What `nrff sweep` can be told."""

    qualities: tuple[int, ...] = DEFAULT_QUALITIES
    baselines: tuple[str, ...] = BASELINES
    preset: str = "medium"
    baseline_preset: str = "medium"
    crfs: tuple[int, ...] | None = None  # None: chosen to cover nrff's range
    device: str = "auto"
    iterations: int | None = None
    jobs: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        bad = [q for q in self.qualities if q not in QUALITY_LADDER]
        if bad:
            raise InputError(f"--qualities must be in {min(QUALITY_LADDER)}..{max(QUALITY_LADDER)}, got {bad}")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise InputError(f"--baselines must be among {', '.join(BASELINES)}, got {', '.join(unknown)}")
        if self.crfs is not None and not all(0 <= c <= 51 for c in self.crfs):
            raise InputError(f"--crfs must be 0..51, got {list(self.crfs)}")
        if not self.qualities and not self.baselines:
            raise InputError("nothing to sweep: give --qualities or --baselines")
        EncodeSettings(preset=self.preset, iterations=self.iterations, jobs=self.jobs)  # validates


class NrffCodec(Codec):
    """nrff as a sweep codec: encode_video to .nrf bytes, then decode those bytes, timed apart.

    encode_s is the whole encoder, including the decode it runs to report on its own output.
    """

    name, setting_name = "nrff", "quality"

    def __init__(
        self,
        preset: str,
        device: str,
        iterations: int | None = None,
        jobs: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.preset, self.device, self.iterations, self.jobs = preset, resolve_device(device), iterations, jobs
        self.progress = progress

    def settings(self, quality: int) -> EncodeSettings:
        return EncodeSettings(
            quality=quality, preset=self.preset, device=self.device, iterations=self.iterations, jobs=self.jobs
        )

    def config(self, quality: int) -> dict:
        s = self.settings(quality)
        gop = s.gop or "auto:" + "/".join(map(str, s.gop_candidates)) + ",descending"
        return {
            **super().config(quality),
            "gop": gop,
            "rd_lambda": round(s.rd_lambda, 3),
            "keyframe_qp": s.rung.keyframe_qp,
            "seed": s.seed,
            "iterations": s.iterations,
            "device": s.device,
            "nrff": machine.versions()["nrff"],
            "encoder": encoder_digest()[:16],
            "format": f"{FORMAT_MAJOR}.{FORMAT_MINOR}",
        }

    def code(self, video: Video, quality: int) -> Coded:
        started = time.perf_counter()
        data, report = encode_video(video, self.settings(quality), self.progress)
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        decoded = decode(data, device=self.device)
        decode_s = time.perf_counter() - started
        versions = {k: v for k, v in machine.versions().items() if k in ("nrff", "torch", "numpy")}
        detail = {
            "keyframe_bytes": report.keyframe_bytes,
            "network_bytes": report.network_bytes,
            "train_s": round(report.train_seconds, 3),
            "gops": report.gops,
            "gop_length": report.gop_length,
            "device": report.device,
        }
        return Coded(data, decoded, encode_s, decode_s, versions, detail)


def parse_list(text: str | None, option: str, kind: type = int) -> tuple | None:
    """'1,3,5' -> (1, 3, 5); 'none' or '' -> (); None -> None (the option's default)."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(kind(part.strip()) for part in text.split(","))
    except ValueError:
        raise InputError(f"{option} must be a comma-separated list like 1,3,5, got {text!r}") from None


# ---------------------------------------------------------------- CRF choice


def _covers(low: dict, high: dict, target: Sequence[dict]) -> tuple[bool, bool]:
    """Does a baseline reach at least as low (low-rate end) and as high as every target point,
    in bpp and in each PSNR?"""
    keys = ("bpp",) + METRICS
    low_ok = all(low[k] <= min(p[k] for p in target) for k in keys)
    high_ok = all(high[k] >= max(p[k] for p in target) for k in keys)
    return low_ok, high_ok


def crf_sweep(runner: PointRunner, codec: X26x, target: Sequence[dict]) -> list[dict]:
    """Points at CRFs chosen so the curve spans `target`'s (nrff's) bpp and PSNR range."""
    done: dict[int, dict] = {}
    low_crf, high_crf = CRF_RANGE
    done[CRF_START] = runner.run(codec, CRF_START)
    while True:
        low_ok, high_ok = _covers(done[max(done)], done[min(done)], target)
        if not low_ok and max(done) < high_crf:
            crf = min(high_crf, max(done) + CRF_STEP)
        elif not high_ok and min(done) > low_crf:
            crf = max(low_crf, min(done) - CRF_STEP)
        else:
            break
        done[crf] = runner.run(codec, crf)
    while len(done) < MIN_POINTS:
        crfs = sorted(done)
        gaps = [(b - a, a, b) for a, b in zip(crfs, crfs[1:]) if b - a > 1]
        if not gaps:
            edge = crfs[-1] + 1 if crfs[-1] < high_crf else crfs[0] - 1
            done[edge] = runner.run(codec, edge)
            continue
        _, a, b = max(gaps)
        done[(a + b) // 2] = runner.run(codec, (a + b) // 2)
    return [done[c] for c in sorted(done)]


# ---------------------------------------------------------------- BD-rate and outputs


def bd_rates(points: Sequence[dict], anchors: Sequence[str]) -> list[dict]:
    """nrff against each anchor, and each later anchor against the first (a check of the anchors)."""
    by_codec: dict[str, list[dict]] = {}
    for p in points:
        by_codec.setdefault(p["codec"], []).append(p)
    pairs = [("nrff", a) for a in anchors] + [(b, anchors[0]) for b in anchors[1:]]
    out = []
    for test, anchor in pairs:
        if test not in by_codec:
            continue
        row: dict = {"test": test, "anchor": anchor}
        for metric in METRICS:
            curves = [[(p["bpp"], p[metric]) for p in by_codec[name]] for name in (anchor, test)]
            span = overlap(*curves)
            if min(len({q for _, q in c}) for c in curves) < 2:
                value, why = None, "too few points (two of different PSNR per curve are needed)"
            else:
                value, why = bd_rate(*curves), None if span else "no overlap"
            row[metric] = None if value is None else round(value, 2)
            row[f"{metric}_overlap_db"] = None if span is None else [round(span[0], 3), round(span[1], 3)]
            row[f"{metric}_note"] = why
        out.append(row)
    return out


def format_bd(row: dict) -> str:
    """'BD-rate nrff vs x264 (rate change at equal PSNR): PSNR-RGB +35.2%, PSNR-YUV420 +30.1%'."""
    head = f"BD-rate {row['test']} vs {row['anchor']} (rate change at equal PSNR): "
    notes = {row[f"{m}_note"] for m in METRICS}
    if all(row[m] is None for m in METRICS) and len(notes) == 1:
        return head + notes.pop()
    return head + ", ".join(
        f"{METRIC_LABELS[m]} " + (row[f"{m}_note"] if row[m] is None else f"{row[m]:+.1f}%") for m in METRICS
    )


def _csv_row(point: dict) -> dict:
    row = {k: point.get(k) for k in CSV_COLUMNS}
    row["versions"] = "; ".join(f"{k} {v}" for k, v in sorted(point["versions"].items()))
    return row


def write_results(out_dir: Path, clip: Clip, options: SweepOptions, points: Sequence[dict], bd: Sequence[dict]) -> None:
    """results.json (everything) and results.csv (one row per point), each written atomically."""
    device = resolve_device(options.device)
    result = {
        "clip": clip.describe(),
        "options": dataclasses.asdict(options),
        "machine": machine.describe(device),
        "versions": machine.versions(),
        "points": list(points),
        "bd_rate": list(bd),
        "crf_choice": (
            f"given: {list(options.crfs)}"
            if options.crfs is not None
            else f"from CRF {CRF_START} in steps of {CRF_STEP} (within {CRF_RANGE[0]}..{CRF_RANGE[1]}) "
            f"until the lowest and highest-rate points reach past nrff's in bpp, PSNR-RGB and "
            f"PSNR-YUV, then midpoints until at least {MIN_POINTS} points"
        ),
    }
    with atomic_output(out_dir / "results.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    with atomic_output(out_dir / "results.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_csv_row(p) for p in points)


@dataclasses.dataclass
class SweepResult:
    points: list[dict]
    bd_rate: list[dict]
    out_dir: Path


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"output folder is not writable: {path}")
    return path


def run_sweep(
    clip: Clip,
    out_dir: str | os.PathLike,
    options: SweepOptions = SweepOptions(),
    log: Log | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run (or reuse) every point, then write results.json/.csv and rd.png/.svg into out_dir."""
    from .plots import plot_rd  # matplotlib is imported only when there is something to draw

    log = log or (lambda text: None)
    out = prepare_out_dir(out_dir)
    runner = PointRunner(clip, PointStore(out / "points.jsonl"), options.force, log)
    points = []
    nrff = NrffCodec(options.preset, options.device, options.iterations, options.jobs, progress)
    nrff_points = [runner.run(nrff, q) for q in sorted(set(options.qualities))]
    points += nrff_points
    write_results(out, clip, options, points, [])
    for name in options.baselines:
        codec = X26x(name, options.baseline_preset)
        if options.crfs is not None or not nrff_points:
            crfs = sorted(set(options.crfs if options.crfs is not None else DEFAULT_CRFS))
            points += [runner.run(codec, crf) for crf in crfs]
        else:
            points += crf_sweep(runner, codec, nrff_points)
        write_results(out, clip, options, points, [])
    bd = bd_rates(points, list(options.baselines))
    write_results(out, clip, options, points, bd)
    plot_rd(points, clip, out / "rd.png", out / "rd.svg")
    return SweepResult(points, bd, out)
