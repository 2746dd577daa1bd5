"""The GOP length of each clip, chosen by rate-distortion cost on a short pilot encode.

Why: one GOP length per --quality, tuned on carphone, was 3-4 dB wrong on a static-camera clip
(vtest: its predicted keyframes are almost free, so short GOPs cost little and fix the frames the
networks could not) and right on a talking head. The pilot codes the keyframes of a window of the
clip at each candidate length (real bytes, real decoded quality), trains the window's middle GOP
of each length at a fraction of the preset's steps, and the encoder keeps the length with the
lowest D + lambda * R, lambda being the rung's slope.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from .gop import Gop
from .train import Schedule

# Longest first: ties go to the longer GOP (fewer, cheaper networks). No 3: on bikes at quality 7 the
# pilot measured GOP 3 (quarter-width networks) at 32.52 dB against GOP 4's 33.68 for the same bytes
# per frame, and as the shortest of its round it ended the descent before GOP 2 was measured.
GOP_CANDIDATES = (32, 16, 8, 4, 2)
PILOT_ROUND = 2  # candidates measured side by side (two CPU workers train them at once)
PILOT_WINDOW = 64  # frames from the clip's start that the pilot codes
PILOT_FRACTION = 0.25  # of the preset's training steps
# The descent goes on while the round's shortest length costs at most this much above the best so far.
# The cost is not convex in the length: networks narrow at 4 and again at 2 frames, and at a quarter of
# the steps one GOP's network is noisy. bikes (random-access keyframes) at quality 5: GOP 4 +0.6% over 8,
# and 2 was never measured; at quality 7 GOP 4 +7.0% over 8, then GOP 2 3.9% below 8 (docs/ablations.md).
PILOT_TOLERANCE = 0.15


def rd_lambda(keyframe_qp: float) -> float:
    """Distortion (RGB squared error in 8-bit units, summed over pixels) worth one bit at a rung.

    The H.26x lambda-QP law 2^(QP / 3) at the HEVC QP equivalent to the rung's AV1 keyframe QP
    (settings.Rung.keyframe_qp_for): it matches the slope of nrff's own carphone ladder (about
    2,500 between qualities 1 and 3, 790 between 3 and 5; the law gives 2,500 and 720).
    """
    return 2.0 ** ((0.45 * keyframe_qp + 10.5) / 3.0)


def candidates_up_to(longest: int) -> tuple[int, ...]:
    """The candidate lengths a rung whose GOP is `longest` may choose from (at least `longest`)."""
    return tuple(g for g in GOP_CANDIDATES if g <= longest) or (longest,)


@dataclasses.dataclass(frozen=True)
class PilotMeasure:
    """What the pilot measured for one GOP length on the window."""

    gop_length: int
    gops: Sequence[Gop]  # the window's plan at this length
    keyframe_bytes: int  # every keyframe of the window, parameter sets included
    keyframe_sse: float  # squared error of the decoded keyframes, summed over their pixels
    network_bytes: int  # the coded networks of the one GOP trained
    network_mse: float  # per-pixel squared error of that GOP's predicted frames

    def bits(self) -> float:
        trained = sum(1 for g in self.gops if g.predicted)
        return 8.0 * (self.keyframe_bytes + self.network_bytes * trained)

    def distortion(self, pixels_per_frame: int) -> float:
        predicted = sum(len(g.predicted) for g in self.gops)
        return self.keyframe_sse + self.network_mse * pixels_per_frame * predicted

    def cost(self, lam: float, pixels_per_frame: int) -> float:
        return self.distortion(pixels_per_frame) + lam * self.bits()


def choose(measures: Sequence[PilotMeasure], lam: float, pixels_per_frame: int) -> PilotMeasure:
    """The measure of least D + lambda R; the longer GOP on a tie."""
    if not measures:
        raise ValueError("no pilot measures to choose from")
    return min(measures, key=lambda m: (m.cost(lam, pixels_per_frame), -m.gop_length))


def pilot_rounds(candidates: Sequence[int], size: int = PILOT_ROUND) -> list[list[int]]:
    """Candidates (longest first) in rounds of `size`, the order the pilot measures them in."""
    return [list(candidates[i:i + size]) for i in range(0, len(candidates), size)]


def keep_descending(measures: Sequence[PilotMeasure], best: PilotMeasure, lam: float, pixels_per_frame: int
                    ) -> bool:
    """Measure shorter GOPs only while the shortest measured so far is the cheapest or nearly (PILOT_TOLERANCE).

    D + lambda R mostly falls and then rises as the GOP shortens (keyframe bytes grow, predicted
    frames get closer to one), so once a longer length clearly wins, shorter ones are not worth
    their pilot time: a talking head settles at the first round, a handheld clip goes on to GOP 2.
    """
    shortest = min(measures, key=lambda m: m.gop_length)
    return shortest.cost(lam, pixels_per_frame) <= best.cost(lam, pixels_per_frame) * (1.0 + PILOT_TOLERANCE)


def descending_search(candidates: Sequence[int], measure_round: Callable[[Sequence[int]], list[PilotMeasure]],
                      lam: float, pixels_per_frame: int) -> tuple[PilotMeasure, list[PilotMeasure]]:
    """(the cheapest measure, every measure taken): rounds of candidates, longest first, while keep_descending."""
    if not candidates:
        raise ValueError("no GOP lengths to search")
    measures: list[PilotMeasure] = []
    for lengths in pilot_rounds(candidates):
        measures += measure_round(lengths)
        best = choose(measures, lam, pixels_per_frame)
        if not keep_descending(measures, best, lam, pixels_per_frame):
            break
    return best, measures


def distinct_plans(candidates: Sequence[int], plan: dict[int, Sequence[Gop]]) -> list[int]:
    """Candidates whose GOP plans differ (on a short window several lengths give the same plan)."""
    seen, out = set(), []
    for g in candidates:
        key = tuple((x.first, x.count) for x in plan[g])
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def pilot_gop(gops: Sequence[Gop]) -> Gop:
    """The GOP holding the window's middle frame: away from the window's edges, whose GOPs lack a neighbour."""
    middle = gops[-1].end // 2
    return next(g for g in gops if g.first <= middle < g.end)


def pilot_schedule(schedule: Schedule) -> Schedule:
    """The preset's schedule at PILOT_FRACTION of its steps (all candidates get the same fraction)."""
    if schedule.fixed_steps is not None:
        return dataclasses.replace(schedule, fixed_steps=max(1, math.ceil(schedule.fixed_steps * PILOT_FRACTION)))
    return dataclasses.replace(schedule, base_steps=round(schedule.base_steps * PILOT_FRACTION),
                               steps_per_frame=round(schedule.steps_per_frame * PILOT_FRACTION))
