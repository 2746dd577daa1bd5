"""Probe: how far could low-resolution motion grids alone take a frame between two coded ones?

Issue 22 lists per-frame low-resolution motion grids among the leaders' tools. This bounds what
motion alone can do, before any residual. As in benchmarks/interpolation_bound.py, SVT-AV1 preset 0
codes each clip's even frames (0, 2, ..., 30); every odd frame is then predicted from its two
decoded neighbours by an oracle: per block of BxB pixels, one motion vector to each neighbour and
one blend weight. The grids are upsampled bilinearly, warped as nrff warps (core.warp), and fitted
to the odd frame itself (Adam on the 6:1:1 YUV error, plus `lambda` times a rate proxy; lambda 0:
the rate is free). The coarsest block size starts from block matching, each finer one from the
coarser fit. The oracle sees the frame it predicts, so its PSNR at a rate is a ceiling for motion
grids of that resolution. Its rate: the grids at quarter-pixel precision (weights in 0, 1/8, ...,
1), each value coded by the empirical entropy of its difference from its left neighbour (no
model, header or framing paid).

Per clip, CRF, block size and lambda, over the odd frames: PSNR-YUV and bytes per frame of
SVT-AV1 coding every frame (`all`, its bytes less those of the even frames alone), of FFmpeg's
motion-compensated interpolation (`mci`, zero bytes), and of the oracle. docs/decisions/0059:

    python benchmarks/motion_grid_bound.py --crfs 63,56 --blocks 32,16 --lambdas 0,2000,8000,32000
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import torch
from common import DEFAULT_CLIPS, REPO, entropy_bits
from interpolate import pick
from interpolation_bound import CLIPS, FRAMES, code_every_and_even, measure_clips

from nrffcodec.core.quality import measure
from nrffcodec.core.video import Video
from nrffcodec.core.warp import sample

YUV_WEIGHTS = (6 / 8, 1 / 8, 1 / 8)
QUARTER_PEL, WEIGHT_LEVELS = 4, 8
SEARCH = 16  # pixels each way of the block matching that starts the coarsest fit


def planes(video: Video, t: int) -> list[torch.Tensor]:
    return [torch.from_numpy(getattr(video, p)[t].astype(np.float32)) for p in "yuv"]


def upsampled(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[C, h, w] -> [C, height, width], bilinear over the block centres."""
    return torch.nn.functional.interpolate(grid[None], size=(height, width), mode="bilinear", align_corners=False)[0]


def predict(refs: list[list[torch.Tensor]], flows: torch.Tensor, blend: torch.Tensor) -> list[torch.Tensor]:
    """Y, U, V of the blend of both references warped by `flows` [2 refs, 2 (dy, dx), h, w]."""
    height, width = refs[0][0].shape
    out = []
    for plane in range(3):
        h, w = refs[0][plane].shape
        scale = h / height
        field = upsampled(flows.reshape(4, *flows.shape[2:]), h, w).reshape(2, 2, h, w) * scale
        weight = upsampled(torch.sigmoid(blend)[None], h, w)[0]  # interpolated as weights, as they are sent
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
        )
        warped = [sample(ref[plane][None], ys + field[r, 0], xs + field[r, 1])[0] for r, ref in enumerate(refs)]
        out.append(weight * warped[0] + (1 - weight) * warped[1])
    return out


def yuv_error(predicted: list[torch.Tensor], target: list[torch.Tensor]) -> torch.Tensor:
    return sum(k * ((p - t) ** 2).mean() for k, p, t in zip(YUV_WEIGHTS, predicted, target))


def block_match(reference: np.ndarray, target: np.ndarray, block: int, search: int) -> np.ndarray:
    """Per block of `target`, the whole-pixel (dy, dx) within +-search whose luma error is least."""
    height, width = target.shape
    h, w = math.ceil(height / block), math.ceil(width / block)
    padded = np.pad(reference.astype(np.float32), search, mode="edge")
    goal = np.pad(target.astype(np.float32), ((0, h * block - height), (0, w * block - width)), mode="edge")
    best, best_error = np.zeros((2, h, w), np.float32), np.full((h, w), np.inf, np.float32)
    for dy in range(-search, search + 1):
        for dx in range(-search, search + 1):
            shifted = padded[search + dy : search + dy + height, search + dx : search + dx + width]
            shifted = np.pad(shifted, ((0, h * block - height), (0, w * block - width)), mode="edge")
            error = ((goal - shifted) ** 2).reshape(h, block, w, block).sum(axis=(1, 3))
            better = error < best_error
            best_error[better], best[0][better], best[1][better] = error[better], dy, dx
    return best


