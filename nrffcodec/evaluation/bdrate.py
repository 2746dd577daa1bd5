"""Bjontegaard delta rate: the average bitrate difference of two RD curves at equal quality.

Each curve is log(rate) as a function of PSNR, interpolated piecewise-cubically with PCHIP (shape
preserving, so no overshoot between points, as in the JVET/AOM reference spreadsheets) and
integrated exactly over the PSNR range both curves cover. Outside that range nothing is
extrapolated: curves that do not overlap have no BD-rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

Curve = Sequence[tuple[float, float]]  # (rate, psnr) points; rate in any unit (bytes, bpp), > 0


def _log_rate_of_psnr(curve: Curve) -> PchipInterpolator:
    """PCHIP of log(rate) over PSNR; points with the same PSNR keep the lowest rate."""
    best: dict[float, float] = {}
    for rate, quality in curve:
        if not rate > 0 or not math.isfinite(rate) or not math.isfinite(quality):
            raise ValueError(f"BD-rate needs positive finite rates and finite PSNR, got ({rate}, {quality})")
        best[quality] = min(rate, best.get(quality, math.inf))
    if len(best) < 2:
        raise ValueError("BD-rate needs at least two points of different PSNR per curve")
    psnrs = np.array(sorted(best))
    return PchipInterpolator(psnrs, np.log([best[p] for p in psnrs]))


def overlap(anchor: Curve, test: Curve) -> tuple[float, float] | None:
    """The PSNR interval both curves cover, or None when they do not overlap."""
    low = max(min(q for _, q in anchor), min(q for _, q in test))
    high = min(max(q for _, q in anchor), max(q for _, q in test))
    return (low, high) if high > low else None


def bd_rate(anchor: Curve, test: Curve) -> float | None:
    """Percent rate change of `test` against `anchor` at equal PSNR (-20.0 = test needs 20% fewer
    bits); None when the curves share no PSNR range."""
    curves = (_log_rate_of_psnr(anchor), _log_rate_of_psnr(test))
    span = overlap(anchor, test)
    if span is None:
        return None
    low, high = span
    mean_log = [f.integrate(low, high) / (high - low) for f in curves]
    return float((math.exp(mean_log[1] - mean_log[0]) - 1.0) * 100.0)
