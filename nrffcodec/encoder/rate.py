"""--bitrate and --min-psnr: the keyframe QP of the file that meets a goal, found by encoding
(decisions 0079, 0080).

--bitrate asks for the best picture whose video fits a number of bytes: the least QP that fits.
--min-psnr asks for the smallest file whose PSNR-YUV (6:1:1) reaches a floor: the greatest QP that
does. Each trial is an ordinary encode at one keyframe QP, the file `--keyframe-qp QP` would write.
The first trial runs the pilot, which chooses the GOP length; the others hold that length, so where
it is 1 (the keyframe codec codes every frame) a trial is the keyframe chain alone. Bytes fall by
4-11% and PSNR by 0.1-0.5 dB a QP step (decision 0077): a secant in log bytes or in dB along the
log of the quantizer step (0082), kept inside what the trials so far have settled, finds the QP in
a few trials.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from ..core.quantizer import log_steps
from ..core.units import duration
from ..settings import KEYFRAME_QP_MAX, KEYFRAME_QP_MIN, SEARCHED_GOALS, EncodeSettings
from .report import EncodeReport

# What a unit of log quantizer step moves until two trials measure it: decision 0077's middle (7%
# of the bytes and 0.25 dB a QP step) at quality 4's QP 40, where AV1's step grows 7.6% a QP.
ASSUMED_LOG_BYTES_SLOPE = math.log(1.07) / math.log(1.076)
ASSUMED_PSNR_SLOPE = 0.25 / math.log(1.076)  # dB
MAX_TRIALS = 8  # a bound for a curve far from the model; a secant needs 2-6

Log = Callable[[str], None]
TrialEncode = Callable[[EncodeSettings, Path], EncodeReport]  # settings -> the report of the file written


@dataclasses.dataclass(frozen=True)
class RateTrial:
    """One trial encode: its keyframe QP (AV1 scale, as --keyframe-qp takes it), video bytes, PSNR-YUV
    and PSNR-RGB (nan where not measured)."""

    qp: int
    bytes: int
    psnr_yuv: float
    psnr_rgb: float = math.nan


@dataclasses.dataclass(frozen=True)
class Goal:
    """What the file must meet: at most `max_bytes` of video, or at least `min_psnr` dB PSNR-YUV
    (PSNR-RGB with `rgb`).

    The search sees either as a value that falls along a position, and looks for the least position
    whose value is at most the limit: log bytes along the QP, or minus the PSNR along the QP
    counted from the top (the greatest QP that reaches the floor is the least position)."""

    max_bytes: int | None = None
    min_psnr: float | None = None
    rgb: bool = False

    def __post_init__(self) -> None:
        if (self.max_bytes is None) == (self.min_psnr is None):
            raise ValueError("a goal is a number of bytes or a PSNR, one of them")

    @property
    def option(self) -> str:
        """The command-line option that sets this goal."""
        return "--bitrate" if self.max_bytes is not None else "--min-psnr-rgb" if self.rgb else "--min-psnr"

    @property
    def metric(self) -> str:
        return "PSNR-RGB" if self.rgb else "PSNR-YUV"

    def psnr(self, trial: RateTrial) -> float:
        return trial.psnr_rgb if self.rgb else trial.psnr_yuv

    def fits(self, trial: RateTrial) -> bool:
        return self.value(trial) <= self.limit

    def position(self, qp: int) -> int:
        return qp if self.max_bytes is not None else KEYFRAME_QP_MAX + KEYFRAME_QP_MIN - qp

    def value(self, trial: RateTrial) -> float:
        return math.log(max(trial.bytes, 1)) if self.max_bytes is not None else -self.psnr(trial)

    @property
    def limit(self) -> float:
        return math.log(max(self.max_bytes, 1)) if self.max_bytes is not None else -float(self.min_psnr or 0.0)

    @property
    def assumed_slope(self) -> float:
        return ASSUMED_LOG_BYTES_SLOPE if self.max_bytes is not None else ASSUMED_PSNR_SLOPE

    def describe(self, trial: RateTrial) -> str:
        if self.max_bytes is not None:
            return f"{trial.bytes:,} bytes, {'fits' if self.fits(trial) else 'over'} (at most {self.max_bytes:,})"
        met = "reaches" if self.fits(trial) else "short of"
        return f"{trial.bytes:,} bytes, {self.metric} {self.psnr(trial):.2f} dB, {met} {self.min_psnr:g} dB"


def target_bytes(bitrate: float, frames: int, fps: Fraction) -> int:
    """The most video bytes `frames` frames at `fps` may have at `bitrate` bits per second."""
    return math.floor(Fraction(bitrate) * frames / Fraction(fps) / 8)


def goal_of(settings: EncodeSettings, frames: int, fps: Fraction) -> Goal | None:
    """The goal settings.bitrate, .min_psnr or .min_psnr_rgb sets for `frames` frames at `fps`; None without one."""
    if settings.bitrate is not None:
        return Goal(max_bytes=target_bytes(settings.bitrate, frames, fps))
    if settings.min_psnr is not None:
        return Goal(min_psnr=settings.min_psnr)
    if settings.min_psnr_rgb is not None:
        return Goal(min_psnr=settings.min_psnr_rgb, rgb=True)
    return None


def settled(trials: Sequence[RateTrial], goal: Goal) -> tuple[int, int]:
    """(least position that may still meet the goal, least position known to, or one past the scale):
    the answer lies between them, taking the value never to grow along the position."""
    low = max((goal.position(t.qp) for t in trials if not goal.fits(t)), default=KEYFRAME_QP_MIN - 1) + 1
    high = min((goal.position(t.qp) for t in trials if goal.fits(t)), default=KEYFRAME_QP_MAX + 1)
    return low, high


def slope(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    """How much the value falls per unit of place from point `a` to point `b`, where it falls at all."""
    if a[0] == b[0] or a[1] == b[1]:
        return None
    fall = (a[1] - b[1]) / (b[0] - a[0])
    return fall if fall > 0 else None


def place(goal: Goal, qp: int, steps: Sequence[float]) -> float:
    """Where a trial at `qp` lies on the axis its value falls along: the log of its quantizer step
    (core.quantizer), counted down from the top for a PSNR floor, as its position is."""
    return steps[qp] if goal.max_bytes is not None else -steps[qp]


def qp_at(step: float, steps: Sequence[float]) -> float:
    """The QP, between two integers, whose log step is `step`: `steps` read backwards, straight
    between two QPs and past the scale's ends at its end's slope."""
    upper = min(max(bisect.bisect_left(steps, step), 1), len(steps) - 1)
    low, high = steps[upper - 1], steps[upper]
    return upper - 1 + (step - low) / (high - low)


def estimate_position(trials: Sequence[RateTrial], goal: Goal, steps: Sequence[float]) -> float:
    """Where the value would meet the limit: between the nearest trials on either side of it, else
    from the trial nearest to it at the slope the trials measure (goal.assumed_slope before two);
    straight along the trials' places (their log quantizer steps), read back as a position."""
    points = [(place(goal, t.qp, steps), goal.value(t)) for t in trials]
    over = [p for p in points if p[1] > goal.limit]
    meets = [p for p in points if p[1] <= goal.limit]
    if over and meets:
        a, b = max(over), min(meets)
        fall = slope(a, b)
        where = (a[0] + b[0]) / 2 if fall is None else a[0] + (a[1] - goal.limit) / fall
    else:
        near = sorted(points, key=lambda p: abs(p[1] - goal.limit))
        fall = (slope(*sorted(near[:2])) if len(near) > 1 else None) or goal.assumed_slope
        where = near[0][0] + (near[0][1] - goal.limit) / fall
    return goal.position(qp_at(where if goal.max_bytes is not None else -where, steps))


