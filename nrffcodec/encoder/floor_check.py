"""Stage 7, hold the fields to the floor: the pilot's two tests again, on the fields as trained and decoded.

The pilot (gop_length) prices a length by one GOP of its window, trained at a fraction of the steps
and scored on training samples. Once the encode has trained the window's GOPs and verify has
decoded them, the window is measured again; where the fields now fall short of the keyframe codec
alone, the encoder codes every frame with it instead (docs/decisions/0047, 0048, 0051).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bitstream import encoded_networks_size

from ..core.gop import Gop
from ..core.quality import mse_of
from .gop_length import PilotChoice
from .keyframes import CodedKeyframes
from .pilot_measure import PilotMeasure, above_floor_curve
from .train import GopResult


def window_gops(choice: PilotChoice, gops: Sequence[Gop]) -> list[Gop]:
    """The GOPs of the encode's plan `gops` that the floor check measures: those within the pilot's
    window (at least the first; a longer clip's plan need not cut the window as the pilot did). None
    where there is nothing to check: no pilot (--gop), or the pilot chose the floor."""
    if choice.chosen is None or choice.floor is None or choice.gop_length == 1:
        return []
    end = choice.chosen.gops[-1].end
    return [g for g in gops if g.end <= end] or list(gops[:1])


def trained_measure(
    chosen: PilotMeasure,
    window: Sequence[Gop],
    keyframes: CodedKeyframes,
    results: Mapping[int, GopResult],
    frame_psnr: Sequence[float],
    pixels_per_frame: int,
) -> PilotMeasure | None:
    """The encode's own measure of `window` (window_gops), where the pilot had one GOP at a fraction of
    the steps scored on training samples: the keyframes as coded, every GOP's networks as trained,
    each frame as decoded (`frame_psnr`: PSNR-RGB of each frame from the video's first on, as verify
    measured it). None if a GOP of the window with frames to predict was not trained."""
    predicted = [g for g in window if g.predicted]
    if not predicted or any(g.index not in results for g in predicted):
        return None
    sizes = [encoded_networks_size([results[g.index].flow, results[g.index].residual]) for g in predicted]
    frames = [t for g in predicted for t in g.predicted]
    key_bytes = sum(keyframes.records[g.index].payload_bytes for g in window) + sum(map(len, keyframes.parameter_sets))
    return dataclasses.replace(
        chosen,
        gops=tuple(window),
        keyframe_bytes=key_bytes,
        keyframe_sse=sum(mse_of(frame_psnr[g.key]) for g in window) * pixels_per_frame,
        network_bytes=sum(sizes) / len(predicted),
        network_mse=sum(mse_of(frame_psnr[t]) for t in frames) / len(frames),
    )


@dataclasses.dataclass(frozen=True)
class FloorCheck:
    """The fields, as trained and decoded, against the keyframe codec alone on the pilot window."""

    fields: PilotMeasure
    floor: PilotMeasure
    holds: bool  # above the floor's curve and of less D + lambda R than the floor, per frame


def check_against_floor(
    choice: PilotChoice,
    gops: Sequence[Gop],
    keyframes: CodedKeyframes,
    results: Mapping[int, GopResult],
    frame_psnr: Sequence[float],
) -> FloorCheck | None:
    """The pilot's two tests again, on the window's GOPs as coded, trained and decoded: one GOP trained
    at a fraction of the steps can misjudge a clip whose GOPs differ (a cut, a pan), and a training
    score runs above what the decoder renders. Where the encode's window spans other frames than the
    pilot's (a longer clip, cut otherwise), both are compared per frame. None where there is nothing
    to check: no pilot (--gop), the pilot chose the floor, or the window is not trained."""
    window = window_gops(choice, gops)
    if not window or choice.chosen is None or choice.floor is None:
        return None
    pixels = choice.pixels_per_frame
    measure = trained_measure(choice.chosen, window, keyframes, results, frame_psnr, pixels)
    if measure is None:
        return None
    floor, other = choice.floor
    scale = floor.frames / measure.frames  # 1 where the windows match
    above = above_floor_curve(measure, floor, other, pixels, scale)
    # choose([measure, floor]) per frame: the fields on a tie (the longer GOP)
    cheaper = measure.cost(choice.lam, pixels) * scale <= floor.cost(choice.lam, pixels)
    return FloorCheck(measure, floor, above and cheaper)
