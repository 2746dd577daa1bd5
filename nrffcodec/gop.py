"""GOP planning: which frames form each group, which is its keyframe, which keyframes it warps from."""
from __future__ import annotations

import dataclasses


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


def reference_gops(count: int, index: int) -> tuple[int, int, int]:
    """(previous, own, next) GOP indices whose keyframes GOP `index` of `count` warps from, clamped at the ends."""
    return max(index - 1, 0), index, min(index + 1, count - 1)


def gops_needed(gops: list[Gop], start: int, end: int) -> list[int]:
    """GOPs holding frames [start, end), plus the neighbours whose keyframes they warp from."""
    direct = [g.index for g in gops if g.first < end and g.end > start]
    needed = set(direct)
    for i in direct:
        needed.update(j for j in (i - 1, i + 1) if 0 <= j < len(gops))
    return sorted(needed)
