"""One metrics function for every codec: PSNR-RGB (mean of per-frame PSNR) and PSNR-YUV 4:2:0 (6:1:1).

Both videos are compared as decoded 8-bit 4:2:0 planes; RGB comes from colour.yuv420_to_rgb8,
the same conversion for nrff and for x264/x265, so differences are the codecs' alone.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .colour import yuv420_to_rgb8

PSNR_CAP = 100.0  # reported for identical content (MSE 0), keeps JSON finite


def psnr(mse: float, peak: float = 255.0) -> float:
    if mse <= 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(peak * peak / mse))


@dataclasses.dataclass(frozen=True)
class Quality:
    psnr_rgb: float
    psnr_yuv: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    frames: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in dataclasses.asdict(self).items()}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def rgb_mse(reference: tuple[np.ndarray, ...], decoded: tuple[np.ndarray, ...], matrix: int,
            full_range: bool) -> float:
    """MSE over 8-bit RGB (all channels) of two pictures given as 4:2:0 (Y, U, V) planes."""
    return _mse(yuv420_to_rgb8(*reference, matrix, full_range), yuv420_to_rgb8(*decoded, matrix, full_range))


def measure(reference, decoded) -> Quality:
    """Compare two io.Video objects (same size and frame count)."""
    if reference.y.shape != decoded.y.shape:
        raise ValueError(f"cannot compare {reference.y.shape} with {decoded.y.shape}")
    per_frame = []
    for t in range(reference.frame_count):
        per_frame.append(psnr(rgb_mse((reference.y[t], reference.u[t], reference.v[t]),
                                      (decoded.y[t], decoded.u[t], decoded.v[t]), reference.matrix,
                                      reference.full_range)))
    mse_y, mse_u, mse_v = (_mse(getattr(reference, p), getattr(decoded, p)) for p in "yuv")
    return Quality(
        psnr_rgb=float(np.mean(per_frame)),
        psnr_yuv=psnr((6 * mse_y + mse_u + mse_v) / 8),
        psnr_y=psnr(mse_y), psnr_u=psnr(mse_u), psnr_v=psnr(mse_v),
        frames=reference.frame_count,
    )


MS_SSIM_WINDOW = 11  # Wang et al.'s Gaussian window (sigma 1.5); shrunk for frames too small for it
MS_SSIM_BATCH = 8


def ms_ssim_window(height: int, width: int) -> int | None:
    """The largest odd window, up to 11, that survives MS-SSIM's four 2x downsamplings; None if < 3.

    pytorch-msssim needs the smaller side > (window - 1) * 16, i.e. 161 pixels for the standard
    window: QCIF (144 lines) gets 9. Scores stay comparable between codecs on the same clip.
    """
    window = min(MS_SSIM_WINDOW, (min(height, width) - 1) // 16 + 1)
    window -= 1 - window % 2
    return window if window >= 3 else None


def ms_ssim_rgb(reference, decoded) -> float | None:
    """Mean per-frame MS-SSIM over RGB (pytorch-msssim, 5 scales, data range 255), converted like
    `measure` does; None when frames are too small for it."""
    import torch
    from pytorch_msssim import ms_ssim

    window = ms_ssim_window(reference.height, reference.width)
    if window is None:
        return None
    scores = []
    for start in range(0, reference.frame_count, MS_SSIM_BATCH):
        pair = []
        for video in (reference, decoded):
            part = video.frames(start, start + MS_SSIM_BATCH)
            rgb = yuv420_to_rgb8(part.y, part.u, part.v, reference.matrix, reference.full_range)
            pair.append(torch.from_numpy(rgb).permute(0, 3, 1, 2).float())
        with torch.no_grad():
            scores.append(ms_ssim(pair[0], pair[1], data_range=255, size_average=False, win_size=window))
    return float(torch.cat(scores).mean())
