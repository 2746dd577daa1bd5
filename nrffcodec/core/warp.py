"""Backward warping: read a reference image at (y + flow_y, x + flow_x) with bilinear interpolation.

Bilinear, not NRFF's bicubic: as good here at a fraction of the cost (docs/decisions/).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def sample(image: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of `image` [C, H, W] at pixel coordinates y, x (same shape S) -> [C, *S].

    Coordinates outside the frame take the border's value; align_corners=True makes pixel
    centre i sit exactly at normalised 2i/(n-1) - 1, so zero flow reproduces the image exactly.
    """
    channels, height, width = image.shape
    gx = x * (2.0 / max(width - 1, 1)) - 1.0
    gy = y * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1).reshape(1, 1, -1, 2).to(image.dtype)
    out = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape((channels,) + tuple(y.shape))
