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

Why so compact (format 3): at short GOPs the framing of each tensor was a large share of a
network pair's few hundred bytes (docs/decisions/0031-format-3-compact-tensors.md).

Decoder determinism: probabilities are computed from the stored integers with IEEE float64
multiplications and divisions only (no exp/log), so every platform builds the same tables;
constriction then quantizes them with `perfect=False`, identically in encoder and decoder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import constriction
import numpy as np

from .bytes_io import ByteReader, ByteWriter
from .models import (
    MAX_SYMBOL_MAGNITUDE,
    MAX_TENSOR_ELEMENTS,
    Model,
    ModelChoice,
    choose_model,
    cost_bits,
    read_model,
    write_model,
)
from .steps import STEP_VALUES, step_codes

_FIXED_ONE = 256  # Laplace parameters are 8-bit fixed point


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


# ---------------------------------------------------------------- tensors <-> bytes

_PER_CHANNEL = 4
# Tensors of fewer elements (biases, Swish parameters, small output layers) share one model: on its own
# each paid ~4 header bytes for ~5 bytes of symbols (a GOP-2 network pair has eight of them).
SHARED_MODEL_BELOW = 64  # elements: tensors smaller than this share one entropy model


def _is_small(shape: tuple[int, ...]) -> bool:
    return math.prod(shape) < SHARED_MODEL_BELOW


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

    Each large tensor has a model of its own; the small ones (`SHARED_MODEL_BELOW`) share one, coded last.
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
    own_kind = {unit[0]: choice.kind for unit, (choice, _) in zip(units[: len(units) - shared], choices)}
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
        write_model(headers, choice)
        model_bytes.append(len(headers) - before)
        if choice.kind != Model.CONST:
            model = constriction.stream.model.Categorical(choice.probabilities(), perfect=False)
            encoder.encode((symbols - choice.lo).astype(np.int32), model)
    words = encoder.get_compressed()
    return headers.getvalue() + words.astype("<u4").tobytes(), _infos(tensors, units, choices, codes, model_bytes)


def _infos(
    tensors: Sequence[QuantizedTensor],
    units: list[list[int]],
    choices: list[tuple[ModelChoice, float]],
    codes: list[np.ndarray],
    model_bytes: list[int],
) -> list[TensorCodingInfo]:
    """Per tensor: its model, and its share (by elements) of its unit's header and payload bits."""
    out: list[TensorCodingInfo | None] = [None] * len(tensors)
    for unit, (choice, payload), header in zip(units, choices, model_bytes):
        sizes = [int(np.size(tensors[i].symbols)) for i in unit]
        for i, size in zip(unit, sizes):
            share = size / sum(sizes)
            out[i] = TensorCodingInfo(
                choice.kind.name.lower(), size, round(4 + 8 * codes[i].size + 8 * header * share), payload * share
            )
    return [info for info in out if info is not None]


def decode_tensors(
    reader: ByteReader, shapes: Sequence[tuple[int, ...]]
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
    kinds = [nibbles[unit[0]] & 3 for unit in units[: len(units) - shared]]
    if shared:
        if nibbles[-1] & ~3:
            raise reader.error(f"shared model: unknown flags {nibbles[-1]:#x}")
        kinds.append(nibbles[-1])
    model_bytes, choices = [], []
    for n, kind in enumerate(kinds):
        before = reader.offset
        choices.append(read_model(reader, Model(kind), n))
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
            except Exception as exc:  # noqa: BLE001 - constriction raises plain exceptions for bad or exhausted data
                raise reader.error(f"model {n}: entropy decoding failed ({exc})") from None
        counts = np.bincount(flat - choice.lo, minlength=choice.hi - choice.lo + 1)
        payloads.append(0.0 if choice.kind == Model.CONST else cost_bits(counts, choice.probabilities()))
        first = 0
        for i in unit:
            size = math.prod(shapes[i])
            symbols[i] = flat[first : first + size].reshape(shapes[i])
            first += size
    tensors = [QuantizedTensor(s, st) for s, st in zip(symbols, steps)]  # STEP_VALUES[...] is a copy
    return tensors, _infos(tensors, units, list(zip(choices, payloads)), codes, model_bytes)
