"""The coordinate networks: positional encoding of (t, y, x) in [-1, 1], an MLP with learnable Swish.

Weights are applied functionally (`forward(coords, params)`) so the same module runs with its
float parameters, with fake-quantized ones during quantization-aware training, and with the
dequantized integers the decoder read from the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from bitstream import FieldArch, Header


def positional_encoding(coords: torch.Tensor, freqs: Sequence[int]) -> torch.Tensor:
    """[N, 3] -> [N, 3 + 2*sum(freqs)]: the raw coordinates, then sin/cos(2^k * pi * c) per axis."""
    parts = [coords]
    for axis, count in enumerate(freqs):
        if count:
            scales = math.pi * (2.0 ** torch.arange(count, device=coords.device, dtype=coords.dtype))
            angles = coords[:, axis : axis + 1] * scales
            parts += [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts, dim=1)


def default_freqs(length: int) -> int:
    """floor(log2(axis length)) frequencies, as in NRFF; 0 for a single sample."""
    return int(math.floor(math.log2(length))) if length > 1 else 0


class CoordinateField(nn.Module):
    """Linear(emb, w) -> Swish -> [Linear(w, w) -> Swish] x hidden_layers -> Linear(w, out)."""

    def __init__(self, arch: FieldArch, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.arch = arch
        w = arch.width
        self.first = nn.Linear(arch.embedding_size, w, device=device)
        n_hidden = 1 if arch.shared_hidden and arch.hidden_layers else arch.hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(w, w, device=device) for _ in range(n_hidden))
        self.last = nn.Linear(w, arch.out_channels, device=device)
        n_act = 1 + arch.hidden_layers
        # Swish x * sigmoid(beta * x + b): row 0 holds every beta, row 1 every b.
        self.swish = nn.Parameter(torch.stack([torch.ones(n_act, device=device), torch.zeros(n_act, device=device)]))
        with torch.no_grad():
            self.last.weight.zero_()
            self.last.bias.zero_()

    def ordered_parameters(self) -> list[nn.Parameter]:
        """The tensors in storage order: first, hidden..., last (weight then bias), then Swish."""
        out = [self.first.weight, self.first.bias]
        for layer in self.hidden:
            out += [layer.weight, layer.bias]
        return out + [self.last.weight, self.last.bias, self.swish]

    def forward(self, coords: torch.Tensor, params: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        p = self.ordered_parameters() if params is None else list(params)
        first_w, first_b, *rest = p
        hidden = rest[: 2 * len(self.hidden)]
        last_w, last_b, swish = rest[2 * len(self.hidden) :]
        arch = self.arch
        x = positional_encoding(coords, (arch.freqs_t, arch.freqs_y, arch.freqs_x))
        x = F.linear(x, first_w, first_b)
        x = x * torch.sigmoid(swish[0, 0] * x + swish[1, 0])
        for layer in range(arch.hidden_layers):
            j = 0 if arch.shared_hidden else layer
            x = F.linear(x, hidden[2 * j], hidden[2 * j + 1])
            x = x * torch.sigmoid(swish[0, layer + 1] * x + swish[1, layer + 1])
        return F.linear(x, last_w, last_b)


def parameter_shapes(arch: FieldArch) -> list[tuple[int, ...]]:
    """Shapes of the network's tensors in storage order (the decoder's contract with the file)."""
    return [tuple(p.shape) for p in CoordinateField(arch, device="meta").ordered_parameters()]


def network_shapes(header: Header) -> list[list[tuple[int, ...]]]:
    """The flow's and the residual's tensor shapes (parameter_shapes): what reading a GOP's networks takes."""
    return [parameter_shapes(header.flow), parameter_shapes(header.residual)]


def parameter_count(arch: FieldArch) -> int:
    return sum(math.prod(s) for s in parameter_shapes(arch))