Grids = tuple[torch.Tensor, torch.Tensor]  # flows [2 refs, 2, h, w], blend logits [h, w]


def finer(grids: Grids, h: int, w: int) -> Grids:
    """A coarser fit's grids resampled to h x w blocks: where a finer fit starts."""
    flows, blend = grids
    flows = upsampled(flows.reshape(4, *flows.shape[2:]), h, w).reshape(2, 2, h, w)
    return flows, upsampled(blend[None], h, w)[0]


def rate_proxy(flows: torch.Tensor, blend: torch.Tensor) -> torch.Tensor:
    """A differentiable stand-in for grid_bytes' symbols: their magnitudes summed (a Laplacian's bits, up to scale)."""
    values = torch.cat(
        [(flows * QUARTER_PEL).reshape(4, *flows.shape[2:]), (torch.sigmoid(blend) * WEIGHT_LEVELS)[None]]
    )
    neutral = torch.tensor([0.0, 0.0, 0.0, 0.0, WEIGHT_LEVELS / 2]).reshape(5, 1, 1).expand(5, values.shape[1], 1)
    return torch.diff(values, dim=2, prepend=neutral).abs().sum()


def fit(
    refs: list[list[torch.Tensor]],
    target: list[torch.Tensor],
    block: int,
    steps: int,
    coarser: Grids | None,
    lam: float = 0.0,
) -> tuple[Grids, Grids]:
    """The oracle's grids for one frame, as fitted (float) and as sent (quantized): ((flows, blend), (flows, blend)).

    The first fit starts from whole-pixel block matching, a finer one from the coarser fit. `lam` weighs
    rate_proxy against the frame's squared error summed over its pixels (0: the rate is free)."""
    height, width = target[0].shape
    h, w = math.ceil(height / block), math.ceil(width / block)
    if coarser is None:
        start = [block_match(ref[0].numpy(), target[0].numpy(), block, SEARCH) for ref in refs]
        initial = torch.from_numpy(np.stack(start)), torch.zeros(h, w)
    else:
        initial = finer(coarser, h, w)
    flows, blend = (t.clone().requires_grad_(True) for t in initial)
    optimizer = torch.optim.Adam([flows, blend], lr=0.25)
    for step in range(steps):
        if step == steps * 3 // 4:
            for group in optimizer.param_groups:
                group["lr"] = 0.05
        optimizer.zero_grad()
        loss = yuv_error(predict(refs, flows, blend), target) * height * width
        if lam:
            loss = loss + lam * rate_proxy(flows, blend)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        # 0 and 1 stay reachable: the oracle often takes one reference alone (where the other is occluded)
        weight = torch.round(torch.sigmoid(blend) * WEIGHT_LEVELS) / WEIGHT_LEVELS
        sent = torch.round(flows * QUARTER_PEL) / QUARTER_PEL, torch.logit(weight, eps=1e-6)
        return (flows.detach(), blend.detach()), sent


