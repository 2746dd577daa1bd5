"""Progress bars on stderr (tqdm) that the library's progress callbacks drive; silent under -q."""

from __future__ import annotations

import sys


class Bar:
    """A tqdm bar per GOP with ETA, silent under -q; usable as an nrffcodec progress callback."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.quiet, self.desc, self._bar = quiet, desc, None

    def __call__(self, done: int, total: int, info: str) -> None:
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, unit="GOP", file=sys.stderr, dynamic_ncols=True)
        elif total != self._bar.total:  # the GOP-length pilot's GOPs, then the encode's
            self._bar.reset(total=total)
        self._bar.set_postfix_str(info, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class PointBars:
    """A fresh training bar for each nrff point of a sweep (each encode reports from done=0)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int, info: str) -> None:
        if done == 0:
            self.close()
            self.bar = Bar(self.quiet, "training")
        self.bar(done, total, info)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
