"""Entropy coding of quantized network weights with constriction's range coder.

Each tensor travels as integer symbols plus its quantization steps (float16 bits). Per tensor
the encoder picks the cheapest of four models, counting the model's own header bits:

* CONST - every symbol equal (no payload);
* RAW - uniform over [min, max];
* LAPLACE - a two-sided geometric law with a separate mass at zero (the shape of a quantized
  Laplace), two 16-bit fixed-point parameters;
* HISTOGRAM - the tensor's own symbol counts, transmitted.

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
import zstandard

from .bytes_io import ByteReader, ByteWriter
from .errors import BitstreamError

MAX_SYMBOL_MAGNITUDE = 2**15  # weight bits <= 16
MAX_ALPHABET = 2 * MAX_SYMBOL_MAGNITUDE + 1
MAX_TENSOR_ELEMENTS = 1 << 24
_FIXED_ONE = 65536


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
    best_t = int(theta0 * _FIXED_ONE)
    best = cost(best_t, zero_q)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(24):
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
    for zq in (zero_q // 2, zero_q * 3 // 4, min(_FIXED_ONE - 1, zero_q * 5 // 4)):
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
    writer.svarint(choice.lo)
    writer.uvarint(choice.hi - choice.lo)
    if choice.kind == Model.LAPLACE:
        writer.pack("HH", *choice.params)
    elif choice.kind == Model.HISTOGRAM:
        for count in choice.params:
            writer.uvarint(count)


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
    tq, zq, lap_bits = _fit_laplace(counts, lo, hi)
    lap = _ModelChoice(Model.LAPLACE, lo, hi, (tq, zq))
    candidates.append((lap_bits + _header_bits(lap), lap_bits, lap))
    hist = _ModelChoice(Model.HISTOGRAM, lo, hi, tuple(int(c) for c in counts))
    hist_bits = _cost_bits(counts, counts.astype(np.float64))
    candidates.append((hist_bits + _header_bits(hist), hist_bits, hist))
    total, payload, choice = min(candidates, key=lambda c: c[0])
    return choice, payload


# ---------------------------------------------------------------- steps


def _check_steps(steps: np.ndarray, channels: int) -> np.ndarray:
    steps = np.asarray(steps, dtype=np.float32).reshape(-1)
    if steps.size not in (1, channels):
        raise ValueError(f"{steps.size} steps for a tensor with {channels} channels")
    half = steps.astype(np.float16)
    if not np.all(np.isfinite(half)) or np.any(half <= 0) or np.any(half.astype(np.float32) != steps):
        raise ValueError("quantization steps must be positive float16 values")
    return half


# ---------------------------------------------------------------- tensors <-> bytes

_PLAIN, _ZSTD = 0, 1


def encode_tensors(tensors: Sequence[QuantizedTensor]) -> tuple[bytes, list[TensorCodingInfo]]:
    """Serialise tensors: a (maybe zstd-compressed) block of per-tensor headers, then one range-coded stream."""
    headers = ByteWriter()
    encoder = constriction.stream.queue.RangeEncoder()
    infos: list[TensorCodingInfo] = []
    for tensor in tensors:
        symbols = np.asarray(tensor.symbols)
        if symbols.size == 0 or symbols.size > MAX_TENSOR_ELEMENTS:
            raise ValueError(f"tensor of {symbols.size} elements cannot be coded")
        if np.abs(symbols).max() > MAX_SYMBOL_MAGNITUDE:
            raise ValueError("symbol magnitude exceeds 2^15")
        channels = symbols.shape[0] if symbols.ndim else 1
        steps = _check_steps(tensor.steps, channels)
        choice, payload_bits = choose_model(symbols)
        start = len(headers)
        headers.pack("B", int(choice.kind) | (4 if steps.size > 1 else 0))
        headers.raw(steps.astype("<f2").tobytes())
        _write_model(headers, choice)
        if choice.kind != Model.CONST:
            model = constriction.stream.model.Categorical(choice.probabilities(), perfect=False)
            encoder.encode((symbols.reshape(-1) - choice.lo).astype(np.int32), model)
        infos.append(TensorCodingInfo(choice.kind.name.lower(), int(symbols.size),
                                      8 * (len(headers) - start), payload_bits))
    out = ByteWriter()
    header_bytes = headers.getvalue()
    packed = zstandard.ZstdCompressor(level=19).compress(header_bytes)
    if len(packed) < len(header_bytes):
        out.pack("B", _ZSTD)
        out.blob(packed)
    else:
        out.pack("B", _PLAIN)
        out.blob(header_bytes)
    words = encoder.get_compressed()
    out.uvarint(len(words))
    out.raw(words.astype("<u4").tobytes())
    return out.getvalue(), infos


def _inflate(reader: ByteReader, frame: bytes, limit: int) -> bytes:
    """Decompress the zstd weight headers, checking the size the frame declares first.

    zstandard allocates a frame's declared content size up front whatever `max_output_size`
    says, so a few crafted bytes claiming a terabyte would otherwise raise MemoryError.
    """
    try:
        size = zstandard.frame_content_size(frame)
        if not 0 <= size <= limit:
            declared = "no size" if size < 0 else f"{size} bytes"
            raise reader.error(f"weight headers declare {declared} (a size of at most {limit} bytes is required)")
        return zstandard.ZstdDecompressor().decompress(frame, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise reader.error(f"weight headers do not decompress ({exc})") from None


def decode_tensors(reader: ByteReader, shapes: Sequence[tuple[int, ...]]
                   ) -> tuple[list[QuantizedTensor], list[TensorCodingInfo]]:
    """Inverse of encode_tensors; `shapes` come from the architecture in the header."""
    (mode,) = reader.unpack("B")
    if mode not in (_PLAIN, _ZSTD):
        raise reader.error(f"unknown weight-header packing {mode}")
    block = reader.blob()
    header_limit = sum(16 + 2 * (s[0] if s else 1) + 3 * MAX_ALPHABET for s in shapes)
    if mode == _ZSTD:
        block = _inflate(reader, block, header_limit)
    n_words = reader.uvarint(reader.remaining // 4)
    words = np.frombuffer(reader.raw(4 * n_words), dtype="<u4").astype(np.uint32)
    headers = ByteReader(block, reader.where + " weight headers")
    decoder = constriction.stream.queue.RangeDecoder(words) if n_words else None
    tensors: list[QuantizedTensor] = []
    infos: list[TensorCodingInfo] = []
    for index, shape in enumerate(shapes):
        start = headers.offset
        (flags,) = headers.unpack("B")
        kind_value, per_channel = flags & 3, bool(flags & 4)
        if flags & ~7:
            raise headers.error(f"tensor {index}: unknown flags {flags:#x}")
        kind = Model(kind_value)
        channels = shape[0] if shape else 1
        n_steps = channels if per_channel else 1
        steps = np.frombuffer(headers.raw(2 * n_steps), dtype="<f2").astype(np.float32)
        if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
            raise headers.error(f"tensor {index}: invalid quantization step")
        lo = headers.svarint(MAX_SYMBOL_MAGNITUDE)
        span = headers.uvarint(MAX_ALPHABET - 1)
        hi = lo + span
        if hi > MAX_SYMBOL_MAGNITUDE:
            raise headers.error(f"tensor {index}: symbol range [{lo}, {hi}] too wide")
        params: tuple[int, ...] = ()
        if kind == Model.LAPLACE:
            params = headers.unpack("HH")
        elif kind == Model.HISTOGRAM:
            params = tuple(headers.uvarint(MAX_TENSOR_ELEMENTS) for _ in range(span + 1))
            if sum(params) == 0:
                raise headers.error(f"tensor {index}: empty histogram")
        if (kind == Model.CONST) != (span == 0):  # the writer codes a one-symbol range as CONST, only it
            raise headers.error(f"tensor {index}: {kind.name} model over {span + 1} symbols")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        choice = _ModelChoice(kind, lo, hi, params)
        if kind == Model.CONST:
            flat = np.full(count, lo, dtype=np.int32)
        else:
            if decoder is None:
                raise reader.error(f"tensor {index}: coded symbols missing")
            probabilities = choice.probabilities()
            total = float(probabilities.sum())
            if not (math.isfinite(total) and total > 0):  # e.g. a Laplace law far from 0 underflows to nothing
                raise headers.error(f"tensor {index}: {kind.name} model gives its symbols no probability")
            try:
                model = constriction.stream.model.Categorical(probabilities, perfect=False)
                flat = decoder.decode(model, count).astype(np.int32) + lo
            except Exception as exc:  # constriction signals a model it cannot use, or exhausted/invalid data
                raise reader.error(f"tensor {index}: entropy decoding failed ({exc})") from None
        tensors.append(QuantizedTensor(flat.reshape(shape), steps))
        counts = np.bincount(flat - lo, minlength=span + 1)
        payload = 0.0 if kind == Model.CONST else _cost_bits(counts, choice.probabilities())
        infos.append(TensorCodingInfo(kind.name.lower(), count, 8 * (headers.offset - start), payload))
    headers.expect_end()
    return tensors, infos
