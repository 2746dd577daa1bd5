"""Entropy coding of quantized network weights with constriction's range coder.

A GOP's tensors (both networks) travel as one block: a 4-bit flags nibble per tensor, each
tensor's steps as one-byte codes (STEP_VALUES), the models' parameters, then one range-coded
stream that runs to the end of the block. Each tensor of 64 elements or more has its own model;
the smaller ones (biases, Swish parameters) share one. Per model the encoder picks the cheapest
of four, counting the model's own header bits:

* CONST - every symbol equal (no payload);
* RAW - uniform over [min, max];
* LAPLACE - over [-M, M], a two-sided geometric law with a separate mass at zero (the shape of a
  quantized Laplace), two 8-bit fixed-point parameters;
* HISTOGRAM - the tensor's own symbol counts, transmitted.

Why so compact (format 3): at GOP 2 a network pair is ~500 bytes, and format 2's per-network
framing, flags bytes, float16 steps, a model per bias and 16-bit Laplace parameters were ~20%
of it (docs/ablations.md, "Format 3").

Decoder determinism: probabilities are computed from the stored integers with IEEE float64
multiplications and divisions only (no exp/log), so every platform builds the same tables;
constriction then quantizes them with `perfect=False`, identically in encoder and decoder.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from typing import Sequence

import constriction
import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError

MAX_SYMBOL_MAGNITUDE = 2**15  # weight bits <= 16
MAX_ALPHABET = 2 * MAX_SYMBOL_MAGNITUDE + 1
MAX_TENSOR_ELEMENTS = 1 << 24
_FIXED_ONE = 256  # Laplace parameters are 8-bit fixed point
STEP_CODES = 256


_STEP_MANTISSAS = (4096, 4467, 4871, 5312, 5793, 6317, 6889, 7512)  # round(4096 * 2^(m / 8)), fixed here


def _step_value(code: int) -> float:
    """Code 8e + m stands for 2^(e - 20) * M[m] / 4096 ~ 2^((code - 160) / 8): 2^-20 to ~3,756, 9% apart.

    Integers times powers of two, so the table is exact on every platform (no pow).
    """
    exponent, mantissa = divmod(code, 8)
    return _STEP_MANTISSAS[mantissa] * 2.0 ** (exponent - 32)


STEP_VALUES = np.array([_step_value(c) for c in range(STEP_CODES)], dtype=np.float32)  # ascending


class Model(enum.IntEnum):
    CONST = 0
    RAW = 1
    LAPLACE = 2
    HISTOGRAM = 3


@dataclasses.dataclass
class QuantizedTensor:
    """Integer symbols and the step(s) that turn them back into weights: w = symbols * step.

    `steps` has one entry (per-tensor) or one per output channel (axis 0 of `symbols`).
    """

    symbols: np.ndarray
    steps: np.ndarray

    def dequantize(self) -> np.ndarray:
        steps = self.steps.astype(np.float32)
        if steps.size > 1:
            steps = steps.reshape((-1,) + (1,) * (self.symbols.ndim - 1))
        return self.symbols.astype(np.float32) * steps


@dataclasses.dataclass(frozen=True)
class TensorCodingInfo:
    """What `nrff info` reports per tensor: model chosen and bits spent."""

    model: str
    elements: int
    header_bits: int
    payload_bits: float


# ---------------------------------------------------------------- probability models


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


def _cost_bits(counts: np.ndarray, probs: np.ndarray) -> float:
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
        return _cost_bits(counts, laplace_probabilities(lo, hi, tq, zq))

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
class _ModelChoice:
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


def _write_model(writer: ByteWriter, choice: _ModelChoice) -> None:
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


def _read_model(headers: ByteReader, kind: Model, index: int) -> _ModelChoice:
    if kind == Model.LAPLACE:
        magnitude = headers.uvarint(MAX_SYMBOL_MAGNITUDE)
        if magnitude == 0:
            raise headers.error(f"tensor {index}: LAPLACE model over 1 symbol")
        return _ModelChoice(kind, -magnitude, magnitude, headers.unpack("BB"))
    lo = headers.svarint(MAX_SYMBOL_MAGNITUDE)
    if kind == Model.CONST:
        return _ModelChoice(kind, lo, lo, ())
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
    return _ModelChoice(kind, lo, lo + span, params)


def _header_bits(choice: _ModelChoice) -> int:
    w = ByteWriter()
    _write_model(w, choice)
    return 8 * len(w)


def choose_model(symbols: np.ndarray) -> tuple[_ModelChoice, float]:
    """The cheapest model for these symbols and its ideal payload bits."""
    flat = symbols.reshape(-1).astype(np.int64)
    lo, hi = int(flat.min()), int(flat.max())
    if lo == hi:
        return _ModelChoice(Model.CONST, lo, hi, ()), 0.0
    counts = np.bincount(flat - lo, minlength=hi - lo + 1)
    candidates: list[tuple[float, float, _ModelChoice]] = []
    raw = _ModelChoice(Model.RAW, lo, hi, ())
    raw_bits = flat.size * math.log2(hi - lo + 1)
    candidates.append((raw_bits + _header_bits(raw), raw_bits, raw))
    magnitude = max(-lo, hi)
    symmetric = np.zeros(2 * magnitude + 1, dtype=np.int64)
    symmetric[lo + magnitude: hi + magnitude + 1] = counts
    tq, zq, lap_bits = _fit_laplace(symmetric, -magnitude, magnitude)
    lap = _ModelChoice(Model.LAPLACE, -magnitude, magnitude, (tq, zq))
    candidates.append((lap_bits + _header_bits(lap), lap_bits, lap))
    hist = _ModelChoice(Model.HISTOGRAM, lo, hi, tuple(int(c) for c in counts))
    hist_bits = _cost_bits(counts, counts.astype(np.float64))
    candidates.append((hist_bits + _header_bits(hist), hist_bits, hist))
    total, payload, choice = min(candidates, key=lambda c: c[0])
    return choice, payload


# ---------------------------------------------------------------- steps


def step_codes(steps: np.ndarray, channels: int) -> np.ndarray:
    """The one-byte codes of a tensor's steps; each step must be one of STEP_VALUES (quant rounds to them)."""
    steps = np.asarray(steps, dtype=np.float32).reshape(-1)
    if steps.size not in (1, channels):
        raise ValueError(f"{steps.size} steps for a tensor with {channels} channels")
    codes = np.searchsorted(STEP_VALUES, steps).clip(max=STEP_CODES - 1)
    if not np.array_equal(STEP_VALUES[codes], steps):
        raise ValueError("quantization steps must be values of STEP_VALUES")
    return codes.astype(np.uint8)


