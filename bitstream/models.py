"""The entropy models a tensor's symbols may be coded with, their fitting and their stored parameters.

Probabilities come from the stored integers by IEEE float64 multiplications and divisions only
(no exp/log), so that every decoder builds the same tables.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np

from .bytes_io import ByteReader, ByteWriter

MAX_SYMBOL_MAGNITUDE = 2**15  # weight bits <= 16
MAX_ALPHABET = 2 * MAX_SYMBOL_MAGNITUDE + 1
MAX_TENSOR_ELEMENTS = 1 << 24
_FIXED_ONE = 256  # Laplace parameters are 8-bit fixed point


class Model(enum.IntEnum):
    CONST = 0
    RAW = 1
    LAPLACE = 2
    HISTOGRAM = 3


def laplace_probabilities(lo: int, hi: int, theta_q: int, zero_q: int) -> np.ndarray:
    """Unnormalised probabilities of lo..hi: mass z at 0, (1-z)(1-t)/2 * t^(|k|-1) elsewhere."""
    theta = (theta_q + 0.5) / _FIXED_ONE
    zero = (zero_q + 0.5) / _FIXED_ONE
    magnitude = max(abs(lo), abs(hi))
    powers = np.empty(magnitude + 1, dtype=np.float64)
    powers[0] = 1.0
    value = 1.0
    for j in range(1, magnitude + 1):  # repeated multiplication: exact IEEE, platform-independent
        powers[j] = value
        value *= theta
    side = (1.0 - zero) * (1.0 - theta) * 0.5
    ks = np.arange(lo, hi + 1)
    probs = side * powers[np.abs(ks)]
    probs[ks == 0] = zero
    return probs


def cost_bits(counts: np.ndarray, probs: np.ndarray) -> float:
    """Ideal code length of `counts` under `probs` (normalised here)."""
    total = probs.sum()
    if not total > 0:
        return math.inf
    used = counts > 0
    p = probs[used] / total
    if np.any(p <= 0):
        return math.inf
    return float(-(counts[used] * np.log2(p)).sum())


def _fit_laplace(counts: np.ndarray, lo: int, hi: int) -> tuple[int, int, float]:
    """Pick (theta_q, zero_q) minimising the code length; golden-section on theta, local on z."""
    ks = np.arange(lo, hi + 1)
    n = counts.sum()
    zeros = counts[ks == 0].sum()
    zero_q = int(min(_FIXED_ONE - 1, max(0, round((zeros + 0.5) / (n + 1) * _FIXED_ONE - 0.5))))
    nonzero = n - zeros
    mean_mag = (counts * np.abs(ks)).sum() / nonzero if nonzero else 1.0
    theta0 = min(max(1.0 - 1.0 / max(mean_mag, 1.0 + 1e-9), 1e-4), 1 - 1e-4)

    def cost(tq: int, zq: int) -> float:
        return cost_bits(counts, laplace_probabilities(lo, hi, tq, zq))

    a, b = 0, _FIXED_ONE - 1
    best_t = min(_FIXED_ONE - 1, int(theta0 * _FIXED_ONE))
    best = cost(best_t, zero_q)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(16):
        c = int(round(b - ratio * (b - a)))
        d = int(round(a + ratio * (b - a)))
        if cost(c, zero_q) < cost(d, zero_q):
            b = d
        else:
            a = c
        if b - a < 3:
            break
    for tq in range(a, b + 1):
        current = cost(tq, zero_q)
        if current < best:
            best, best_t = current, tq
    for zq in range(max(0, zero_q - 3), min(_FIXED_ONE, zero_q + 4)):
        current = cost(best_t, zq)
        if current < best:
            best, zero_q = current, zq
    return best_t, zero_q, best


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    kind: Model
    lo: int
    hi: int
    params: tuple[int, ...]

    def probabilities(self) -> np.ndarray:
        size = self.hi - self.lo + 1
        if self.kind == Model.RAW:
            return np.ones(size, dtype=np.float64)
        if self.kind == Model.LAPLACE:
            return laplace_probabilities(self.lo, self.hi, *self.params)
        if self.kind == Model.HISTOGRAM:
            return np.asarray(self.params, dtype=np.float64)
        raise AssertionError(self.kind)


def write_model(writer: ByteWriter, choice: ModelChoice) -> None:
    if choice.kind == Model.LAPLACE:  # symmetric range: the magnitude alone
        writer.uvarint(choice.hi)
        writer.pack("BB", *choice.params)
        return
    writer.svarint(choice.lo)
    if choice.kind == Model.CONST:
        return
    writer.uvarint(choice.hi - choice.lo)
    if choice.kind == Model.HISTOGRAM:
        for count in choice.params:
            writer.uvarint(count)


def read_model(headers: ByteReader, kind: Model, index: int) -> ModelChoice:
    if kind == Model.LAPLACE:
        magnitude = headers.uvarint(MAX_SYMBOL_MAGNITUDE)
        if magnitude == 0:
            raise headers.error(f"tensor {index}: LAPLACE model over 1 symbol")
        return ModelChoice(kind, -magnitude, magnitude, headers.unpack("BB"))
    lo = headers.svarint(MAX_SYMBOL_MAGNITUDE)
    if kind == Model.CONST:
        return ModelChoice(kind, lo, lo, ())
    span = headers.uvarint(MAX_ALPHABET - 1)
    if span == 0:  # the writer codes a one-symbol range as CONST, only it
        raise headers.error(f"tensor {index}: {kind.name} model over 1 symbol")
    if lo + span > MAX_SYMBOL_MAGNITUDE:
        raise headers.error(f"tensor {index}: symbol range [{lo}, {lo + span}] too wide")
    params: tuple[int, ...] = ()
    if kind == Model.HISTOGRAM:
        params = tuple(headers.uvarint(MAX_TENSOR_ELEMENTS) for _ in range(span + 1))
        if sum(params) == 0:
            raise headers.error(f"tensor {index}: empty histogram")
    return ModelChoice(kind, lo, lo + span, params)


def header_bits(choice: ModelChoice) -> int:
    w = ByteWriter()
    write_model(w, choice)
    return 8 * len(w)


def choose_model(symbols: np.ndarray) -> tuple[ModelChoice, float]:
    """The cheapest model for these symbols and its ideal payload bits."""
    flat = symbols.reshape(-1).astype(np.int64)
    lo, hi = int(flat.min()), int(flat.max())
    if lo == hi:
        return ModelChoice(Model.CONST, lo, hi, ()), 0.0
    counts = np.bincount(flat - lo, minlength=hi - lo + 1)
    candidates: list[tuple[float, float, ModelChoice]] = []
    raw = ModelChoice(Model.RAW, lo, hi, ())
    raw_bits = flat.size * math.log2(hi - lo + 1)
    candidates.append((raw_bits + header_bits(raw), raw_bits, raw))
    magnitude = max(-lo, hi)
    symmetric = np.zeros(2 * magnitude + 1, dtype=np.int64)
    symmetric[lo + magnitude : hi + magnitude + 1] = counts
    tq, zq, lap_bits = _fit_laplace(symmetric, -magnitude, magnitude)
    lap = ModelChoice(Model.LAPLACE, -magnitude, magnitude, (tq, zq))
    candidates.append((lap_bits + header_bits(lap), lap_bits, lap))
    hist = ModelChoice(Model.HISTOGRAM, lo, hi, tuple(int(c) for c in counts))
    hist_bits = cost_bits(counts, counts.astype(np.float64))
    candidates.append((hist_bits + header_bits(hist), hist_bits, hist))
    total, payload, choice = min(candidates, key=lambda c: c[0])
    return choice, payload
