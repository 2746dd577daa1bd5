"""Progress bars on stderr (tqdm) that the library's progress callbacks drive; silent under -q."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


class Bar:
    """A tqdm bar over a count of `unit`s with one ETA; usable as an nrffcodec progress callback.

    The total may change while the count runs (an encode's steps become exact once the pilot has
    chosen the GOP length). The bar closes itself when the count reaches the total, so that it is
    printed once, complete, before whatever the command says next; log lines go through `write`,
    which prints them above the bar instead of onto it.
    """

    def __init__(self, quiet: bool, desc: str, unit: str = "step") -> None:
        self.quiet, self.desc, self.unit, self._bar = quiet, desc, unit, None

    def __call__(self, done: int, total: int, info: str) -> None:
        if self.quiet or (self._bar is None and done >= total):  # nothing left to show
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True)
        self._bar.total = total
        self._bar.set_postfix_str(info, refresh=False)  # replaced on every call: no stage's text lingers
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

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


STAGE_UNITS = {"keyframes": "frame", "verifying": "GOP"}


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