# ---------------------------------------------------------------- tensors <-> bytes

_PER_CHANNEL = 4
# Tensors of fewer elements (biases, Swish parameters, small output layers) share one model: on its own
# each paid ~4 header bytes for ~5 bytes of symbols (a GOP-2 network pair has eight of them).
SMALL_TENSOR = 64


def _is_small(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) < SMALL_TENSOR


def _model_units(shapes: Sequence[tuple[int, ...]]) -> tuple[list[list[int]], bool]:
    """The tensors each model codes, in stream order: every large tensor alone, then the small ones
    together; and whether that last, shared model exists. Encoder and decoder derive it from the shapes."""
    small = [i for i, shape in enumerate(shapes) if _is_small(shape)]
    units = [[i] for i, shape in enumerate(shapes) if not _is_small(shape)]
    return units + [small] if small else units, bool(small)


def _pack_nibbles(nibbles: Sequence[int]) -> bytes:
    padded = list(nibbles) + [0] * (len(nibbles) % 2)
    return bytes(a | b << 4 for a, b in zip(padded[::2], padded[1::2]))


def _unpack_nibbles(reader: ByteReader, count: int) -> list[int]:
    data = reader.raw((count + 1) // 2)
    nibbles = [n for byte in data for n in (byte & 15, byte >> 4)]
    if len(nibbles) > count and nibbles[count]:
        raise reader.error("flags: a non-zero padding nibble")
    return nibbles[:count]


def encode_tensors(tensors: Sequence[QuantizedTensor]) -> tuple[bytes, list[TensorCodingInfo]]:
    """Serialise tensors: flags, steps, models, then one range-coded stream to the end of the bytes.

    Each large tensor has a model of its own; the small ones (`SMALL_TENSOR`) share one, coded last.
    """
    flat, codes = [], []
    for tensor in tensors:
        symbols = np.asarray(tensor.symbols)
        if symbols.size == 0 or symbols.size > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"tensor of {symbols.size} elements cannot be coded")
        if np.abs(symbols).max() > MAX_SYMBOL_MAGNITUDE:
            raise ValueError("symbol magnitude exceeds 2^15")
        flat.append(symbols.reshape(-1).astype(np.int64))
        codes.append(step_codes(tensor.steps, symbols.shape[0] if symbols.ndim else 1))
    units, shared = _model_units([np.shape(t.symbols) for t in tensors])
    unit_symbols = [np.concatenate([flat[i] for i in unit]) for unit in units]
    choices = [choose_model(symbols) for symbols in unit_symbols]
    own_kind = {unit[0]: choice.kind for unit, (choice, _) in zip(units[:len(units) - shared], choices)}
    nibbles = [int(own_kind.get(i, 0)) | (_PER_CHANNEL if c.size > 1 else 0) for i, c in enumerate(codes)]
    if shared:
        nibbles.append(int(choices[-1][0].kind))
    headers = ByteWriter()
    headers.raw(_pack_nibbles(nibbles))
    for c in codes:
        headers.raw(c.tobytes())
    encoder = constriction.stream.queue.RangeEncoder()
    model_bytes = []
    for symbols, (choice, _) in zip(unit_symbols, choices):
        before = len(headers)
        _write_model(headers, choice)
        model_bytes.append(len(headers) - before)
        if choice.kind != Model.CONST:
            model = constriction.stream.model.Categorical(choice.probabilities(), perfect=False)
            encoder.encode((symbols - choice.lo).astype(np.int32), model)
    words = encoder.get_compressed()
    return headers.getvalue() + words.astype("<u4").tobytes(), _infos(tensors, units, choices, codes, model_bytes)


