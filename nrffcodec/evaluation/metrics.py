"""Metrics every codec of a sweep is scored with: PSNR (the codec's own, core.quality) and MS-SSIM on RGB."""

from __future__ import annotations

from ..core.colour import yuv420_to_rgb8
from ..core.quality import Quality, measure, psnr
from ..core.video import Video

__all__ = ["Quality", "measure", "ms_ssim_rgb", "ms_ssim_window", "psnr"]

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


def ms_ssim_rgb(reference: Video, decoded: Video) -> float | None:
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
