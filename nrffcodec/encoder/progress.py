"""Training progress: steps counted over an encode's pilot and every GOP, so that one bar has one ETA.

train_gop counts its steps with a StepTicker and hands them on every REPORT_SECONDS; a Runner
passes each task's counts to an OnSteps callback (from worker processes through a queue);
StepCount adds them up against a total that is exact for the tasks under way plus an estimate of
the encode still to come, and drives the caller's Progress callback. Counting never touches the
training's numbers: only time.monotonic() and integers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..core.gop import Gop
from ..settings import Schedule

Progress = Callable[[int, int, str], None]  # (done, total, what is happening)
OnSteps = Callable[[int, int], None]  # (position in the task list, steps newly done)
StageProgress = Callable[[str], Progress]  # a stage's name ("keyframes", "verifying") -> the callback its count drives
REPORT_SECONDS = 0.25  # a GOP reports its steps at most this often


class StepTicker:
    """One task's steps, handed to `report` at most every REPORT_SECONDS and when flushed."""

    def __init__(self, report: Callable[[int], None] | None) -> None:
        self.report, self.pending, self.last = report, 0, time.monotonic()

    def __call__(self) -> None:
        """One more step done."""
        if self.report is None:
            return
        self.pending += 1
        if time.monotonic() - self.last >= REPORT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.report is not None and self.pending:
            self.report(self.pending)
            self.pending = 0
        self.last = time.monotonic()


def gop_steps(gop: Gop, schedule: Schedule, pixels: int) -> int:
    """Optimizer steps of training one GOP (both phases; 0 for a GOP with no frame to predict)."""
    return sum(schedule.steps(len(gop.predicted), pixels)) if gop.predicted else 0


def plan_steps(gops: Sequence[Gop], schedule: Schedule, pixels: int) -> int:
    """Optimizer steps of training every GOP of a plan that has frames to predict."""
    return sum(gop_steps(g, schedule, pixels) for g in gops)


class StepCount:
    """Steps done over a whole encode as one count for a Progress callback.

    Each batch of tasks (a pilot round, then the encode's GOPs) adds its exact steps to the total,
    with `later`, the steps expected after it (the encode at the best GOP length so far). A task's
    reports count up to one step short of its size and its result completes it, so the count
    reaches the total with the last result, and reports that arrive late or twice (a retried GOP)
    change nothing.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = self.total = self.later = 0
        self.sizes: list[int] = []
        self.counted: list[int] = []
        self.label = ""

    def begin(self, sizes: Sequence[int], label: str, later: int = 0) -> None:
        """Start counting tasks of `sizes` steps (train.task_steps); `label` says what they are until one finishes."""
        self.sizes = list(sizes)
        self.counted = [0] * len(sizes)
        self.label, self.later = label, later
        self.total = self.done + sum(self.sizes) + later
        self._emit(label)

    def expect(self, later: int) -> None:
        """Revise the estimate of the steps after the current batch (redrawn at once: when the pilot
        chooses GOP length 1 nothing is trained after it, and the count is complete here)."""
        if later != self.later:
            self.total += later - self.later
            self.later = later
            self._emit(self.label)

    def steps(self, position: int, count: int) -> None:
        """An OnSteps callback: `count` more steps of task `position`."""
        if self._count(position, count, self.sizes[position] - 1):
            self._emit(self.label)

    def finished(self, position: int, text: str) -> None:
        """Task `position` is done: its remaining steps count, and `text` says how it went."""
        self._count(position, self.sizes[position], self.sizes[position])
        self.label = text
        self._emit(text)

    def _count(self, position: int, count: int, limit: int) -> int:
        add = max(0, min(count, limit - self.counted[position]))
        self.counted[position] += add
        self.done += add
        return add

    def _emit(self, text: str) -> None:
        if self.progress:
            self.progress(self.done, self.total, text)
