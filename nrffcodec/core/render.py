"""Reconstruction of a GOP's frames, one code path for training (sampled pixels) and decoding (whole frames).

A predicted frame t of GOP g is
    x_t = clamp(a * warp(K_side, f_side) + (1 - a) * warp(K_own, f_own) + tanh(r), 0, 1)
with K_own the GOP's keyframe, K_side the previous GOP's keyframe for frames before it and the
next GOP's after it, flows (f_side, f_own) from the flow network and (a = sigmoid, r) from the
residual network. Everything is in YUV 4:4:4 codes / 255; chroma is pooled to 4:2:0 at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .colour import upsample_chroma
from .fields import CoordinateField
from .gop import Gop
from .warp import sample

FRAME_CHUNK = 1 << 16


def planes_to_yuv444(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """uint8 4:2:0 planes -> float [3, H, W] in [0, 1], chroma repeated over its 2x2 block."""
    h, w = y.shape
    stacked = np.stack([y, upsample_chroma(u, h, w), upsample_chroma(v, h, w)]).astype(np.float64) / 255.0
    return torch.from_numpy(stacked).to(device, dtype)


def pool_chroma(yuv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[3, H, W] 4:4:4 -> (Y [H, W], U, V [ceil(H/2), ceil(W/2)]), chroma as 2x2 means (edges replicated)."""
    h, w = yuv.shape[-2:]
    chroma = yuv[1:3][None]
    if h % 2 or w % 2:
        chroma = F.pad(chroma, (0, w % 2, 0, h % 2), mode="replicate")
    pooled = F.avg_pool2d(chroma, 2)[0]
    return yuv[0], pooled[0], pooled[1]


def to_uint8(plane: torch.Tensor) -> np.ndarray:
    return torch.round(plane * 255.0).clamp(0, 255).to(torch.uint8).cpu().numpy()


@dataclasses.dataclass
class GopRenderer:
    """Renders frames of one GOP from its networks and its three reference keyframes."""

    gop: Gop
    height: int
    width: int
    flow_scale: float
    flow_net: CoordinateField
    residual_net: CoordinateField
    # the references' dtype is the rendering's: float32 to train, float64 to decode (RENDER_DTYPE)
    ref_previous: torch.Tensor
    ref_own: torch.Tensor
    ref_next: torch.Tensor
    autocast: bool = False

    def coords(self, t: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Absolute frame index and pixel position -> (t, y, x) in [-1, 1] within the GOP."""
        dtype = self.ref_own.dtype

        def norm(value: torch.Tensor, origin: int, length: int) -> torch.Tensor:
            if length <= 1:
                return torch.zeros_like(value, dtype=dtype)
            # a fractional instant (decoding at another rate) comes in float64: exact until made relative
            relative = (value - origin).to(dtype) if value.dtype == torch.float64 else value.to(dtype) - origin
            return relative * (2.0 / (length - 1)) - 1.0

        return torch.stack(
            [norm(t, self.gop.first, self.gop.count), norm(ys, 0, self.height), norm(xs, 0, self.width)], dim=1
        )

    def points(
        self,
        t: torch.Tensor,
        ys: torch.Tensor,
        xs: torch.Tensor,
        flow_params: Sequence[torch.Tensor] | None = None,
        residual_params: Sequence[torch.Tensor] | None = None,
        frames: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """YUV [N, 3] in [0, 1] at pixels (ys, xs) of frames t (1-D tensors, t != keyframe).

        `frames` are the frames t can hold (default: every predicted frame of the GOP). Which side
        reference to sample is decided from them, not from t, so a step never waits to read t back
        from a GPU (and can be captured as a CUDA graph); t still selects per point.
        """
        coords = self.coords(t, ys, xs)
        # no cast cache: the casts must live inside a captured graph's step, not across steps
        with torch.autocast(
            device_type=coords.device.type, dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=False
        ):
            flow = self.flow_net(coords, flow_params)
            res = self.residual_net(coords, residual_params)
        dtype = self.ref_own.dtype
        flow = flow.to(dtype) * self.flow_scale
        res = res.to(dtype)
        yf, xf = ys.to(dtype), xs.to(dtype)
        own = sample(self.ref_own, yf + flow[:, 2], xf + flow[:, 3])
        sides = {frame < self.gop.key for frame in (self.gop.predicted if frames is None else frames)}
        side_y, side_x = yf + flow[:, 0], xf + flow[:, 1]
        if sides == {True}:
            side = sample(self.ref_previous, side_y, side_x)
        elif sides == {False}:
            side = sample(self.ref_next, side_y, side_x)
        else:
            side = torch.where(
                (t < self.gop.key)[None],
                sample(self.ref_previous, side_y, side_x),
                sample(self.ref_next, side_y, side_x),
            )
        alpha = torch.sigmoid(res[:, 0])
        out = alpha * side + (1.0 - alpha) * own + torch.tanh(res[:, 1:4]).T
        return out.T.clamp(0.0, 1.0)

    @torch.no_grad()
    def frame(self, t: int) -> torch.Tensor:
        """Whole predicted frame t as YUV 4:4:4 [3, H, W]."""
        device = self.ref_own.device
        ys, xs = torch.meshgrid(
            torch.arange(self.height, device=device), torch.arange(self.width, device=device), indexing="ij"
        )
        ys, xs = ys.reshape(-1), xs.reshape(-1)
        out = []
        for start in range(0, ys.numel(), FRAME_CHUNK):
            sl = slice(start, start + FRAME_CHUNK)
            tt = torch.full_like(ys[sl], t)
            out.append(self.points(tt, ys[sl], xs[sl], frames=(t,)))
        return torch.cat(out).T.reshape(3, self.height, self.width)
