"""Stage 3, the GOP length of each clip: the candidate of least D + lambda R on a short pilot encode.

One length per --quality is right for a talking head and dB wrong for a static camera, whose
predicted keyframes are almost free (docs/decisions/). The pilot codes the keyframes of a window
of the clip at each candidate length (real bytes, real decoded quality), trains the window's
middle GOP of each length at a fraction of the preset's steps, and keeps the length with the
lowest D + lambda * R, lambda being the rung's slope (settings.rd_lambda).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence

from bitstream import encoded_networks_size

from ..core.gop import Gop, gop_sizes, plan_gops
from ..core.quality import mse_of, psnr
from ..core.video import FrameSource, Planes, Video
from ..settings import EncodeSettings, Schedule
from .keyframes import CodedKeyframes, code_keyframes, decode_all, keyframe_sse
from .pilot_measure import PilotMeasure, above_floor_curve, give_up_for, other_floor_qp, pilot_psnr
from .plan import EncodePlan, plan_encode
from .progress import StepCount, plan_steps
from .runner import Runner
from .train import GopResult, GopTask, task_steps

PILOT_ROUND = 2  # candidates measured side by side (two CPU workers train them at once)
PILOT_WINDOW = 64  # frames from the clip's start that the pilot codes
PILOT_FRACTION = 0.25  # of the preset's training steps
# The descent goes on while the round's shortest length costs at most this much above the best so far:
# the cost is not convex in the length (networks narrow at 4 and 2 frames; one pilot GOP is noisy).
PILOT_TOLERANCE = 0.15
# Where a length's training stops once it can no longer reach the floor's curve (decision 0084): after
# each fraction of the float steps, when its validation PSNR lies more than the margin (dB) below the
# least its networks need at their bytes then: 1.5 dB more than any pilot GOP measured gained after
# that point on any preset. Their bytes are counted at 90% (fine-tuning moved them by up to 3%).
GIVE_UP_POINTS = ((0.5, 4.7), (0.8, 2.5))
GIVE_UP_BYTES_SHARE = 0.9


def lengths_phrase(lengths: Sequence[int]) -> str:
    """[32] -> 'GOP length 32 lies'; [32, 16, 8] -> 'GOP lengths 32, 16 and 8 lie'."""
    if len(lengths) == 1:
        return f"GOP length {lengths[0]} lies"
    *rest, last = map(str, lengths)
    return f"GOP lengths {', '.join(rest)} and {last} lie"


def length_label(measure: PilotMeasure) -> str:
    """'GOP n', with the frames its GOPs hold where the window does not fill n ('GOP 32 (12 frames)')."""
    sizes = gop_sizes(measure.frames, len(measure.gops))
    return f"GOP {measure.gop_length}" + ("" if sizes == gop_sizes(measure.gop_length, 1) else f" ({sizes})")


def per_frame(measure: PilotMeasure, pixels_per_frame: int) -> str:
    """The log's 'GOP n: bytes a frame, PSNR-RGB' over the measure's window."""
    if measure.given_up:
        reached = psnr(measure.network_mse)
        return f"{length_label(measure)}: {stopped_text(measure.stopped_after, reached, measure.needed_psnr)}"
    rate, quality = measure.bits() / 8 / measure.frames, pilot_psnr(measure, pixels_per_frame)
    return f"{length_label(measure)}: {rate:,.0f} B, {quality:.2f} dB"


def stopped_text(after: float, reached: float, needed: float) -> str:
    """How far short of the floor's curve a length's pilot GOP stopped (decision 0084)."""
    if math.isinf(needed):
        return f"stopped after {after:.0%} of its steps: its keyframes alone lie below the curve"
    return f"stopped after {after:.0%} of its steps at {reached:.2f} dB, where the curve asks {needed:.2f} dB"


def choose(measures: Sequence[PilotMeasure], lam: float, pixels_per_frame: int) -> PilotMeasure:
    """The measure of least D + lambda R; the longer GOP on a tie."""
    if not measures:
        raise ValueError("no pilot measures to choose from")
    return min(measures, key=lambda m: (m.cost(lam, pixels_per_frame), -m.gop_length))


def pilot_rounds(candidates: Sequence[int], size: int = PILOT_ROUND) -> list[list[int]]:
    """Candidates (longest first) in rounds of `size`, the order the pilot measures them in."""
    return [list(candidates[i : i + size]) for i in range(0, len(candidates), size)]


def keep_descending(measures: Sequence[PilotMeasure], best: PilotMeasure, lam: float, pixels_per_frame: int) -> bool:
    """Measure shorter GOPs only while the shortest measured so far is the cheapest or nearly (PILOT_TOLERANCE).

    D + lambda R mostly falls and then rises as the GOP shortens (keyframe bytes grow, predicted
    frames get closer to one), so once a longer length clearly wins, shorter ones are not worth
    their pilot time.
    """
    shortest = min(measures, key=lambda m: m.gop_length)
    return shortest.cost(lam, pixels_per_frame) <= best.cost(lam, pixels_per_frame) * (1.0 + PILOT_TOLERANCE)


def descending_search(
    candidates: Sequence[int],
    measure_round: Callable[[Sequence[int]], list[PilotMeasure]],
    lam: float,
    pixels_per_frame: int,
    worth_more: Callable[[Sequence[PilotMeasure]], bool] = lambda measured: True,
) -> tuple[PilotMeasure, list[PilotMeasure]]:
    """(the cheapest measure, every measure taken): rounds of candidates, longest first, while
    keep_descending and while `worth_more` of the round just measured."""
    if not candidates:
        raise ValueError("no GOP lengths to search")
    measures: list[PilotMeasure] = []
    for lengths in pilot_rounds(candidates):
        measured = measure_round(lengths)
        measures += measured
        best = choose(measures, lam, pixels_per_frame)
        if not keep_descending(measures, best, lam, pixels_per_frame) or not worth_more(measured):
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
    return dataclasses.replace(
        schedule,
        base_steps=round(schedule.base_steps * PILOT_FRACTION),
        steps_per_frame=round(schedule.steps_per_frame * PILOT_FRACTION),
    )


MakeTask = Callable[[Video, EncodePlan, Gop, Mapping[int, Planes], Schedule], GopTask]  # Video: the GOP's frames


def measure_length(
    window: Video, settings: EncodeSettings, length: int, schedule: Schedule, make_task: MakeTask
) -> tuple[EncodePlan, CodedKeyframes, float, GopTask]:
    """Code the window's keyframes at `length`: (plan, the keyframes, their SSE, the pilot GOP's task)."""
    plan = plan_encode(window.frame_count, window.height, window.width, settings, length)
    keyframes = code_keyframes(window, plan, settings.preset)
    decoded = decode_all(keyframes, plan, window.height, window.width)
    gop = pilot_gop(plan.gops)
    task = make_task(window.frames(gop.first, gop.end), plan, gop, decoded, pilot_schedule(schedule))
    return plan, keyframes, keyframe_sse(window, plan.gops, decoded), task


def other_floor(window: Video, settings: EncodeSettings, schedule: Schedule, make_task: MakeTask) -> PilotMeasure:
    """GOP length 1 at other_floor_qp: a second point of the floor's curve."""
    other_qp = other_floor_qp(settings.rung.keyframe_qp)
    plan, keyframes, key_sse, _ = measure_length(
        window, dataclasses.replace(settings, keyframe_qp=other_qp), 1, schedule, make_task
    )
    return keyframes_measure(plan, keyframes, key_sse)


