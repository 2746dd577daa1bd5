"""Probe: a motion-compensated temporal Wiener filter on SVT-AV1's decoded pictures.

Decision 0045 left "motion-compensated temporal filters" untried: a frame corrected from its
decoded neighbours, each first moved onto it. This probe bounds that route cheaply. SVT-AV1
preset 0 codes every frame of each clip (prepared as rd.py does) at a few CRFs; the decoder's
side is modelled by whole-pixel block matching (8x8 blocks, +-7 pixels) of each decoded frame
against its decoded neighbours, so the motion costs no bytes. One linear filter per clip (a 3x3
window of the frame and of each moved neighbour in the window -1..1, one sample of the others,
and an offset) is fitted to the source luma by least squares, its taps kept to 1/1024 (2 bytes
each, a generous price). Variants: `none` (the frame's own 3x3 window), `static` (neighbours not
moved), `mc1` (neighbours -1, +1 moved), `mc2` (-2..+2 moved). "net": the file with the filter
against the bytes SVT-AV1's own curve needs for the filtered PSNR-YUV (negative = it pays).
Not a codec feature: a measurement for docs/decisions/0068. Run by hand:

    python benchmarks/mc_wiener.py --only carphone,bikes,vtest
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare
from motion_grid_bound import block_match
from postfilter import anchor_points, net_change

from nrffcodec.core.quality import measure
from nrffcodec.evaluation.svtav1 import SvtAv1

BLOCK, SEARCH = 8, 7
VARIANTS = {"none": (), "static": (-1, 1), "mc1": (-1, 1), "mc2": (-2, -1, 1, 2)}
TAP_STEP = 1 / 1024
TAP_BYTES = 2


def moved(reference: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`reference` moved onto `target`, block by block, by whole-pixel block matching (no bytes)."""
    height, width = target.shape
    vectors = block_match(reference, target, BLOCK, SEARCH).astype(int)
    padded = np.pad(reference, SEARCH, mode="edge")
    out = np.empty_like(reference)
    for i in range(vectors.shape[1]):
        for j in range(vectors.shape[2]):
            dy, dx = vectors[:, i, j]
            top, bottom = i * BLOCK, min(height, i * BLOCK + BLOCK)
            left, right = j * BLOCK, min(width, j * BLOCK + BLOCK)
            source = padded[SEARCH + dy :, SEARCH + dx :]
            out[top:bottom, left:right] = source[top:bottom, left:right]
    return out


def window(plane: np.ndarray) -> list[np.ndarray]:
    """The 9 samples of each pixel's 3x3 neighbourhood (edges repeated), as 9 planes."""
    padded = np.pad(plane.astype(np.float64), 1, mode="edge")
    height, width = plane.shape
    return [padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def features(decoded: np.ndarray, variant: str) -> np.ndarray:
    """[pixels of all frames, taps]: what the filter reads for each luma sample."""
    rows = []
    for t in range(len(decoded)):
        planes = window(decoded[t])
        for offset in VARIANTS[variant]:
            neighbour = decoded[min(max(t + offset, 0), len(decoded) - 1)]
            if variant != "static":
                neighbour = moved(neighbour, decoded[t])
            planes += window(neighbour) if abs(offset) == 1 else [neighbour.astype(np.float64)]
        planes.append(np.ones(decoded[t].shape))
        rows.append(np.stack([p.ravel() for p in planes], axis=1))
    return np.concatenate(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--crfs", default="63,55,45,35")
    args = parser.parse_args(argv)
    codec = SvtAv1("0")
    print("| clip | CRF | bytes | filter | its bytes | PSNR-YUV | filtered | PSNR-RGB | filtered | net |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, REPO / "out" / "postfilter", FRAMES, MAX_SIZE)
        points, curve = anchor_points(codec, clip.video, args.crfs)
        target = clip.video.y.astype(np.float64).ravel()
        for crf, size, decoded, before in points:
            for variant in VARIANTS:
                taps = features(decoded.y, variant)
                solution = np.linalg.lstsq(taps, target, rcond=None)[0]
                kept = np.round(solution / TAP_STEP) * TAP_STEP
                y = (taps @ kept).round().clip(0, 255).astype(np.uint8).reshape(decoded.y.shape)
                after = measure(clip.video, dataclasses.replace(decoded, y=y))
                cost = TAP_BYTES * len(kept)
                change = net_change(size, cost, before.psnr_yuv, after.psnr_yuv, curve)
                print(
                    f"| {clip.name} | {crf} | {size:,} | {variant} | {cost} | {before.psnr_yuv:.2f} | "
                    f"{after.psnr_yuv:.2f} | {before.psnr_rgb:.2f} | {after.psnr_rgb:.2f} | "
                    f"{100 * change:+.1f}% |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
