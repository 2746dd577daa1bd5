"""Probe: how much could a better entropy model save on a file's network weights?

Per GOP of each .nrf: the bytes the weights take now (models, steps and range-coded payload),
beside three lower bounds for their payload alone:
- each tensor's empirical entropy: what a free model fitted to each tensor's own symbols would need;
- the same for all tensors pooled in one model;
- each tensor's entropy given the magnitude (0, 1, 2, 3+) of the symbol before it in the tensor's
  order, a simple context model. With a few thousand weights this estimate is biased low.
None of them pays for its model, so the gap to the bytes now bounds what any entropy model of
these symbols (NVRC's learned one included) could save. A measurement for docs/decisions/0058:

    python benchmarks/weight_entropy.py out.nrf
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import entropy_bits

from nrffcodec.decoder import file_parts

CONTEXT_CLASSES = 4  # |previous symbol| = 0, 1, 2, 3 or more


def context_bits(symbols: np.ndarray) -> float:
    """Entropy of each symbol given the magnitude class of the one before it."""
    previous = np.concatenate([[0], symbols[:-1]])
    classes = np.minimum(np.abs(previous), CONTEXT_CLASSES - 1)
    return sum(entropy_bits(symbols[classes == k]) for k in range(CONTEXT_CLASSES))


def gop_bounds(tensors: Sequence[np.ndarray]) -> dict[str, float]:
    """Bytes of each lower bound for one GOP's tensors (flattened symbols)."""
    return {
        "per_tensor": sum(entropy_bits(t) for t in tensors) / 8,
        "pooled": entropy_bits(np.concatenate(tensors)) / 8,
        "context": sum(context_bits(t) for t in tensors) / 8,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    print("| file | GOP | weights | bytes now | payload now | per-tensor entropy | pooled | with context |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.files:
        _, _, chunks = file_parts(path)
        for chunk in chunks:
            tensors = [np.asarray(t.symbols).reshape(-1) for net in chunk.networks for t in net]
            if not tensors:
                continue
            payload = sum(info.payload_bits for net in chunk.coding for info in net) / 8
            bounds = gop_bounds(tensors)
            weights = sum(t.size for t in tensors)
            print(
                f"| {path.name} | {chunk.gop_index} | {weights:,} | {chunk.weights_size:,} | {payload:,.0f} "
                f"| {bounds['per_tensor']:,.0f} | {bounds['pooled']:,.0f} | {bounds['context']:,.0f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