def keyframes_measure(plan: EncodePlan, keyframes: CodedKeyframes, key_sse: float) -> PilotMeasure:
    """The pilot's measure of `plan` before its networks are trained: its keyframes as stored."""
    stored = keyframes.stored_bytes(plan.gops, plan.keyframe_codec)
    return PilotMeasure(plan.gop_length, plan.gops, stored, key_sse, 0, 0.0, plan.keyframe_codec)


def with_give_up(
    task: GopTask, keyframes_only: PilotMeasure, floors: tuple[PilotMeasure, PilotMeasure] | None, pixels: int
) -> GopTask:
    """`task`, told where to stop (GIVE_UP_POINTS) when its length cannot reach the floor's curve."""
    if floors is None:
        return task
    give_up = give_up_for(keyframes_only, *floors, pixels, GIVE_UP_POINTS, GIVE_UP_BYTES_SHARE)
    return dataclasses.replace(task, give_up=give_up)


def with_networks(keyframes_only: PilotMeasure, result: GopResult | None) -> PilotMeasure:
    """The length's measure with its pilot GOP's networks: their bytes and per-pixel squared error (none
    for a GOP with no frame to predict; for one given up, no networks and its error where it stopped)."""
    if result is None:
        return keyframes_only
    if result.given_up:
        return dataclasses.replace(
            keyframes_only,
            network_mse=mse_of(result.train_psnr),
            given_up=True,
            stopped_after=result.stopped_after,
            needed_psnr=result.needed_psnr,
        )
    network_bytes = encoded_networks_size([result.flow, result.residual])
    return dataclasses.replace(keyframes_only, network_bytes=network_bytes, network_mse=mse_of(result.train_psnr))


@dataclasses.dataclass(frozen=True)
class PilotChoice:
    """The GOP length to encode at, and what the pilot measured for it (None without a pilot: --gop, one candidate)."""

    gop_length: int
    chosen: PilotMeasure | None = None
    floor: tuple[PilotMeasure, PilotMeasure] | None = None  # GOP length 1 at the rung's QP and at the other
    lam: float = 0.0
    pixels_per_frame: int = 0
    floor_keyframes: CodedKeyframes | None = None  # the floor's keyframes, where the window is the whole clip

    def keyframes_for(self, plan: EncodePlan) -> CodedKeyframes | None:
        """The keyframes the pilot coded for `plan`, where it coded the floor of this very plan (the
        whole clip at GOP length 1): the encode need not code them again."""
        if self.floor_keyframes is None or self.floor is None or plan.gop_length != 1:
            return None
        return self.floor_keyframes if tuple(self.floor[0].gops) == tuple(plan.gops) else None


