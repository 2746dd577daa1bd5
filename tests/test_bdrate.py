"""BD-rate against cases computable by hand."""

from __future__ import annotations

import math

import pytest

from nrffcodec.evaluation.bdrate import bd_rate, overlap

ANCHOR = [(100.0, 30.0), (180.0, 33.0), (350.0, 36.5), (700.0, 40.0)]


def test_constant_rate_factor_is_exactly_that_factor() -> None:
    test = [(r * 0.8, q) for r, q in ANCHOR]
    assert bd_rate(ANCHOR, test) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate(test, ANCHOR) == pytest.approx(25.0, abs=1e-9)
    assert bd_rate(ANCHOR, ANCHOR) == pytest.approx(0.0, abs=1e-12)


def test_psnr_shift_on_an_exponential_curve() -> None:
    """rate = exp(psnr / 5): 1 dB better at the same rates is exp(-1/5) of the rate at equal PSNR."""
    anchor = [(math.exp(q / 5), q) for q in (30.0, 32.0, 35.0, 38.0, 40.0)]
    test = [(r, q + 1.0) for r, q in anchor]
    assert overlap(anchor, test) == (31.0, 40.0)
    assert bd_rate(anchor, test) == pytest.approx((math.exp(-0.2) - 1) * 100, abs=1e-9)


def test_order_of_points_does_not_matter() -> None:
    test = [(r * 1.3, q + 0.2) for r, q in ANCHOR]
    assert bd_rate(ANCHOR[::-1], test[::-1]) == pytest.approx(bd_rate(ANCHOR, test), abs=1e-12)


def test_no_overlap_is_none() -> None:
    high = [(r, q + 20.0) for r, q in ANCHOR]
    assert overlap(ANCHOR, high) is None
    assert bd_rate(ANCHOR, high) is None


def test_bad_curves_are_refused() -> None:
    with pytest.raises(ValueError):
        bd_rate(ANCHOR, [(100.0, 31.0)])
    with pytest.raises(ValueError):
        bd_rate(ANCHOR, [(0.0, 31.0), (10.0, 35.0)])
