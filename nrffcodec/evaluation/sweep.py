"""Rate-distortion sweep: nrff at several qualities against x264/x265/SVT-AV1 over a CRF sweep, on the same
source frames, every point scored by the same metrics on decoded frames.

A point is one (codec, setting). Finished points are appended to DIR/points.jsonl as they finish,
keyed by everything that changes their output (codec, setting, preset, frames, a hash of the
source frames), so an interrupted or repeated sweep reuses them. DIR/results.json and .csv hold
the points of the current run, the BD-rates and the versions; DIR/rd.png and rd.svg the curves;
DIR/compare.png one frame of every codec side by side.
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
from ..encoder.runner import Runner
from ..errors import InputError, OutputError
from ..media.files import atomic_output
from ..settings import QUALITY_LADDER, EncodeSettings
from ..version import encoder_digest
from . import machine
from .anchors import BASELINES, CRF_STEP, DEFAULT_CRFS, METRICS, MIN_POINTS, crf_sweep, make_baselines
from .baselines import Codec, Coded
from .bdrate import bd_rate, overlap
from .points import Clip, PointRunner, PointStore

Log = Callable[[str], None]

DEFAULT_QUALITIES = (1, 3, 5, 7)
METRIC_LABELS = {"psnr_rgb": "PSNR-RGB", "psnr_yuv": "PSNR-YUV420"}
CSV_COLUMNS = (
    "label",
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
    baseline_presets: tuple[tuple[str, str], ...] = ()  # (codec, preset) pairs; parse_presets; default per codec
    crfs: tuple[int, ...] | None = None  # None: chosen to cover nrff's range
    device: str = "auto"
    iterations: int | None = None
    jobs: int | None = None
    force: bool = False
    floor: bool = False  # also sweep nrff at GOP length 1 (the keyframe codec alone), curve "nrff gop1"

    def __post_init__(self) -> None:
        bad = [q for q in self.qualities if q not in QUALITY_LADDER]
        if bad:
            raise InputError(f"--qualities must be in {min(QUALITY_LADDER)}..{max(QUALITY_LADDER)}, got {bad}")
        self.baseline_codecs()  # validates names, presets and CRFs
        if not self.qualities and not self.baselines:
            raise InputError("nothing to sweep: give --qualities or --baselines")
        EncodeSettings(preset=self.preset, iterations=self.iterations, jobs=self.jobs)  # validates

    def baseline_codecs(self) -> list[Codec]:
        return make_baselines(self.baselines, self.baseline_presets, self.crfs, self.preset)

    def anchor_labels(self) -> list[str]:
        """The baselines' curve names ('x264', 'svtav1 p4', ...), in the order they run."""
        return [c.label for c in self.baseline_codecs()]


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
        gop: int | None = None,
        gop_runner: Runner | None = None,
    ) -> None:
        self.preset, self.device, self.iterations, self.jobs = preset, resolve_device(device), iterations, jobs
        self.progress, self.gop = progress, gop
        self.gop_runner = gop_runner  # where each point's GOPs train (nrff sweep --ray: a Ray cluster)

    @property
    def label(self) -> str:
        """'nrff', or 'nrff gop1' for the keyframe codec alone (the floor the pilot may fall back to)."""
        return "nrff" if self.gop is None else f"nrff gop{self.gop}"

    def settings(self, quality: int) -> EncodeSettings:
        return EncodeSettings(
            quality=quality,
            preset=self.preset,
            device=self.device,
            iterations=self.iterations,
            jobs=self.jobs,
            gop=self.gop,
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
        data, report = encode_video(video, self.settings(quality), self.progress, runner=self.gop_runner)
        encode_s = time.perf_counter() - started
        started = time.perf_counter()
        decoded = decode(data, device=self.device)
        decode_s = time.perf_counter() - started
        versions = {k: v for k, v in machine.versions().items() if k in ("nrff", "torch", "numpy")}
        detail = {
            "keyframe_bytes": report.keyframe_bytes,
            "network_bytes": report.network_bytes,
            "pilot_s": round(report.pilot_seconds, 3),
            "train_s": round(report.train_seconds, 3),
            "gops": report.gops,
            "gop_length": report.gop_length,
            "device": report.device,
        }
        return Coded(data, decoded, encode_s, decode_s, versions, detail)

    def decode(self, stored: bytes, like: Video) -> Video:
        return decode(stored, device=self.device)


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


# ---------------------------------------------------------------- BD-rate and outputs


def curve_of(point: dict) -> str:
    """The curve a point belongs to (points written before SVT-AV1 joined have no label)."""
    return point.get("label") or point["codec"]


def bd_rates(points: Sequence[dict], anchors: Sequence[str]) -> list[dict]:
    """nrff (and its GOP-1 floor when swept) against each anchor, and each later anchor against the first
    (a check of the anchors)."""
    by_codec: dict[str, list[dict]] = {}
    for p in points:
        by_codec.setdefault(curve_of(p), []).append(p)
    tests = [name for name in ("nrff", "nrff gop1") if name in by_codec] or ["nrff"]
    pairs = [(t, a) for t in tests for a in anchors] + [(b, anchors[0]) for b in anchors[1:]]
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
    codecs = options.baseline_codecs()
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
            else "per codec ("
            + ", ".join(f"{c.label}: from {c.crf_start} within {c.crf_range[0]}..{c.crf_range[1]}" for c in codecs)
            + f") in steps of {CRF_STEP} until the lowest and highest-rate points reach past nrff's in bpp, PSNR-RGB "
            f"and "
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
    gop_runner: Runner | None = None,
) -> SweepResult:
    """Run (or reuse) every point, then write results.json/.csv and rd.png/.svg into out_dir.

    `gop_runner` trains the GOPs of nrff's points (default: processes of this machine)."""
    from .compare import write_compare  # matplotlib is imported only when there is something to draw
    from .plots import plot_rd

    log = log or (lambda text: None)
    out = prepare_out_dir(out_dir)
    runner = PointRunner(clip, PointStore(out / "points.jsonl"), options.force, log)
    points = []
    nrff = NrffCodec(options.preset, options.device, options.iterations, options.jobs, progress, gop_runner=gop_runner)
    nrff_points = [runner.run(nrff, q) for q in sorted(set(options.qualities))]
    points += nrff_points
    if options.floor:
        floor = NrffCodec(
            options.preset, options.device, options.iterations, options.jobs, progress, gop=1, gop_runner=gop_runner
        )
        points += [runner.run(floor, q) for q in sorted(set(options.qualities))]
    write_results(out, clip, options, points, [])
    for codec in options.baseline_codecs():
        if options.crfs is not None or not nrff_points:
            crfs = sorted(set(options.crfs if options.crfs is not None else DEFAULT_CRFS[codec.name]))
            points += [runner.run(codec, crf) for crf in crfs]
        else:
            points += crf_sweep(runner, codec, nrff_points)
        write_results(out, clip, options, points, [])
    bd = bd_rates(points, options.anchor_labels())
    write_results(out, clip, options, points, bd)
    plot_rd(points, clip, out / "rd.png", out / "rd.svg", bd)
    codecs = {"nrff": nrff, **{c.label: c for c in options.baseline_codecs()}}
    write_compare(points, clip, out, out / "compare.png", codecs, log)
    return SweepResult(points, bd, out)
