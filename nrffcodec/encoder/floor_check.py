"""Stage 7, hold the fields to the floor: the pilot's two tests again, on the fields as trained and decoded.

The pilot (gop_length) prices a length by one GOP of its window, trained at a fraction of the steps
and scored on training samples. Once the encode has trained every GOP and verify has decoded them,
the window is measured again; where the fields now fall short of the keyframe codec alone, the
encoder codes every frame with it instead (docs/decisions/0047, 0048).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bitstream import encoded_networks_size

from ..core.gop import Gop
from ..core.quality import mse_of
from .gop_length import PilotChoice, PilotMeasure, above_floor_curve, choose
from .train import GopResult


def trained_measure(
    chosen: PilotMeasure, gops: Sequence[Gop], results: Mapping[int, GopResult], frame_psnr: Sequence[float]
) -> PilotMeasure | None:
    """`chosen` with its networks' estimate (one GOP at a fraction of the steps, scored on training
    samples) replaced by the encode's: the coded size of every GOP of the pilot window it trained, and
    the error of their predicted frames as decoded (`frame_psnr`: PSNR-RGB of each frame of the video,
    as verify measured it). `gops` is the encode's plan. None if no GOP of the window was trained."""
    planned = {(g.first, g.count): g.index for g in gops}
    trained = [
        (g, results[planned[g.first, g.count]])
        for g in chosen.gops
        if g.predicted and planned.get((g.first, g.count)) in results
    ]
    if not trained:
        return None
    predicted = [t for g, _ in trained for t in g.predicted]
    sizes = [encoded_networks_size([result.flow, result.residual]) for _, result in trained]
    return dataclasses.replace(
        chosen,
        network_bytes=sum(sizes) / len(trained),
        network_mse=sum(mse_of(frame_psnr[t]) for t in predicted) / len(predicted),
    )


@dataclasses.dataclass(frozen=True)
class FloorCheck:
    """The fields, as trained and decoded, against the keyframe codec alone on the pilot window."""

    fields: PilotMeasure
    floor: PilotMeasure
    holds: bool  # above the floor's curve and of less D + lambda R than the floor


def check_against_floor(
    choice: PilotChoice, gops: Sequence[Gop], results: Mapping[int, GopResult], frame_psnr: Sequence[float]
) -> FloorCheck | None:
    """The pilot's two tests again, on the window's GOPs as trained and decoded: one GOP trained at a
    fraction of the steps can misjudge a clip whose GOPs differ (a cut, a pan), and a training score
    runs above what the decoder renders. None where there is nothing to check: no pilot (--gop), the
    pilot chose the floor, or no GOP of the window was trained."""
    if choice.chosen is None or choice.floor is None or choice.gop_length == 1:
        return None
    measure = trained_measure(choice.chosen, gops, results, frame_psnr)
    if measure is None:
        return None
    floor, other = choice.floor
    pixels = choice.pixels_per_frame
    holds = above_floor_curve(measure, floor, other, pixels) and choose([measure, floor], choice.lam, pixels) is measure
    return FloorCheck(measure, floor, holds)
