"""YUV 4:2:0 <-> RGB, one definition for the codec's loss, the metrics and PNG output.

Chroma is upsampled by repeating each sample over its 2x2 block (cropped at odd edges), so the
RGB a metric sees is a fixed linear function of the coded planes, identical for nrff and for
x264/x265 decoded frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from bitstream import Matrix

_KR_KB = {Matrix.BT601: (0.299, 0.114), Matrix.BT709: (0.2126, 0.0722)}


def colour_name(matrix: int, full_range: bool) -> str:
    """'BT.601 limited range', 'BT.709 full range': a video's colour as messages name it."""
    return f"{Matrix(matrix).name.replace('BT', 'BT.')} {'full' if full_range else 'limited'} range"


def yuv_to_rgb_matrix(matrix: int, full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with rgb = A @ (Y, U, V)/255 + b, rgb in [0, 1] nominal."""
    kr, kb = _KR_KB[Matrix(matrix)]
    kg = 1.0 - kr - kb
    if full_range:
        ys, cs, y0 = 1.0, 1.0, 0.0
    else:
        ys, cs, y0 = 255.0 / 219.0, 255.0 / 224.0, 16.0 / 255.0
    c0 = 128.0 / 255.0
    # rgb from (y', u', v') where y' = (Y - y0) * ys, u' = (U - c0) * cs
    core = np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ]
    )
    a = core * np.array([ys, cs, cs])
    b = -a @ np.array([y0, c0, c0])
    return a, b


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Repeat each chroma sample over its 2x2 luma block; works on [..., h, w] arrays."""
    return plane.repeat(2, axis=-2).repeat(2, axis=-1)[..., :height, :width]


def yuv420_to_rgb8(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: int, full_range: bool) -> np.ndarray:
    """uint8 planes [..., H, W] / [..., ceil(H/2), ceil(W/2)] -> uint8 RGB [..., H, W, 3] (rounded, clipped)."""
    h, w = y.shape[-2:]
    a, b = yuv_to_rgb_matrix(matrix, full_range)
    yuv = np.stack([y, upsample_chroma(u, h, w), upsample_chroma(v, h, w)], axis=-1).astype(np.float32) / 255.0
    rgb = yuv @ a.T.astype(np.float32) + b.astype(np.float32)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def rgb8_to_yuv420(rgb: np.ndarray, matrix: int, full_range: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB [H, W, 3] -> uint8 planes; chroma is the 2x2 block mean (for tests and PNG input)."""
    a, b = yuv_to_rgb_matrix(matrix, full_range)
    inv = np.linalg.inv(a)
    yuv = (rgb.astype(np.float64) / 255.0 - b) @ inv.T * 255.0
    h, w = rgb.shape[:2]
    y = np.clip(np.rint(yuv[..., 0]), 0, 255).astype(np.uint8)
    chroma = []
    for c in (1, 2):
        plane = np.pad(yuv[..., c], ((0, h % 2), (0, w % 2)), mode="edge")
        pooled = plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))
        chroma.append(np.clip(np.rint(pooled), 0, 255).astype(np.uint8))
    return y, chroma[0], chroma[1]


YuvToRgb = Callable[[torch.Tensor], torch.Tensor]


def yuv_to_rgb_torch(
    matrix: int, full_range: bool, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> YuvToRgb:
    """A differentiable [..., 3] YUV codes in [0, 1] -> float RGB (for the training loss).

    The matrix goes to the device once, here: a copy from the host inside the training step
    would block a captured CUDA graph.
    """
    a, b = yuv_to_rgb_matrix(matrix, full_range)
    a_t = torch.as_tensor(a.T, dtype=dtype, device=device)
    b_t = torch.as_tensor(b, dtype=dtype, device=device)
    return lambda yuv: yuv @ a_t + b_t
