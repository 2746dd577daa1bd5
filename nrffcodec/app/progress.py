"""Progress on stderr that the library's progress callbacks drive: a tqdm bar on a terminal, plain
lines now and then where stderr is a file or a pipe (a batch job's log); silent under -q."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import click

from ..core.units import duration

# Where stderr is not a terminal, a progress line this often: a bar redrawn ten times a second with
# carriage returns would fill a long encode's log with megabytes of one unreadable line.
LINE_INTERVAL_S = 30.0


class LineProgress:
    """The part of tqdm's interface Bar uses, for a stderr that is not a terminal: a line such as
    `training: 1,200/3,240 steps (37%), 2 min 10 s, ETA 3 min 40 s: INFO` every `interval` seconds,
    and one when the count completes; nothing at a close before then (an error's line stays alone)."""

    def __init__(
        self,
        desc: str,
        unit: str,
        total: int,
        interval: float = LINE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc, self.unit, self.total, self.n, self.postfix = desc, unit, total, 0, ""
        self._interval, self._clock = interval, clock
        self._started = self._printed = clock()
        self._closed = False

    def set_postfix_str(self, info: str, refresh: bool = False) -> None:
        self.postfix = info

    def update(self, count: int) -> None:
        self.n += count
        now = self._clock()
        if self.n < self.total and now - self._printed >= self._interval:
            self._printed = now
            elapsed = now - self._started
            eta = f", ETA {duration(elapsed * (self.total - self.n) / self.n)}" if self.n > 0 else ""
            info = f": {self.postfix}" if self.postfix else ""
            click.echo(
                f"{self.desc}: {self.n:,}/{self.total:,} {self.unit}s ({100 * self.n // max(self.total, 1)}%), "
                f"{duration(elapsed)}{eta}{info}",
                err=True,
            )

    def write(self, text: str, file: object = None) -> None:
        click.echo(text, err=True)

    def close(self) -> None:
        if not self._closed and self.n >= self.total > 0:
            click.echo(
                f"{self.desc}: {self.n:,}/{self.total:,} {self.unit}s in {duration(self._clock() - self._started)}",
                err=True,
            )
        self._closed = True


class Bar:
    """A tqdm bar over a count of `unit`s with one ETA (LineProgress's lines where stderr is not a
    terminal); usable as an nrffcodec progress callback.

    The total may change while the count runs (an encode's steps become exact once the pilot has
    chosen the GOP length). The bar closes itself when the count reaches the total, so that it is
    printed once, complete, before whatever the command says next; log lines go through `write`,
    which prints them above the bar instead of onto it.
    """

    def __init__(self, quiet: bool, desc: str, unit: str = "step", terminal: bool | None = None) -> None:
        """`terminal`: draw a bar (True) or print lines (False); None: a bar where stderr is a terminal."""
        self.quiet, self.desc, self.unit, self._bar = quiet, desc, unit, None
        self.terminal = terminal

    def __call__(self, done: int, total: int, info: str) -> None:
        if self.quiet or (self._bar is None and done >= total):  # nothing left to show
            return
        if self._bar is None:
            self._bar = self._open(total)
        self._bar.total = total
        self._bar.set_postfix_str(info, refresh=False)  # replaced on every call: no stage's text lingers
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

    def _open(self, total: int):  # tqdm or LineProgress
        terminal = sys.stderr.isatty() if self.terminal is None else self.terminal
        if not terminal:
            return LineProgress(self.desc, self.unit, total)
        from tqdm import tqdm

        return tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True)

    def write(self, text: str) -> None:
        """A log line on its own line, the bar redrawn below it."""
        if self.quiet:
            return
        if self._bar is None:
            click.echo(text, err=True)
        else:
            self._bar.write(text, file=sys.stderr)

    def log(self, text: str) -> None:
        """The library's log callback: `nrff: TEXT` on its own line."""
        self.write(f"nrff: {text}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


STAGE_UNITS = {"keyframes": "frame", "verifying": "GOP", "statistics": "GOP"}


def stage_bars(quiet: bool) -> Callable[[str], Bar]:
    """An encode's `stages`: a bar of its own for each long stage after training (encode_video)."""
    return lambda stage: Bar(quiet, stage, STAGE_UNITS.get(stage, "step"))


class PointBars:
    """A fresh bar for each nrff point of a sweep (each encode's count starts from zero)."""

    def __init__(self, quiet: bool) -> None:
        self.bar = Bar(quiet, "training")

    def __call__(self, done: int, total: int, info: str) -> None:
        if done == 0:
            self.bar.close()
        self.bar(done, total, info)

    def log(self, text: str) -> None:
        self.bar.log(text)

    def close(self) -> None:
        self.bar.close()
