"""Where each keyframe QP puts its codec's quantizer: the log of the step it codes with.

A file's log bytes and its PSNR fall near evenly along the log step, not along the QP: AV1's step
grows by 4 a QP at the scale's bottom (36% at QP 1, 5% at QP 23) and by about 7.5% above, so a curve
that is straight along the step bends along the QP (decision 0082). The rate search interpolates on it.
"""

from __future__ import annotations

import math

from bitstream import KeyframeCodec

from ..settings import KEYFRAME_QP_MAX, hevc_qp_for

# AV1's AC quantizer step for 8-bit luma (the spec's Ac_Qlookup[0], section 7.12.2) at the qindex
# each QP 0..63 of --keyframe-qp stands for: 4 x QP, but 249 for 62 and 255 for 63, as libaom and
# SVT-AV1 map their QP and CRF.
AV1_AC_STEP_AT_QP = (
    4, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63, 67,
    71, 75, 79, 83, 87, 91, 95, 99, 104, 112, 120, 128, 136, 144, 152, 164,
    176, 188, 200, 215, 231, 247, 265, 285, 305, 329, 353, 380, 408, 440, 474, 510,
    550, 593, 639, 689, 743, 801, 864, 933, 1007, 1087, 1173, 1267, 1369, 1479, 1628, 1828,
)  # fmt: skip


def log_steps(codec: KeyframeCodec) -> tuple[float, ...]:
    """The natural log of the quantizer step at each QP 0..63 of the AV1 scale, rising with the QP.

    x265 keyframes take the QP through hevc_qp_for, whose step doubles every 6 of its QPs; it is
    kept unrounded there, so that no two QPs share a step (a search divides by their difference)."""
    if codec == KeyframeCodec.AV1:
        return tuple(math.log(step) for step in AV1_AC_STEP_AT_QP)
    return tuple((hevc_qp_for(qp) - 4) * math.log(2) / 6 for qp in range(KEYFRAME_QP_MAX + 1))
