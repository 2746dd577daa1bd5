"""What the pilot measures of a GOP length, and the keyframe codec's own curve that a length with
fields must lie above.

A length is priced on the pilot's window: its keyframes as coded (real bytes, real decoded error)
and one GOP's networks trained at a fraction of the steps. Fields are kept only above the line, in
log rate and PSNR, through GOP length 1 at two keyframe QPs (decisions 0042, 0048): below it the
keyframe codec's own inter frames give the same quality for fewer bytes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from bitstream import KeyframeCodec

from ..core.gop import Gop
from ..core.quality import mse_of, psnr
from ..settings import KEYFRAME_QP_MAX

# What each GOP adds around its keyframe and networks: GOPC framing and CRC (12), its index entry and
# place (about 7), its keyframe's NAL counts and lengths (about 4). Counted so that GOP length 1 pays
# its per-frame container cost in the comparison.
GOP_FRAMING_BYTES = 23
# A GOP with nothing to predict has no networks and shares a keyframe run with its neighbours: in a
# KRUN (HEVC keyframes) it adds its keyframe's layout byte and slice lengths (docs/decisions/0039),
# in a KPAK (AV1) nothing but its OBUs less their header bytes, which stored_bytes takes off (0044, 0061).
RUN_FRAMING_BYTES = {KeyframeCodec.HEVC: 3, KeyframeCodec.AV1: 0}


# The floor's curve: GOP 1 coded again this many keyframe QPs higher, at most the AV1 scale's top,
# and a length with fields kept only above the line through the two (decisions 0042, 0048).
FLOOR_CURVE_QP_STEP = 6


@dataclasses.dataclass(frozen=True)
class PilotMeasure:
    """What the pilot measured for one GOP length on the window."""

    gop_length: int
    gops: Sequence[Gop]  # the window's plan at this length
    keyframe_bytes: int  # every keyframe of the window, parameter sets included
    keyframe_sse: float  # squared error of the decoded keyframes, summed over their pixels
    network_bytes: float  # the coded networks of a GOP with frames to predict (the one trained, or a mean)
    network_mse: float  # per-pixel squared error of the predicted frames
    keyframe_codec: KeyframeCodec = KeyframeCodec.AV1
    given_up: bool = False  # its training stopped where it could no longer reach the floor's curve
    stopped_after: float = 0.0  # given up: the share of the float steps taken (network_mse: its error there)
    needed_psnr: float = math.nan  # given up: the PSNR the floor's curve asked of its networks' bytes there

    @property
    def frames(self) -> int:
        """The frames the measure's GOPs span."""
        return self.gops[-1].end - self.gops[0].first

    def bits(self) -> float:
        trained = sum(1 for g in self.gops if g.predicted)
        run = RUN_FRAMING_BYTES[self.keyframe_codec]
        framing = GOP_FRAMING_BYTES * trained + run * (len(self.gops) - trained)
        return 8.0 * (self.keyframe_bytes + self.network_bytes * trained + framing)

    @property
    def predicted_frames(self) -> int:
        """The frames the measure's networks render (none at GOP length 1)."""
        return sum(len(g.predicted) for g in self.gops)

    def distortion(self, pixels_per_frame: int) -> float:
        return self.keyframe_sse + self.network_mse * pixels_per_frame * self.predicted_frames

    def cost(self, lam: float, pixels_per_frame: int) -> float:
        return self.distortion(pixels_per_frame) + lam * self.bits()


def pilot_psnr(measure: PilotMeasure, pixels_per_frame: int) -> float:
    """The measure's PSNR-RGB estimate over the window."""
    return psnr(measure.distortion(pixels_per_frame) / pixels_per_frame / measure.frames)


def above_floor_curve(
    measure: PilotMeasure,
    floor: PilotMeasure,
    other_floor: PilotMeasure,
    pixels_per_frame: int,
    rate_scale: float = 1.0,
) -> bool:
    """Whether `measure` lies above the keyframe codec's own curve at its rate: the line, in log rate
    and PSNR, through the floor at two QPs (extended past them). Fields below it cost more than the
    keyframe codec's own inter frames at equal quality. `rate_scale`: the floor's frames over the
    measure's, where they span different windows."""
    if measure.given_up:
        return False
    line = floor_line(floor, other_floor, pixels_per_frame)
    if math.isnan(line[2]):
        return True
    return pilot_psnr(measure, pixels_per_frame) >= curve_psnr(line, measure.bits() * rate_scale)