def _infos(tensors: Sequence[QuantizedTensor], units: list[list[int]], choices: list[tuple[_ModelChoice, float]],
           codes: list[np.ndarray], model_bytes: list[int]) -> list[TensorCodingInfo]:
    """Per tensor: its model, and its share (by elements) of its unit's header and payload bits."""
    out: list[TensorCodingInfo | None] = [None] * len(tensors)
    for unit, (choice, payload), header in zip(units, choices, model_bytes):
        sizes = [int(np.size(tensors[i].symbols)) for i in unit]
        for i, size in zip(unit, sizes):
            share = size / sum(sizes)
            out[i] = TensorCodingInfo(choice.kind.name.lower(), size,
                                      round(4 + 8 * codes[i].size + 8 * header * share), payload * share)
    return [info for info in out if info is not None]


def decode_tensors(reader: ByteReader, shapes: Sequence[tuple[int, ...]]
                   ) -> tuple[list[QuantizedTensor], list[TensorCodingInfo]]:
    """Inverse of encode_tensors, reading to the end of `reader`; `shapes` come from the header's architecture."""
    units, shared = _model_units(shapes)
    nibbles = _unpack_nibbles(reader, len(shapes) + shared)
    steps, codes = [], []
    for index, shape in enumerate(shapes):
        flags = nibbles[index]
        if flags & 8 or (_is_small(shape) and flags & 3):
            raise reader.error(f"tensor {index}: unknown flags {flags:#x}")
        n_steps = (shape[0] if shape else 1) if flags & _PER_CHANNEL else 1
        codes.append(np.frombuffer(reader.raw(n_steps), dtype=np.uint8))
        steps.append(STEP_VALUES[codes[-1]])
    kinds = [nibbles[unit[0]] & 3 for unit in units[:len(units) - shared]]
    if shared:
        if nibbles[-1] & ~3:
            raise reader.error(f"shared model: unknown flags {nibbles[-1]:#x}")
        kinds.append(nibbles[-1])
    model_bytes, choices = [], []
    for n, kind in enumerate(kinds):
        before = reader.offset
        choices.append(_read_model(reader, Model(kind), n))
        model_bytes.append(reader.offset - before)
    if reader.remaining % 4:
        raise reader.error(f"coded weights of {reader.remaining} bytes, not whole 32-bit words")
    words = np.frombuffer(reader.raw(reader.remaining), dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words) if words.size else None
    symbols: list[np.ndarray | None] = [None] * len(shapes)
    payloads = []
    for n, (unit, choice) in enumerate(zip(units, choices)):
        count = sum(math.prod(shapes[i]) for i in unit)
        if choice.kind == Model.CONST:
            flat = np.full(count, choice.lo, dtype=np.int32)
        else:
            if decoder is None:
                raise reader.error(f"model {n}: coded symbols missing")
            probabilities = choice.probabilities()
            total = float(probabilities.sum())
            if not (math.isfinite(total) and total > 0):  # e.g. a Laplace law far from 0 underflows to nothing
                raise reader.error(f"model {n}: {choice.kind.name} model gives its symbols no probability")
            try:
                model = constriction.stream.model.Categorical(probabilities, perfect=False)
                flat = decoder.decode(model, count).astype(np.int32) + choice.lo
            except Exception as exc:  # constriction signals a model it cannot use, or exhausted/invalid data
                raise reader.error(f"model {n}: entropy decoding failed ({exc})") from None
        counts = np.bincount(flat - choice.lo, minlength=choice.hi - choice.lo + 1)
        payloads.append(0.0 if choice.kind == Model.CONST else _cost_bits(counts, choice.probabilities()))
        first = 0
        for i in unit:
            size = math.prod(shapes[i])
            symbols[i] = flat[first:first + size].reshape(shapes[i])
            first += size
    tensors = [QuantizedTensor(s, st) for s, st in zip(symbols, steps)]  # STEP_VALUES[...] is a copy
    return tensors, _infos(tensors, units, list(zip(choices, payloads)), codes, model_bytes)