def next_qp(trials: Sequence[RateTrial], goal: Goal, steps: Sequence[float]) -> int | None:
    """The QP to try next, or None once the trials settle the QP that meets the goal (or that none does).
    `steps`: the log quantizer step at each QP (core.quantizer.log_steps)."""
    low, high = settled(trials, goal)
    if low >= high or low > KEYFRAME_QP_MAX or len(trials) >= MAX_TRIALS:
        return None
    top = min(high - 1, KEYFRAME_QP_MAX)  # the untried positions that may be the answer: low..top
    position = min(max(math.ceil(estimate_position(trials, goal, steps) - 1e-9), low), top)
    return goal.position(position)  # a position is its own inverse's QP


def encodes_left(trials: Sequence[RateTrial], goal: Goal) -> int:
    """The most trials the search may still make: each settles at least one of the QPs still open."""
    low, high = settled(trials, goal)
    return max(0, min(MAX_TRIALS - len(trials), min(high, KEYFRAME_QP_MAX + 1) - low))


def still_open(trials: Sequence[RateTrial], goal: Goal, each_seconds: float | None = None) -> str:
    """What a trial's log line adds while the search goes on: the QPs that may still be the answer and
    the most encodes left (of about `each_seconds`, where a trial at the held GOP length measured it)."""
    left = encodes_left(trials, goal)
    if not left:
        return ""
    low, high = settled(trials, goal)
    ends = sorted(goal.position(p) for p in (low, min(high, KEYFRAME_QP_MAX)))
    encodes = "1 more encode" if left == 1 else f"at most {left} more encodes"
    each = "" if each_seconds is None else f", about {duration(each_seconds)} each"
    return f"; the answer lies in QP {ends[0]}..{ends[1]}: {encodes}{each}"