def other_floor_qp(qp: int) -> int:
    """The keyframe QP of the floor's second point: cheaper than the rung's, where fields land (a GOP
    with fields costs fewer bytes than the floor at the same QP), so that the line is read near its
    points. FLOOR_CURVE_QP_STEP higher, else the scale's top while that is at least half a step away
    (two points closer than that give a noisy slope), else a step lower."""
    if qp + FLOOR_CURVE_QP_STEP <= KEYFRAME_QP_MAX:
        return qp + FLOOR_CURVE_QP_STEP
    return KEYFRAME_QP_MAX if KEYFRAME_QP_MAX - qp >= FLOOR_CURVE_QP_STEP // 2 else qp - FLOOR_CURVE_QP_STEP


def floor_line(floor: PilotMeasure, other_floor: PilotMeasure, pixels_per_frame: int) -> tuple[float, float, float]:
    """(log rate, PSNR) of the floor's first point and the line's slope in dB per unit of log rate."""
    (ra, pa), (rb, pb) = ((math.log(m.bits()), pilot_psnr(m, pixels_per_frame)) for m in (floor, other_floor))
    return ra, pa, (pb - pa) / (rb - ra) if ra != rb else math.nan


def curve_psnr(line: tuple[float, float, float], bits: float) -> float:
    """The PSNR the floor's line (floor_line) gives at `bits`."""
    rate, quality, slope = line
    return quality + slope * (math.log(bits) - rate)


@dataclasses.dataclass(frozen=True)
class GiveUp:
    """Where the pilot stops training a length that can no longer reach the floor's curve (decision
    0084): after each fraction of the float steps in `points`, when the networks' validation PSNR lies
    more than that point's margin (dB) below least_psnr of their bytes then (times `bytes_share`:
    fine-tuning moves them a few per cent). Plain data, for the training process."""

    keyframes_only: PilotMeasure  # the length's keyframes as measured, its networks not yet
    line: tuple[float, float, float]  # floor_line: the floor's first point and the curve's slope (> 0)
    pixels_per_frame: int
    points: tuple[tuple[float, float], ...]  # (fraction of the float steps, margin in dB)
    bytes_share: float

    def least_psnr(self, network_bytes: float) -> float:
        """The PSNR-RGB the networks must reach on the predicted frames for the length to lie on the
        curve, their bytes `network_bytes`: inf where the keyframes alone lie below it."""
        measure = dataclasses.replace(self.keyframes_only, network_bytes=network_bytes * self.bytes_share)
        pixels = self.pixels_per_frame
        curve = curve_psnr(self.line, measure.bits())
        allowed = mse_of(curve) * pixels * measure.frames - measure.keyframe_sse  # squared error left to spend
        return psnr(allowed / (pixels * measure.predicted_frames)) if allowed > 0 else math.inf

    def stop_steps(self, float_steps: int) -> dict[int, float]:
        """{step after which to test: its margin} for a float phase of `float_steps` steps (two points
        on one step, in a short phase: the wider margin)."""
        stops: dict[int, float] = {}
        for fraction, margin in self.points:
            step = max(1, math.ceil(float_steps * fraction)) - 1
            stops[step] = max(margin, stops.get(step, -math.inf))
        return stops


def give_up_for(
    keyframes_only: PilotMeasure,
    floor: PilotMeasure,
    other_floor: PilotMeasure,
    pixels_per_frame: int,
    points: tuple[tuple[float, float], ...],
    bytes_share: float,
) -> GiveUp | None:
    """The length's GiveUp, where it has frames to predict and the floor's curve rises with the rate:
    only then does counting fewer bytes than the networks will have ask less of them, not more."""
    line = floor_line(floor, other_floor, pixels_per_frame)
    if not line[2] > 0 or not keyframes_only.predicted_frames:
        return None
    return GiveUp(keyframes_only, line, pixels_per_frame, points, bytes_share)
