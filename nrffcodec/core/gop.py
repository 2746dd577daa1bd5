"""GOP planning: which frames form each group, which is its keyframe, which keyframes it warps from."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..errors import InputError


@dataclasses.dataclass(frozen=True)
class Gop:
    """Frames [first, first + count) with the keyframe at `first + key_offset` (the middle frame)."""

    index: int
    first: int
    count: int
    key_offset: int

    @property
    def key(self) -> int:
        return self.first + self.key_offset

    @property
    def end(self) -> int:
        return self.first + self.count

    @property
    def predicted(self) -> list[int]:
        """Absolute indices of the frames the networks reconstruct (all but the keyframe)."""
        return [t for t in range(self.first, self.end) if t != self.key]


def plan_gops(frame_count: int, gop_length: int) -> list[Gop]:
    """Cut `frame_count` frames into round(frame_count / gop_length) GOPs of near-equal size.

    Equal sizes (they differ by at most one frame) keep every keyframe serving about the same
    number of frames instead of leaving a 1- or 2-frame remainder GOP that pays a whole keyframe.
    """
    if frame_count < 1:
        raise ValueError("no frames to plan")
    if gop_length < 1:
        raise ValueError("GOP length must be at least 1")
    count = max(1, round(frame_count / gop_length))
    base, extra = divmod(frame_count, count)
    gops, first = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        gops.append(Gop(i, first, size, size // 2))
        first += size
    return gops


def gop_sizes(frame_count: int, gop_count: int) -> str:
    """How many frames plan_gops puts in each of `gop_count` GOPs: '33 frames', '1 frame', '10-11 frames'.

    The log says this rather than the GOP length asked for, which a short clip does not fill
    (GOP length 32 over 12 frames is one GOP of 12)."""
    base, extra = divmod(frame_count, gop_count)
    if not extra:
        return f"{base} frame{'s' * (base != 1)}"
    return f"{base}-{base + 1} frames"


def reference_gops(count: int, index: int) -> tuple[int, int, int]:
    """(previous, own, next) GOP indices whose keyframes GOP `index` of `count` warps from, clamped at the ends."""
    return max(index - 1, 0), index, min(index + 1, count - 1)


def gops_covering(gops: Sequence[Gop], start: int, end: int) -> list[Gop]:
    """The GOPs holding frames [start, end)."""
    return [g for g in gops if g.first < end and g.end > start]


def gops_needed(gops: Sequence[Gop], start: int, end: int) -> list[int]:
    """Indices of the GOPs holding frames [start, end), plus the neighbours whose keyframes they warp from."""
    needed = set()
    for gop in gops_covering(gops, start, end):
        needed.update(reference_gops(len(gops), gop.index))
    return sorted(needed)


def frame_span(frames: tuple[int, int | None] | None, frame_count: int) -> tuple[int, int]:
    """--frames START:END of a video of `frame_count` frames as [start, end), END clamped to the video."""
    start, end = frames if frames else (0, None)
    if start >= frame_count:
        raise InputError(f"--frames {start}:{'' if end is None else end} is outside the file's {frame_count} frames")
    return start, frame_count if end is None else min(end, frame_count)