def choose_gop_length(
    video: FrameSource,
    settings: EncodeSettings,
    schedule: Schedule,
    runner: Runner,
    make_task: MakeTask,
    steps: StepCount,
    log: Callable[[str], None],
) -> PilotChoice:
    """--gop if given; else the candidate length of least D + lambda R on a pilot.

    Candidates are measured longest first, two at a time, and the search stops at the first round
    whose shortest length costs clearly more than the best (descending_search), or whose lengths all
    lie below the floor's curve (above_floor_curve). Length 1 (the
    keyframe codec alone, nothing trained) is always measured: it is the floor, and costs one
    keyframe encode of the window. `steps` counts the pilot's training, with the encode at the
    best trained length so far as the work still to come.
    """
    plans = {g: plan_gops(min(video.frame_count, PILOT_WINDOW), g) for g in settings.gop_candidates}
    candidates = distinct_plans(settings.gop_candidates, plans)
    if len(candidates) == 1:
        return PilotChoice(candidates[0])
    window = video.reader().frames(0, min(video.frame_count, PILOT_WINDOW))  # all the pilot reads
    started = time.perf_counter()
    log(
        f"choosing the GOP length among {', '.join(map(str, candidates))} frames, longest first: a pilot on "
        f"frames 0-{window.frame_count - 1} at {PILOT_FRACTION:g} of the steps"
    )

    lam, pixels = settings.rd_lambda, video.width * video.height
    seen: list[PilotMeasure] = []  # every round's, for the estimate of the encode still to come
    floor_keyframes: list[CodedKeyframes] = []  # the window at GOP length 1, the rung's QP

    def encode_steps(length: int | None = None) -> int:
        """The encode's training steps at `length`, else at the best length measured with networks so far."""
        trained = [m for m in seen if m.gop_length > 1]  # the floor (GOP 1) trains nothing
        length = length or (choose(trained, lam, pixels).gop_length if trained else candidates[0])
        return plan_steps(plan_gops(video.frame_count, length), schedule, pixels)

    floors: tuple[PilotMeasure, PilotMeasure] | None = None  # GOP length 1 at two QPs, once measured

    def measure_round(lengths: Sequence[int]) -> list[PilotMeasure]:
        pending = [
            (plan, keyframes, keyframes_measure(plan, keyframes, key_sse), task)
            for plan, keyframes, key_sse, task in (
                measure_length(window, settings, length, schedule, make_task) for length in lengths
            )
        ]
        trainable = [
            (plan.gop_length, with_give_up(task, measure, floors, pixels))
            for plan, _, measure, task in pending
            if task.gop.predicted
        ]
        sizes = [task_steps(task) for _, task in trainable]
        steps.begin(sizes, f"pilot: GOP {' and '.join(map(str, lengths))}", encode_steps())

        results: dict[int, GopResult] = {}  # one GOP of the window per length

        def on_result(position: int, result: GopResult) -> None:
            results[position] = result
            if result.given_up:
                how = stopped_text(result.stopped_after, result.train_psnr, result.needed_psnr)
            else:
                how = f"{result.train_psnr:.2f} dB train"
            steps.finished(position, f"pilot: GOP {trainable[position][0]}: {how}")

        runner.run([task for _, task in trainable], on_result, log, steps.steps)
        trained = iter(results[position] for position in range(len(trainable)))
        out = []
        for plan, keyframes, keyframes_only, task in pending:
            out.append(with_networks(keyframes_only, next(trained) if task.gop.predicted else None))
            if plan.gop_length == 1:
                floor_keyframes.append(keyframes)
        seen.extend(out)
        steps.expect(encode_steps())
        return out

    floor = measure_round([1]) if 1 in candidates else []
    if floor:
        floors = (floor[0], other_floor(window, settings, schedule, make_task))

    def above_floor(m: PilotMeasure) -> bool:
        return floors is None or above_floor_curve(m, *floors, pixels)

    # A round of lengths all below the floor's curve ends the descent: the shorter a GOP, the more
    # its networks cost per frame against the keyframe codec's own inter frames (decisions 0053, 0054).
    _, measures = descending_search(
        [c for c in candidates if c != 1], measure_round, lam, pixels, lambda measured: any(map(above_floor, measured))
    )
    eligible = [m for m in measures if above_floor(m)]
    if floors:
        below = sorted({m.gop_length for m in measures} - {m.gop_length for m in eligible}, reverse=True)
        if below:
            log(f"pilot: {lengths_phrase(below)} below the keyframe codec's own curve: not kept")
    measures += floor
    best = choose(eligible + floor, lam, pixels)
    steps.expect(encode_steps(best.gop_length))
    log(
        "pilot (per frame: bytes, PSNR-RGB estimate): "
        + "; ".join(per_frame(m, pixels) for m in measures)
        + f" -> GOP {best.gop_length} (lambda {lam:,.0f}, {time.perf_counter() - started:.0f} s)"
    )
    whole_clip = floor_keyframes and window.frame_count == video.frame_count
    return PilotChoice(best.gop_length, best, floors, lam, pixels, floor_keyframes[0] if whole_clip else None)
