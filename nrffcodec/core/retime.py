"""Decoding at another frame rate: which instants the output holds, and the rate a user asks for.

Output frame j is at time j / fps. The output holds the frames whose instant lies in the decoded
span [start / source_fps, end / source_fps), so `--fps 2x` gives 2N frames for N: the last instant,
half a frame after the last source frame, holds that frame (there is nothing after it to move
towards). An instant that falls on a source frame is that frame, decoded as usual; the frames
between are rendered by core.inbetween.
"""

from __future__ import annotations

import dataclasses
import math
import re
from fractions import Fraction

from ..errors import InputError

MAX_FPS = 1000
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\d+/\d+)\s*(x?)\s*$")


@dataclasses.dataclass(frozen=True)
class Rate:
    """A target frame rate: absolute (frames per second) or relative to the file's (`2x`)."""

    value: Fraction
    relative: bool = False
    text: str = dataclasses.field(default="", compare=False)  # as the user wrote it, for messages

    def resolve(self, source_fps: Fraction) -> Fraction:
        fps = self.value * source_fps if self.relative else self.value
        if fps > MAX_FPS:
            raise InputError(f"--fps {self}: {float(fps):g} fps is above the {MAX_FPS} fps nrff decodes to")
        return fps

    def __str__(self) -> str:
        return self.text or f"{self.value}{'x' if self.relative else ''}"


def parse_rate(text: str, option: str = "--fps", factors: bool = True) -> Rate:
    """'60', '29.97', '30000/1001', and where `factors`, '2x', '1.5x' -> Rate; anything else is one-line
    InputError naming `option`."""
    match = _RATE.match(text)
    if not match or (match[2] and not factors):
        like = "60, 29.97, 30000/1001, or a factor like 2x" if factors else "60, 29.97 or 30000/1001"
        raise InputError(f"{option} must be a rate like {like}, got {text!r}")
    number, factor = match.groups()
    num, _, den = number.partition("/")
    if den and int(den) == 0:
        raise InputError(f"{option} {text}: the denominator is zero")
    value = Fraction(int(num), int(den)) if den else Fraction(number)
    if value <= 0:
        raise InputError(f"{option} {text}: the rate must be above zero")
    if not factors and value > MAX_FPS:  # a decode rate is checked once resolved (Rate.resolve)
        raise InputError(f"{option} {text}: above the {MAX_FPS} fps nrff codes")
    return Rate(value, bool(factor), text.strip())


def output_instants(
    start: int, end: int, frame_count: int, source_fps: Fraction, fps: Fraction
) -> tuple[int, list[Fraction]]:
    """(index of the first output frame, each output frame's position in source frames) for source [start, end).

    Positions past the file's last frame hold that frame (they are clamped to frame_count - 1).
    """
    first = math.ceil(start * fps / source_fps)
    stop = math.ceil(end * fps / source_fps)
    step = source_fps / fps
    return first, [min(j * step, Fraction(frame_count - 1)) for j in range(first, stop)]
