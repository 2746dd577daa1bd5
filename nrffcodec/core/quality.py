"""PSNR, one function for every codec: PSNR-RGB (mean of per-frame PSNR) and PSNR-YUV 4:2:0 (6:1:1).

Both videos are compared as decoded 8-bit 4:2:0 planes; RGB comes from colour.yuv420_to_rgb8,
the same conversion for nrff and for every baseline. The encoder measures its own output with
it; the evaluation scores every codec with it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .colour import yuv420_to_rgb8
from .video import Video

PSNR_CAP = 100.0  # reported for identical content (MSE 0), keeps JSON finite


def psnr(mse: float, peak: float = 255.0) -> float:
    if mse <= 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * math.log10(peak * peak / mse))


def psnr_yuv420(mse_y: float, mse_u: float, mse_v: float) -> float:
    """PSNR-YUV 4:2:0, the codec convention: the planes' MSE weighted 6:1:1."""
    return psnr((6 * mse_y + mse_u + mse_v) / 8)


def mse_of(psnr_db: float, peak: float = 255.0) -> float:
    """The mean squared error a PSNR stands for (psnr's inverse below its cap)."""
    return peak * peak * 10 ** (-psnr_db / 10)


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


def rgb_mse(reference: tuple[np.ndarray, ...], decoded: tuple[np.ndarray, ...], matrix: int, full_range: bool) -> float:
    """MSE over 8-bit RGB (all channels) of two pictures given as 4:2:0 (Y, U, V) planes."""
    return _mse(yuv420_to_rgb8(*reference, matrix, full_range), yuv420_to_rgb8(*decoded, matrix, full_range))


@dataclasses.dataclass(frozen=True)
class FrameQuality:
    """One frame's PSNR: each plane, YUV 4:2:0 (6:1:1) and RGB."""

    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    psnr_rgb: float


def frame_quality(reference: Video, decoded: Video, t: int) -> FrameQuality:
    """Frame t of `decoded` against frame t of `reference`, measured as measure() measures a video."""
    planes = reference.planes(t), decoded.planes(t)
    mse_y, mse_u, mse_v = (_mse(a, b) for a, b in zip(*planes))
    return FrameQuality(
        psnr_y=psnr(mse_y),
        psnr_u=psnr(mse_u),
        psnr_v=psnr(mse_v),
        psnr_yuv=psnr_yuv420(mse_y, mse_u, mse_v),
        psnr_rgb=psnr(rgb_mse(*planes, reference.matrix, reference.full_range)),
    )


class QualityAccumulator:
    """measure() fed segment by segment: per-frame PSNR-RGB and whole-sequence squared-error sums (constant memory)."""

    def __init__(self, matrix: int, full_range: bool) -> None:
        self.matrix, self.full_range = matrix, full_range
        self.per_frame: list[float] = []
        self._sse = [0.0, 0.0, 0.0]  # Y, U, V squared errors summed over every pixel so far
        self._samples = [0, 0, 0]

    def add(self, reference: Video, decoded: Video) -> None:
        """Frames of `decoded` against the same frames of `reference` (same sizes and count)."""
        if reference.y.shape != decoded.y.shape:
            raise ValueError(f"cannot compare {reference.y.shape} with {decoded.y.shape}")
        for t in range(reference.frame_count):
            self.per_frame.append(psnr(rgb_mse(reference.planes(t), decoded.planes(t), self.matrix, self.full_range)))
        for i, plane in enumerate("yuv"):
            d = getattr(reference, plane).astype(np.float64) - getattr(decoded, plane).astype(np.float64)
            self._sse[i] += float(np.sum(d * d))
            self._samples[i] += d.size

    def result(self) -> Quality:
        mse_y, mse_u, mse_v = (s / max(n, 1) for s, n in zip(self._sse, self._samples))
        return Quality(
            psnr_rgb=float(np.mean(self.per_frame)),
            psnr_yuv=psnr_yuv420(mse_y, mse_u, mse_v),
            psnr_y=psnr(mse_y),
            psnr_u=psnr(mse_u),
            psnr_v=psnr(mse_v),
            frames=len(self.per_frame),
        )


def measure(reference: Video, decoded: Video) -> Quality:
    """Compare two videos of the same size and frame count."""
    accumulator = QualityAccumulator(reference.matrix, reference.full_range)
    accumulator.add(reference, decoded)
    return accumulator.result()
