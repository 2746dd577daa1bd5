"""Uniform weight quantization: steps per tensor or per output channel, each one of the format's 256 step values.

Two ways to pick a step: min-max (the largest weight maps to the largest symbol: every weight
kept within half a step, but symbols spread evenly and cost ~bits each) or a fixed fraction of
the weights' RMS (`step_ratio`): symbols then follow the weights' bell shape and the entropy
coder pays roughly log2(1 / step_ratio) + 2 bits per weight; the rare weight beyond
`qmax * step` is clipped, and quantization-aware training adapts the network to both.

`fake_quantize` is what the network sees during quantization-aware training (straight-through
gradient); `quantize` produces the integers the file stores. Both compute round(w / step) * step
in float32 with the same step, so the decoder's `symbols * step` equals the trained forward pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from bitstream import STEP_VALUES, QuantizedTensor

from ..settings import QuantConfig

_STEP_GRID = torch.from_numpy(STEP_VALUES)  # what a one-byte step code stands for (bitstream.entropy)
FINE_STEP_BELOW = 64  # elements: smaller tensors, and every vector, get the finer step
FINE_STEP_DIVISOR = 4


def quant_config_for(w: torch.Tensor, config: QuantConfig, output_layer: bool = False) -> QuantConfig:
    """Biases and Swish parameters get a 4x finer step: they are few and every one matters.

    So do the weights of a network's output layer, with one step per output channel: its rows
    (blend weight, residual, flow) differ in scale (docs/decisions/).
    """
    if config.step_ratio is None:
        return config
    if output_layer:
        return dataclasses.replace(config, step_ratio=config.step_ratio / FINE_STEP_DIVISOR, per_channel=True)
    if w.ndim >= 2 and w.numel() >= FINE_STEP_BELOW:
        return config
    return dataclasses.replace(config, step_ratio=config.step_ratio / FINE_STEP_DIVISOR)


def _rows(w: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    """[channels, n] view when per-channel applies (matrices with >1 output row), else [1, n]."""
    if config.per_channel and w.ndim >= 2 and w.shape[0] > 1:
        return w.reshape(w.shape[0], -1)
    return w.reshape(1, -1)


def steps_for(w: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    """One step per row of `_rows(w)`, on the format's step grid (values 9% apart, 2^-20 to ~3,756)."""
    rows = _rows(w.detach().float(), config)
    if config.step_ratio is None:  # rounded *up*, so that |w| / step never exceeds qmax (within the grid)
        return _on_grid(rows.abs().amax(dim=1) / config.qmax, up=True)
    rms = rows.pow(2).mean(dim=1).sqrt()
    return _on_grid(rms * config.step_ratio, up=False)


def _on_grid(step: torch.Tensor, up: bool) -> torch.Tensor:
    """The grid value at or above `step` (up), else the nearest in ratio; clamped to the grid's ends."""
    grid = _STEP_GRID.to(step.device)
    above = torch.bucketize(step, grid).clamp(max=grid.numel() - 1)  # first grid value >= step
    if up:
        return grid[above]
    below = (above - 1).clamp(min=0)
    return torch.where(step * step < grid[below] * grid[above], grid[below], grid[above])


def _broadcast(step: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return step.reshape((-1,) + (1,) * (w.ndim - 1)) if step.numel() > 1 else step.reshape(())


def fake_quantize(w: torch.Tensor, config: QuantConfig, step: torch.Tensor | None = None) -> torch.Tensor:
    """Quantize-dequantize in the forward pass, identity gradient (straight-through).

    Pass `step` (from steps_for) to keep the grid fixed while the weights move during training.
    """
    step = _broadcast(steps_for(w, config) if step is None else step, w)
    q = torch.clamp(torch.round(w / step), -config.qmax, config.qmax) * step
    return w + (q - w).detach()


def quantize(w: torch.Tensor, config: QuantConfig, step: torch.Tensor | None = None) -> QuantizedTensor:
    step = steps_for(w, config) if step is None else step
    symbols = torch.clamp(torch.round(w.detach().float() / _broadcast(step, w)), -config.qmax, config.qmax)
    return QuantizedTensor(symbols.to(torch.int32).cpu().numpy(), step.cpu().numpy().astype(np.float32))


def dequantize(tensor: QuantizedTensor, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.from_numpy(tensor.dequantize()).to(device)