def search(
    measure: Callable[[int], RateTrial],
    goal: Goal,
    first: int,
    steps: Sequence[float],
    after: Callable[[Sequence[RateTrial]], None] = lambda trials: None,
) -> list[RateTrial]:
    """The trials of the search for `goal`'s QP, the first at QP `first`: `measure` encodes at a QP (or
    reads a measured curve), `after` sees the trials so far after each. `steps`: as next_qp's."""
    trials: list[RateTrial] = []
    qp: int | None = first
    while qp is not None:
        trials.append(measure(qp))
        after(trials)
        qp = next_qp(trials, goal, steps)
    return trials


def answer(trials: Sequence[RateTrial], goal: Goal) -> RateTrial:
    """The trial to keep: the least position that meets the goal, else (none does) the least value."""
    meets = [t for t in trials if goal.fits(t)]
    if meets:
        return min(meets, key=lambda t: goal.position(t.qp))
    return min(trials, key=lambda t: (goal.value(t), -goal.position(t.qp)))


def encode_to_goal(encode: TrialEncode, settings: EncodeSettings, path: Path, goal: Goal, log: Log) -> EncodeReport:
    """Write to `path` the trial file of the QP that meets `goal` (the closest where none does, with a
    note); its report, with the search's trials and times."""
    started = time.perf_counter()
    held = dataclasses.replace(settings, **dict.fromkeys(SEARCHED_GOALS))  # each trial: its QP, no goal
    reports: dict[int, EncodeReport] = {}
    option = goal.option
    steps = log_steps(settings.keyframe_codec)

    def trial_path(qp: int) -> Path:
        return path.with_name(f"{path.name}.qp{qp}")

    first = settings.rung.keyframe_qp
    log(f"{option}: searching the keyframe QP, starting at {first}")

    def measure(qp: int) -> RateTrial:
        nonlocal held
        report = encode(dataclasses.replace(held, keyframe_qp=qp), trial_path(qp))
        if not reports and held.gop is None:
            held = dataclasses.replace(held, gop=report.gop_length)
            log(f"{option}: the trials that follow hold GOP length {report.gop_length}, the pilot's choice")
        reports[qp] = report
        return RateTrial(qp, report.bytes, report.quality.psnr_yuv, report.quality.psnr_rgb)

    def after(trials: Sequence[RateTrial]) -> None:
        # A first trial that ran the pilot may have done part of its encode there: it times no other.
        timed = len(trials) > 1 or settings.gop is not None
        each = reports[trials[-1].qp].seconds if timed else None
        log(f"{option}: QP {trials[-1].qp}: {goal.describe(trials[-1])}{still_open(trials, goal, each)}")
        kept = answer(trials, goal).qp
        for other in reports.keys() - {kept}:
            trial_path(other).unlink(missing_ok=True)

    trials = search(measure, goal, first, steps, after)
    kept_trial = answer(trials, goal)
    os.replace(trial_path(kept_trial.qp), path)
    chosen = reports[kept_trial.qp]
    notes = list(chosen.notes)
    if not goal.fits(kept_trial):
        notes.append(
            f"{option} not met: the closest file, at keyframe QP {kept_trial.qp}, has {goal.describe(kept_trial)}"
        )
    return dataclasses.replace(
        chosen,
        seconds=time.perf_counter() - started,
        pilot_seconds=sum(r.pilot_seconds for r in reports.values()),
        train_seconds=sum(r.train_seconds for r in reports.values()),
        notes=notes,
        target_bytes=goal.max_bytes,
        min_psnr=None if goal.rgb else goal.min_psnr,
        min_psnr_rgb=goal.min_psnr if goal.rgb else None,
        rate_trials=tuple((t.qp, t.bytes, round(t.psnr_yuv, 4), round(t.psnr_rgb, 4)) for t in trials),
    )
