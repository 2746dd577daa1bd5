"""Probe: Cool-chic's representation for the frames between two coded ones, against SVT-AV1's own.

Issue 22 names the leaders' representation: multi-resolution latent grids decoded by a small
synthesis network, entropy-coded under an auto-regressive model (ARM) of their causal neighbours.
Here it codes what nrff's fields code, the frames between two keyframes, on top of the best free
prediction measured in decisions/0053. For each clip (prepared as rd.py does, its first 31 frames)
and CRF, SVT-AV1 preset 0 codes the even frames; FFmpeg's `minterpolate` (mci) renders the odd
frames from them for nothing; then per odd frame `LEVELS` one-channel latent grids (full size down
to 1/32), upsampled and read with the mci prediction by a synthesis (1x1, 1x1, 3x3 convolutions,
`hidden` channels), add a correction to the prediction's Y, U and V. One synthesis and one ARM
serve all odd frames of the clip. Training: Adam, uniform noise on the latents, then rounding
(straight-through) for the last fifth, on the 6:1:1 YUV error plus lambda times the latents' bits.

Rate: the rounded latents' code length under the ARM's Laplace distributions (an arithmetic coder
lands within a few bytes of it), plus the synthesis and ARM weights quantized and costed as
benchmarks/postfilter.py does. Not a codec feature: the ARM's floating-point output would drive
the entropy decoder, which nrff does not allow (a codec would need it in integer arithmetic).
The whole clip is set against SVT-AV1 coding every frame: the bytes it needs for the same PSNR-YUV
on its own curve, and BD-rate. A measurement for docs/decisions/0055 (an hour on a 2-core CPU):

    python benchmarks/latent_residual.py --only carphone,bikes --crfs 63,56,48 --lambdas 0.003,0.001
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_CLIPS, REPO
from interpolation_bound import FRAMES, Points, bd_lines, code_every_and_even, measure_clips
from postfilter import quantize, rate_for
from torch import nn
from torch.nn import functional as F

from nrffcodec.core.video import Video

LEVELS = 6  # latent grids at 1, 1/2, ..., 1/32 of the frame
# The ARM's causal context: rows above and the pixels to the left, within two of the latent coded.
CONTEXT = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (-2, 0), (0, -2), (-1, -2), (-1, 2), (-2, -1), (-2, 1))
ROUNDED_FRACTION = 0.2  # of the steps, trained on rounded latents (straight-through)

Planes = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # Y [N,1,H,W], U and V [N,1,H/2,W/2] in 0..1


class Arm(nn.Module):
    """Causal neighbours -> the Laplace location and scale of each latent."""

    def __init__(self, hidden: int = 12) -> None:
        super().__init__()
        self.inner = nn.Linear(len(CONTEXT), hidden)
        self.outer = nn.Linear(hidden, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = z.shape[-2:]
        padded = F.pad(z, (2, 2, 2, 0))
        context = torch.stack([padded[..., 2 + i : 2 + i + height, 2 + j : 2 + j + width] for i, j in CONTEXT], -1)
        out = self.outer(F.relu(self.inner(context)))
        return out[..., 0], F.softplus(out[..., 1]) + 1e-2


def laplace_bits(z: torch.Tensor, location: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Code length of integer (or noisy) `z` under Laplace(location, scale) integrated over z +- 1/2."""

    def cdf(t: torch.Tensor) -> torch.Tensor:
        t = (t - location) / scale
        return 0.5 + 0.5 * torch.sign(t) * (1 - torch.exp(-t.abs()))

    return -torch.log2((cdf(z + 0.5) - cdf(z - 0.5)).clamp_min(1e-9)).sum()