def grid_bytes(flows: torch.Tensor, blend: torch.Tensor) -> list[np.ndarray]:
    """The integer symbols a coder would send: each grid value's difference from its left neighbour."""
    values = [(flows * QUARTER_PEL).round().reshape(4, *flows.shape[2:])]
    values.append((torch.sigmoid(blend) * WEIGHT_LEVELS).round()[None])
    grids = torch.cat(values).to(torch.int64).numpy()
    neutral = [0, 0, 0, 0, WEIGHT_LEVELS // 2]  # each row's first value is predicted from no motion, an even blend
    return [np.diff(g, axis=1, prepend=n).reshape(-1) for g, n in zip(grids, neutral)]


def entropy_bytes(symbols: list[np.ndarray]) -> float:
    """Empirical entropy of each grid's symbols, summed, in bytes (no model cost)."""
    return sum(entropy_bits(s) for s in symbols) / 8


def oracle(
    video: Video, decoded_even: Video, blocks: list[int], steps: int, lam: float = 0.0
) -> dict[int, tuple[Video, float]]:
    """Per block size: the odd frames as the oracle predicts them, and its estimated bytes per odd frame.

    The block sizes are fitted coarsest first, each finer fit starting from the coarser one."""
    odd = list(range(1, video.frame_count, 2))
    blocks = sorted(blocks, reverse=True)
    rendered = {b: {p: np.empty_like(getattr(pick(video, odd), p)) for p in "yuv"} for b in blocks}
    per_frame: dict[int, list[float]] = {b: [] for b in blocks}
    for n, t in enumerate(odd):
        refs, coarser = [planes(decoded_even, n), planes(decoded_even, n + 1)], None
        for block in blocks:
            coarser, sent = fit(refs, planes(video, t), block, steps, coarser, lam)
            with torch.no_grad():
                predicted = predict(refs, *sent)
            for p, plane in zip("yuv", predicted):
                rendered[block][p][n] = plane.round().clamp(0, 255).to(torch.uint8).numpy()
            per_frame[block].append(entropy_bytes(grid_bytes(*sent)))
    like = pick(video, odd)
    return {b: (dataclasses.replace(like, **rendered[b], notes=[]), float(np.mean(per_frame[b]))) for b in blocks}


def run_clip(video: Video, crfs: list[int], blocks: list[int], lambdas: list[float], steps: int) -> dict:
    rows: dict[str, list[dict]] = {"all": [], "mci": [], "grids": []}
    odd = list(range(1, video.frame_count, 2))
    target = pick(video, odd)
    for crf in crfs:
        coded = code_every_and_even(video, crf)
        every = coded.every
        odd_bytes = (every["bytes"] - coded.even_bytes) / len(odd)
        rows["all"].append({"crf": crf, "odd_psnr_yuv": every["odd_psnr_yuv"], "bytes_per_odd_frame": odd_bytes})
        rows["mci"].append({"crf": crf, "odd_psnr_yuv": measure(target, coded.mci).psnr_yuv})
        for lam in lambdas:
            for block, (predicted, estimate) in oracle(video, coded.decoded, blocks, steps, lam).items():
                psnr = measure(target, predicted).psnr_yuv
                rows["grids"].append(
                    {"crf": crf, "block": block, "lambda": lam, "odd_psnr_yuv": psnr, "bytes_per_odd_frame": estimate}
                )
                print(
                    f"   CRF {crf} grid {block} lambda {lam:g}: {psnr:.2f} dB, ~{estimate:.0f} B/frame", file=sys.stderr
                )
    return rows


def table(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    lines = [
        "| clip | CRF | odd frames, SVT-AV1 (all): PSNR-YUV, bytes per frame | mci | oracle grid, lambda "
        "| oracle: PSNR-YUV, ~bytes per frame |",
        "|---|---|---|---|---|---|",
    ]
    for clip, rows in results.items():
        for a, m in zip(rows["all"], rows["mci"], strict=True):
            for g in (g for g in rows["grids"] if g["crf"] == a["crf"]):
                lines.append(
                    f"| {clip} | {a['crf']} | {a['odd_psnr_yuv']:.2f}, {a['bytes_per_odd_frame']:.0f} "
                    f"| {m['odd_psnr_yuv']:.2f} | {g['block']}x{g['block']}, {g['lambda']:g} "
                    f"| {g['odd_psnr_yuv']:.2f}, ~{g['bytes_per_odd_frame']:.0f} |"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "motion-grid-bound")
    parser.add_argument("--only", default=",".join(CLIPS))
    parser.add_argument("--crfs", default="63,56,48")
    parser.add_argument("--blocks", default="16,8", help="block sizes of the motion grids")
    parser.add_argument("--lambdas", default="0", help="weights of the rate proxy (0: rate free)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per frame")
    args = parser.parse_args(argv)
    crfs, blocks = [int(c) for c in args.crfs.split(",")], [int(b) for b in args.blocks.split(",")]
    lambdas = [float(v) for v in args.lambdas.split(",")]
    torch.set_num_threads(2)
    return measure_clips(
        args.clips,
        args.only,
        args.out,
        lambda video: run_clip(video, crfs, blocks, lambdas, args.steps),
        table,
        "motion_grid_bound.py",
        argv,
    )


if __name__ == "__main__":
    assert FRAMES == 31  # the even frames bound every odd one
    sys.exit(main())
