"""Uniform weight quantization: steps per tensor or per output channel, stored as float16.

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

from bitstream import QuantizedTensor

_MIN_STEP = float(np.finfo(np.float16).tiny)  # smallest normal float16
_MAX_STEP = 60000.0


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    bits: int = 8
    per_channel: bool = False
    step_ratio: float | None = None  # step = step_ratio * RMS; None = min-max

    @property
    def qmax(self) -> int:
        return qmax(self.bits)


SMALL_TENSOR = 64


FINE_STEP_DIVISOR = 4


def quant_config_for(w: torch.Tensor, config: QuantConfig, output_layer: bool = False) -> QuantConfig:
    """Biases and Swish parameters get a 4x finer step: they are few and every one matters.

    So do the weights of a network's output layer, with one step per output channel: they map
    every feature to the blend weight, the residual and the flow, whose rows differ in scale, and
    rounding them at the hidden layers' step cost bikes 2.5-5 dB before quantization-aware training
    and ~1.5 dB after it (docs/ablations.md), for ~75 bytes a GOP when refined.
    """
    if config.step_ratio is None:
        return config
    if output_layer:
        return dataclasses.replace(config, step_ratio=config.step_ratio / FINE_STEP_DIVISOR, per_channel=True)
    if w.ndim >= 2 and w.numel() >= SMALL_TENSOR:
        return config
    return dataclasses.replace(config, step_ratio=config.step_ratio / FINE_STEP_DIVISOR)


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def _rows(w: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    """[channels, n] view when per-channel applies (matrices with >1 output row), else [1, n]."""
    if config.per_channel and w.ndim >= 2 and w.shape[0] > 1:
        return w.reshape(w.shape[0], -1)
    return w.reshape(1, -1)


def steps_for(w: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    """One float16-exact step per row of `_rows(w)`."""
    rows = _rows(w.detach().float(), config)
    if config.step_ratio is None:
        step = (rows.abs().amax(dim=1) / config.qmax).clamp(_MIN_STEP, _MAX_STEP)
        half = step.half().float()
        # round *up* so that |w| / step never exceeds qmax
        up = torch.nextafter(step.half(), torch.tensor(float("inf"), dtype=torch.float16, device=step.device))
        return torch.where(half >= step, half, up.float())
    rms = rows.pow(2).mean(dim=1).sqrt()
    return (rms * config.step_ratio).clamp(_MIN_STEP, _MAX_STEP).half().float()


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
