"""Quantization steps as one-byte codes: 256 values 9% apart, exact on every platform."""

from __future__ import annotations

import numpy as np

STEP_CODES = 256


_STEP_MANTISSAS = (4096, 4467, 4871, 5312, 5793, 6317, 6889, 7512)  # round(4096 * 2^(m / 8)), fixed here


def _step_value(code: int) -> float:
    """Code 8e + m stands for 2^(e - 20) * M[m] / 4096 ~ 2^((code - 160) / 8): 2^-20 to ~3,756, 9% apart.

    Integers times powers of two, so the table is exact on every platform (no pow).
    """
    exponent, mantissa = divmod(code, 8)
    return _STEP_MANTISSAS[mantissa] * 2.0 ** (exponent - 32)


STEP_VALUES = np.array([_step_value(c) for c in range(STEP_CODES)], dtype=np.float32)  # ascending


def step_codes(steps: np.ndarray, channels: int) -> np.ndarray:
    """The one-byte codes of a tensor's steps; each step must be one of STEP_VALUES (quant rounds to them)."""
    steps = np.asarray(steps, dtype=np.float32).reshape(-1)
    if steps.size not in (1, channels):
        raise ValueError(f"{steps.size} steps for a tensor with {channels} channels")
    codes = np.searchsorted(STEP_VALUES, steps).clip(max=STEP_CODES - 1)
    if not np.array_equal(STEP_VALUES[codes], steps):
        raise ValueError("quantization steps must be values of STEP_VALUES")
    return codes.astype(np.uint8)
