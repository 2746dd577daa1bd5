"""Synthetic test clips with real motion: a smooth random texture translating across the frame."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from nrffcodec.core.video import Video


def _texture(height: int, width: int, rng: np.random.Generator, smooth: int) -> np.ndarray:
    noise = rng.standard_normal((height + 2 * smooth, width + 2 * smooth))
    kernel = np.ones(smooth) / smooth
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), axis, noise)
    noise = noise[smooth:-smooth, smooth:-smooth]
    noise = (noise - noise.mean()) / (noise.std() + 1e-9)
    return noise


def moving_texture(
    width: int = 48,
    height: int = 32,
    frames: int = 10,
    dx: int = 1,
    dy: int = 0,
    seed: int = 0,
    fps: Fraction = Fraction(25, 1),
) -> Video:
    """Frame t shows the texture shifted by (t*dy, t*dx) pixels: pure translation, exactly known."""
    rng = np.random.default_rng(seed)
    margin_y, margin_x = abs(dy) * frames + 4, abs(dx) * frames + 4
    big_h, big_w = height + 2 * margin_y, width + 2 * margin_x
    luma = np.clip(128 + 45 * _texture(big_h, big_w, rng, 3), 16, 235)
    cb = np.clip(128 + 25 * _texture(big_h, big_w, rng, 7), 16, 240)
    cr = np.clip(128 + 25 * _texture(big_h, big_w, rng, 7), 16, 240)
    ch, cw = (height + 1) // 2, (width + 1) // 2
    ys, us, vs = [], [], []
    for t in range(frames):
        oy, ox = margin_y - t * dy, margin_x - t * dx
        ys.append(luma[oy : oy + height, ox : ox + width])
        # chroma from the same shifted full-resolution texture, pooled 2x2 (edges replicated)
        for src, out in ((cb, us), (cr, vs)):
            crop = src[oy : oy + 2 * ch, ox : ox + 2 * cw]
            out.append(crop.reshape(ch, 2, cw, 2).mean(axis=(1, 3)))

    def as_u8(planes: list[np.ndarray]) -> np.ndarray:
        return np.rint(np.stack(planes)).astype(np.uint8)

    return Video(as_u8(ys), as_u8(us), as_u8(vs), fps)
