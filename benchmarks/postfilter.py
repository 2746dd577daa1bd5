"""Probe: can a small network overfitted to a clip improve SVT-AV1's own pictures by more than it costs?

The conditional residual of issue 22 in its plainest form, a post-filter: SVT-AV1 codes every
frame of each clip (prepared as rd.py does) at a few CRFs; a 3x3-convolution network (luma in,
`hidden` channels, ReLU, luma correction out) is fitted to all of the clip's decoded frames
against the source (`tN`: the previous, own and next decoded luma in, which lets a frame borrow
from better coded neighbours where the content stands still), its weights quantized (step = RMS
/ 8 per tensor, as nrff's fields) and its cost counted as the symbols' empirical entropy plus a
byte per tensor. The gain is set against what SVT-AV1 itself charges for it: the rate at which
its own curve (between the CRFs measured) reaches the filtered PSNR. Not a codec feature: a
measurement for docs/decisions/0045. Run by hand (about 20 minutes on a 2-core CPU):

    python benchmarks/postfilter.py --only carphone,bikes,vtest
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, entropy_bits, prepare
from torch import nn
from torch.nn import functional as F

from nrffcodec.core.quality import Quality, measure
from nrffcodec.core.video import Video
from nrffcodec.evaluation.svtav1 import SvtAv1

STEP_RATIO = 1 / 8


class LumaFilter(nn.Module):
    def __init__(self, hidden: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.inner = nn.Conv2d(3 if temporal else 1, hidden, 3, padding=1)
        self.outer = nn.Conv2d(hidden, 1, 3, padding=1)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """[T, 1, H, W] -> the same, each frame corrected (from its neighbours too when temporal)."""
        x = torch.cat([torch.cat([y[:1], y[:-1]]), y, torch.cat([y[1:], y[-1:]])], dim=1) if self.temporal else y
        return y + self.outer(F.relu(self.inner(x)))


def fit(decoded: torch.Tensor, source: torch.Tensor, variant: str, steps: int) -> LumaFilter:
    torch.manual_seed(0)
    net = LumaFilter(int(variant.lstrip("t")), variant.startswith("t"))
    optimizer = torch.optim.Adam(net.parameters(), 2e-3)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = F.mse_loss(net(decoded), source)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net


def quantize(net: LumaFilter) -> int:
    """Quantize the weights in place; the bytes they would take (entropy of the symbols, a byte per step)."""
    symbols = []
    with torch.no_grad():
        for p in net.parameters():
            step = float(p.pow(2).mean().sqrt()) * STEP_RATIO or 1.0
            q = torch.round(p / step)
            p.copy_(q * step)
            symbols.append(q.flatten())
    return math.ceil(entropy_bits(torch.cat(symbols).numpy()) / 8) + len(symbols)


def luma(video: Video) -> torch.Tensor:
    return torch.from_numpy(video.y.astype(np.float32) / 255.0)[:, None]


def rate_for(psnr: float, curve: list[tuple[int, float]]) -> float:
    """Bytes SVT-AV1's curve (bytes, PSNR) needs for `psnr`: linear in log rate between its points."""
    (r0, p0), (r1, p1) = next(
        ((a, b) for a, b in zip(curve, curve[1:]) if min(a[1], b[1]) <= psnr <= max(a[1], b[1])),
        (curve[-2], curve[-1]) if psnr > curve[-1][1] else (curve[0], curve[1]),
    )
    return math.exp(math.log(r0) + (psnr - p0) * (math.log(r1) - math.log(r0)) / (p1 - p0))


Point = tuple[int, int, Video, Quality]  # (CRF, bytes, decoded frames, their quality)


def anchor_points(codec: SvtAv1, video: Video, crfs: str) -> tuple[list[Point], list[tuple[int, float]]]:
    """SVT-AV1's points at `crfs` (comma-separated), bytes as the rd benchmark counts them, and its
    curve through them: (bytes, PSNR-YUV), by bytes."""
    points = []
    for crf in map(int, crfs.split(",")):
        units = codec.encode_units(video, crf)
        decoded = codec.decode_units(units, video)
        points.append((crf, sum(map(len, units)), decoded, measure(video, decoded)))
    return points, sorted((size, quality.psnr_yuv) for _, size, _, quality in points)


def net_change(size: int, cost: int, before: float, after: float, curve: list[tuple[int, float]]) -> float:
    """The file with a filter of `cost` bytes against the bytes SVT-AV1's curve through this point
    needs for the filtered PSNR-YUV `after` (negative: the filter pays)."""
    same = rate_for(after, curve) * size / rate_for(before, curve)
    return (size + cost) / same - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--crfs", default="63,55,45,35")
    parser.add_argument("--preset", default="0", help="SVT-AV1 preset (default %(default)s)")
    parser.add_argument("--filters", default="2,4,t4", help="hidden channels of the filters to try (t: temporal)")
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    codec = SvtAv1(args.preset)
    print("| clip | CRF | bytes | PSNR-YUV | filter | its bytes | PSNR-YUV filtered | SVT-AV1's bytes for it | net |")
    print("|---|---|---|---|---|---|---|---|---|")
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, REPO / "out" / "postfilter", FRAMES, MAX_SIZE)
        points, curve = anchor_points(codec, clip.video, args.crfs)
        target = luma(clip.video)
        for crf, size, decoded, quality in points:
            before = quality.psnr_yuv
            coded = luma(decoded)
            for variant in args.filters.split(","):
                net = fit(coded, target, variant, args.steps)
                cost = quantize(net)
                with torch.no_grad():
                    y = (net(coded) * 255).round().clamp(0, 255).to(torch.uint8)[:, 0].numpy()
                after = measure(clip.video, dataclasses.replace(decoded, y=y)).psnr_yuv
                same = rate_for(after, curve) * size / rate_for(before, curve)  # the curve through this point
                print(
                    f"| {clip.name} | {crf} | {size:,} | {before:.2f} | {variant} | {cost} | {after:.2f} "
                    f"| {same:,.0f} | {100 * net_change(size, cost, before, after, curve):+.1f}% |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
