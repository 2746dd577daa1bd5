"""Uniform weight quantization: steps per tensor or per output channel, stored as float16.

`fake_quantize` is what the network sees during quantization-aware training (straight-through
gradient); `quantize` produces the integers the file stores. Both compute round(w / step) * step
in float32 with the same step, so the decoder's `symbols * step` equals the trained forward pass.
"""
from __future__ import annotations

import numpy as np
import torch

from bitstream import QuantizedTensor

_MIN_STEP = float(np.finfo(np.float16).tiny)  # smallest normal float16


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def _per_channel(w: torch.Tensor, per_channel: bool) -> bool:
    return per_channel and w.ndim >= 2 and w.shape[0] > 1


def steps_for(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Min-max symmetric steps, rounded *up* to float16 so that |w| / step never exceeds qmax."""
    w = w.detach().float()
    if _per_channel(w, per_channel):
        peak = w.abs().reshape(w.shape[0], -1).amax(dim=1)
    else:
        peak = w.abs().max().reshape(1)
    step = (peak / qmax(bits)).clamp(min=_MIN_STEP, max=60000.0)
    half = step.half().float()
    up = torch.nextafter(step.half(), torch.tensor(float("inf"), dtype=torch.float16, device=step.device)).float()
    return torch.where(half >= step, half, up)


def _broadcast(step: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return step.reshape((-1,) + (1,) * (w.ndim - 1)) if step.numel() > 1 else step.reshape(())


def fake_quantize(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Quantize-dequantize in the forward pass, identity gradient (straight-through)."""
    step = _broadcast(steps_for(w, bits, per_channel), w)
    q = torch.clamp(torch.round(w / step), -qmax(bits), qmax(bits)) * step
    return w + (q - w).detach()


def quantize(w: torch.Tensor, bits: int, per_channel: bool) -> QuantizedTensor:
    step = steps_for(w, bits, per_channel)
    symbols = torch.clamp(torch.round(w.detach().float() / _broadcast(step, w)), -qmax(bits), qmax(bits))
    return QuantizedTensor(symbols.to(torch.int32).cpu().numpy(), step.cpu().numpy().astype(np.float32))


def dequantize(tensor: QuantizedTensor, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.from_numpy(tensor.dequantize()).to(device)