class Synthesis(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.first = nn.Conv2d(LEVELS + 3, hidden, 1)
        self.second = nn.Conv2d(hidden, hidden, 1)
        self.last = nn.Conv2d(hidden, 3, 3, padding=1)
        nn.init.zeros_(self.last.weight)  # starts as the prediction itself
        nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # several times faster on CPU at these widths
        return self.last(F.relu(self.second(F.relu(self.first(x)))))


@dataclasses.dataclass(frozen=True)
class Fitted:
    latent_bytes: float  # ideal code length of the rounded latents
    decoder_bytes: int  # synthesis and ARM, quantized
    planes: Planes


def fit(target: Planes, prediction: Planes, lam: float, steps: int, hidden: int, seed: int = 0) -> Fitted:
    """Overfit latents, synthesis and ARM to `target` on top of `prediction`; lambda weighs bits per pixel."""
    torch.manual_seed(seed)
    (ty, tu, tv), (py, pu, pv) = target, prediction
    n, _, height, width = ty.shape
    latents = [
        torch.zeros(n, 1, math.ceil(height / 2**level), math.ceil(width / 2**level), requires_grad=True)
        for level in range(LEVELS)
    ]
    synthesis, arm = Synthesis(hidden), Arm()
    upsampled = torch.cat([py, F.interpolate(pu, scale_factor=2), F.interpolate(pv, scale_factor=2)], 1)
    rates = (1e-2, 5e-3)
    optimizer = torch.optim.Adam(
        [{"params": latents, "lr": rates[0]}, {"params": [*synthesis.parameters(), *arm.parameters()], "lr": rates[1]}]
    )

    def forward(mode: str) -> tuple[torch.Tensor, torch.Tensor, Planes]:
        if mode == "noise":
            coded = [z + torch.rand_like(z) - 0.5 for z in latents]
        elif mode == "straight-through":
            coded = [z + (torch.round(z) - z).detach() for z in latents]
        else:
            coded = [torch.round(z) for z in latents]
        bits = sum(laplace_bits(z, *arm(z)) for z in coded)
        grids = [z if z.shape[-1] == width else F.interpolate(z, size=(height, width), mode="bilinear") for z in coded]
        correction = synthesis(torch.cat([*grids, upsampled], 1))
        chroma = F.avg_pool2d(correction[:, 1:], 2)  # the 4:2:0 planes' correction
        out = (py + correction[:, :1], pu + chroma[:, :1], pv + chroma[:, 1:])
        error = (6 * F.mse_loss(out[0], ty) + F.mse_loss(out[1], tu) + F.mse_loss(out[2], tv)) / 8
        return error, bits, out

    for step in range(steps):
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate * 0.5 * (1 + math.cos(math.pi * step / steps))
        error, bits, _ = forward("noise" if step < (1 - ROUNDED_FRACTION) * steps else "straight-through")
        loss = error + lam * bits / (n * height * width)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    decoder_bytes = quantize(synthesis) + quantize(arm)
    with torch.no_grad():
        _, bits, out = forward("rounded")
    return Fitted(float(bits) / 8, decoder_bytes, out)


def planes_of(video: Video, frames: list[int]) -> Planes:
    return tuple(torch.from_numpy(getattr(video, p)[frames].astype(np.float32) / 255)[:, None] for p in "yuv")


def as_video(planes: Planes, like: Video) -> Video:
    y, u, v = ((p[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy() for p in planes)
    return dataclasses.replace(like, y=y, u=u, v=v)


def run_clip(video: Video, crfs: list[int], lambdas: list[float], steps: int, hidden: int) -> dict[str, list[dict]]:
    odd = list(range(1, video.frame_count, 2))
    rows: dict[str, list[dict]] = {"all": [], "mci": [], "latents": []}
    for crf in crfs:
        coded = code_every_and_even(video, crf)
        mci = coded.mci
        rows["all"].append(coded.every)
        rows["mci"].append(coded.row(video, mci))
        for lam in lambdas:
            started = time.perf_counter()
            fitted = fit(planes_of(video, odd), planes_of(mci, list(range(mci.frame_count))), lam, steps, hidden)
            extra = math.ceil(fitted.latent_bytes) + fitted.decoder_bytes
            rows["latents"].append(
                coded.row(video, as_video(fitted.planes, mci), extra)
                | {"lambda": lam, "latent_bytes": fitted.latent_bytes, "decoder_bytes": fitted.decoder_bytes}
                | {"seconds": time.perf_counter() - started}
            )
            print(f"   CRF {crf}, lambda {lam:g}: {extra:,} B on the odd frames", file=sys.stderr)
    return rows


def pareto(points: Points) -> Points:
    """The points no other beats in both bytes and PSNR, by rate."""
    front: Points = []
    for size, psnr in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or psnr > front[-1][1]:
            front.append((size, psnr))
    return front


def table(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    odd_count = FRAMES // 2
    lines = [
        "| clip | CRF | lambda | odd frames: B each (latents + decoder) | odd PSNR-YUV: latents / mci / all "
        "| all's B per odd frame | clip: bytes, PSNR-YUV / RGB | all's bytes for that PSNR-YUV |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for clip, rows in results.items():
        curve = sorted((r["bytes"], r["psnr_yuv"]) for r in rows["all"])
        by_crf = {a["crf"]: (a, m) for a, m in zip(rows["all"], rows["mci"], strict=True)}
        for row in rows["latents"]:
            every, mci = by_crf[row["crf"]]
            extra = row["bytes"] - mci["bytes"]
            lines.append(
                f"| {clip} | {row['crf']} | {row['lambda']:g} | {extra / odd_count:.0f} "
                f"({row['latent_bytes'] / odd_count:.0f} + {row['decoder_bytes'] / odd_count:.0f}) "
                f"| {row['odd_psnr_yuv']:.2f} / {mci['odd_psnr_yuv']:.2f} / {every['odd_psnr_yuv']:.2f} "
                f"| {(every['bytes'] - mci['bytes']) / odd_count:.0f} "
                f"| {row['bytes']:,}, {row['psnr_yuv']:.2f} / {row['psnr_rgb']:.2f} "
                f"| {rate_for(row['psnr_yuv'], curve):,.0f} |"
            )
    return lines + bd_lines(results, ("latents", "mci"), pareto)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips (default %(default)s)")
    out = REPO / "out" / "latent-residual"
    parser.add_argument("--out", type=Path, default=out, help="results (default %(default)s)")
    parser.add_argument("--only", default="carphone,bikes", help="comma-separated clip names (default %(default)s)")
    parser.add_argument("--crfs", default="63,56,48", help="SVT-AV1 CRFs (default %(default)s)")
    parser.add_argument("--lambdas", default="0.003,0.001", help="rate weights (default %(default)s)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps per fit (default %(default)s)")
    parser.add_argument("--hidden", type=int, default=8, help="synthesis width (default %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    crfs, lambdas = [int(c) for c in args.crfs.split(",")], [float(x) for x in args.lambdas.split(",")]

    def run(video: Video) -> dict[str, list[dict]]:
        return run_clip(video, crfs, lambdas, args.steps, args.hidden)

    return measure_clips(args.clips, args.only, args.out, run, table, "latent_residual.py", argv)


if __name__ == "__main__":
    sys.exit(main())
