"""--bitrate: the least keyframe QP (the best picture) whose file's video fits a target size, found by
encoding (decision 0079).

Each trial is an ordinary encode at one keyframe QP, the file `--keyframe-qp QP` would write. The
first trial runs the pilot, which chooses the GOP length; the others hold that length, so where it
is 1 (the keyframe codec codes every frame) a trial is the keyframe chain alone. The file's bytes
fall by 4-11% a QP step (decision 0077): a secant in log bytes over the QP, kept inside what the
trials so far have settled, finds the QP in a few trials.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from ..settings import KEYFRAME_QP_MAX, KEYFRAME_QP_MIN, EncodeSettings
from .report import EncodeReport

# Log bytes per QP step until two trials measure it: the middle of decision 0077's 4.4-10.6%.
ASSUMED_STEP = math.log(1.07)
MAX_TRIALS = 8  # a bound for a curve that is far from the model; a secant needs 3-5

Log = Callable[[str], None]
TrialEncode = Callable[[EncodeSettings, Path], EncodeReport]  # settings -> the report of the file written


@dataclasses.dataclass(frozen=True)
class RateTrial:
    """One trial encode: its keyframe QP (AV1 scale, as --keyframe-qp takes it) and its video bytes."""

    qp: int
    bytes: int


def target_bytes(bitrate: float, frames: int, fps: Fraction) -> int:
    """The most video bytes `frames` frames at `fps` may have at `bitrate` bits per second."""
    return math.floor(Fraction(bitrate) * frames / Fraction(fps) / 8)


def settled(trials: Sequence[RateTrial], target: int) -> tuple[int, int]:
    """(least QP that may still fit, least QP known to fit, or one past the scale's top): the answer lies
    between them, taking bytes never to grow with the QP."""
    low = max((t.qp for t in trials if t.bytes > target), default=KEYFRAME_QP_MIN - 1) + 1
    high = min((t.qp for t in trials if t.bytes <= target), default=KEYFRAME_QP_MAX + 1)
    return low, high


def log_slope(a: RateTrial, b: RateTrial) -> float | None:
    """How much log bytes fall per QP step from `a` to `b`, where they fall at all."""
    if a.qp == b.qp or a.bytes == b.bytes:
        return None
    slope = (math.log(a.bytes) - math.log(b.bytes)) / (b.qp - a.qp)
    return slope if slope > 0 else None


def estimate_qp(trials: Sequence[RateTrial], target: int) -> float:
    """The QP at which the file would have `target` bytes: between the nearest trials on either side
    of it, else from the trial nearest to it at the slope the trials measure (ASSUMED_STEP before two)."""
    over = [t for t in trials if t.bytes > target]
    fits = [t for t in trials if t.bytes <= target]
    if over and fits:
        a, b = max(over, key=lambda t: t.qp), min(fits, key=lambda t: t.qp)
        slope = log_slope(a, b)
        if slope is None:
            return (a.qp + b.qp) / 2
        return a.qp + (math.log(a.bytes) - math.log(target)) / slope
    near = sorted(trials, key=lambda t: abs(math.log(t.bytes) - math.log(target)))
    slope = (log_slope(*sorted(near[:2], key=lambda t: t.qp)) if len(near) > 1 else None) or ASSUMED_STEP
    return near[0].qp + (math.log(near[0].bytes) - math.log(target)) / slope


def next_qp(trials: Sequence[RateTrial], target: int) -> int | None:
    """The QP to try next, or None once the trials settle the least QP that fits (or that none does)."""
    low, high = settled(trials, target)
    if low >= high or low > KEYFRAME_QP_MAX or len(trials) >= MAX_TRIALS:
        return None
    top = min(high - 1, KEYFRAME_QP_MAX)  # the untried QPs that may be the answer: low..top
    return min(max(math.ceil(estimate_qp(trials, target) - 1e-9), low), top)


def answer(trials: Sequence[RateTrial], target: int) -> RateTrial:
    """The trial to keep: the least QP that fits, else (nothing fits) the fewest bytes."""
    fits = [t for t in trials if t.bytes <= target]
    if fits:
        return min(fits, key=lambda t: t.qp)
    return min(trials, key=lambda t: (t.bytes, -t.qp))


def encode_at_rate(encode: TrialEncode, settings: EncodeSettings, path: Path, target: int, log: Log) -> EncodeReport:
    """Write to `path` the trial file of the least QP whose video has at most `target` bytes (the
    fewest bytes where none does, with a note); its report, with the search's trials and times."""
    started = time.perf_counter()
    held = dataclasses.replace(settings, bitrate=None)
    reports: dict[int, EncodeReport] = {}
    trials: list[RateTrial] = []

    def trial_path(qp: int) -> Path:
        return path.with_name(f"{path.name}.qp{qp}")

    qp: int | None = settings.rung.keyframe_qp
    log(f"--bitrate: the least keyframe QP whose video fits {target:,} bytes, starting at QP {qp}")
    while qp is not None:
        report = encode(dataclasses.replace(held, keyframe_qp=qp), trial_path(qp))
        if not trials and held.gop is None:
            held = dataclasses.replace(held, gop=report.gop_length)
            log(f"--bitrate: the trials that follow hold GOP length {report.gop_length}, the pilot's choice")
        trials.append(RateTrial(qp, report.bytes))
        reports[qp] = report
        kept = answer(trials, target)
        verdict = "fits" if report.bytes <= target else "over"
        log(f"--bitrate: QP {qp}: {report.bytes:,} bytes, {verdict} (target {target:,})")
        for other in reports.keys() - {kept.qp, qp}:
            trial_path(other).unlink(missing_ok=True)
        if qp != kept.qp:
            trial_path(qp).unlink(missing_ok=True)
        qp = next_qp(trials, target)
    kept = answer(trials, target)
    os.replace(trial_path(kept.qp), path)
    chosen = reports[kept.qp]
    notes = list(chosen.notes)
    if kept.bytes > target:
        notes.append(
            f"--bitrate asks for at most {target:,} bytes of video; the smallest file, at keyframe QP {kept.qp}, "
            f"has {kept.bytes:,}"
        )
    return dataclasses.replace(
        chosen,
        seconds=time.perf_counter() - started,
        pilot_seconds=sum(r.pilot_seconds for r in reports.values()),
        train_seconds=sum(r.train_seconds for r in reports.values()),
        notes=notes,
        target_bytes=target,
        rate_trials=tuple((t.qp, t.bytes) for t in trials),
    )
