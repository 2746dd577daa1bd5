"""Weight entropy coding: exact round trips, model choice, determinism of the coded bytes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from bitstream import BitstreamError
from bitstream.bytes_io import ByteReader
from bitstream.entropy import STEP_VALUES, QuantizedTensor, choose_model, decode_tensors, encode_tensors


def _round_trip(tensors: list[QuantizedTensor]) -> list[QuantizedTensor]:
    data, _ = encode_tensors(tensors)
    reader = ByteReader(data, "test")
    out, infos = decode_tensors(reader, [t.symbols.shape for t in tensors])
    reader.expect_end()
    assert len(infos) == len(tensors)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_round_trip_is_exact_on_random_tensors(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tensors = []
    for _ in range(6):
        shape = tuple(int(s) for s in rng.integers(1, 24, size=rng.integers(1, 3)))
        kind = rng.integers(4)
        if kind == 0:
            symbols = np.rint(rng.laplace(0, rng.uniform(0.3, 20), shape))
        elif kind == 1:
            symbols = rng.integers(-127, 128, shape)
        elif kind == 2:
            symbols = np.full(shape, rng.integers(-5, 5))
        else:
            symbols = np.where(rng.random(shape) < 0.8, 0, rng.integers(-3000, 3000, shape))
        symbols = np.clip(symbols, -32767, 32767).astype(np.int32)
        n_steps = shape[0] if rng.random() < 0.5 else 1
        steps = rng.choice(STEP_VALUES, n_steps)
        tensors.append(QuantizedTensor(symbols, steps))
    for before, after in zip(tensors, _round_trip(tensors)):
        np.testing.assert_array_equal(before.symbols, after.symbols)
        np.testing.assert_array_equal(before.steps, after.steps)
        np.testing.assert_array_equal(before.dequantize(), after.dequantize())


def test_laplace_model_wins_on_laplacian_symbols_and_codes_near_entropy() -> None:
    rng = np.random.default_rng(1)
    symbols = np.rint(rng.laplace(0, 3.0, 5000)).astype(np.int32)
    choice, payload_bits = choose_model(symbols)
    assert choice.kind.name == "LAPLACE"
    values, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    entropy_bits = -(counts * np.log2(p)).sum()
    data, _ = encode_tensors([QuantizedTensor(symbols, np.ones(1, np.float32))])
    assert 8 * len(data) < entropy_bits * 1.03 + 200


def test_constant_tensor_costs_no_payload() -> None:
    data, infos = encode_tensors([QuantizedTensor(np.zeros((64, 64), np.int32), np.ones(1, np.float32))])
    assert infos[0].model == "const"
    assert len(data) < 16


def test_coded_bytes_are_stable() -> None:
    """Golden digest: a change here means old files may no longer decode (constriction or model change)."""
    rng = np.random.default_rng(42)
    tensors = [
        QuantizedTensor(np.rint(rng.laplace(0, 4, (16, 8))).astype(np.int32), np.full(16, 0.125, np.float32)),
        QuantizedTensor(rng.integers(-100, 100, 50).astype(np.int32), np.ones(1, np.float32)),
    ]
    data, _ = encode_tensors(tensors)
    assert hashlib.sha256(data).hexdigest()[:16] == GOLDEN


GOLDEN = "3e4c2aec313e86c0"


def test_invalid_steps_are_refused_on_write() -> None:
    with pytest.raises(ValueError):
        encode_tensors([QuantizedTensor(np.zeros(4, np.int32), np.array([0.1], np.float32))])  # not a step value
    with pytest.raises(ValueError):
        encode_tensors([QuantizedTensor(np.zeros(4, np.int32), np.array([-1.0], np.float32))])


def test_garbage_gives_bitstream_error() -> None:
    shapes = [(8, 8), (8,)]
    for garbage in (b"", b"\x07", b"\x01\xff\xff\xff\xff\xff", bytes(range(40))):
        with pytest.raises(BitstreamError):
            decode_tensors(ByteReader(garbage, "test"), shapes)


def test_small_tensors_share_one_model() -> None:
    """Eight 8-element biases: flags and steps each, but one model header (not eight)."""
    rng = np.random.default_rng(3)
    biases = [QuantizedTensor(rng.integers(-9, 10, 8).astype(np.int32), np.ones(1, np.float32)) for _ in range(8)]
    data, infos = encode_tensors(biases)
    header_bits = sum(i.header_bits for i in infos)
    assert header_bits <= 8 * (4 + 8 + 1 + 3) + 8, "4 flag bytes (9 nibbles), 8 steps, one RAW or LAPLACE model"
    assert len({i.model for i in infos}) == 1
    assert [t.symbols.tolist() for t in _round_trip(biases)] == [b.symbols.tolist() for b in biases]
