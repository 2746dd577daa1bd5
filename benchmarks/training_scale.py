"""Probe: do more training steps or wider networks bring the fields under SVT-AV1's curve?

Each configuration encodes the clip (prepared as rd.py does) at a fixed GOP length with
`--preset medium`, its float steps multiplied by a factor and, optionally, other network widths;
beside each file, the PSNR that SVT-AV1's own curve (coding every frame, one thread, counted as the
sweep's anchor; linear in log rate between its CRFs) reaches at the same bytes. A configuration is
`QUALITY[:FLOW/RESIDUAL][@FACTOR]`: `3` is quality 3 as shipped, `3@4` with four times the steps,
`3:32/64@4` also with flow and residual widths 32 and 64. On CUDA a step sees 16 times the CPU's
pixels (encoder.train.CUDA_BATCH_FACTOR). A measurement for docs/decisions/0058, run by hand:

    python benchmarks/training_scale.py --device cuda --configs "2,3,3@4,2@4,3:32/64,3:32/64@4,2:16/32@4,1@4"
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare, write_outputs

from nrffcodec.core.device import resolve_device
from nrffcodec.core.quality import measure
from nrffcodec.core.video import Video
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.train import schedule_for
from nrffcodec.evaluation.svtav1 import SvtAv1
from nrffcodec.settings import EncodeSettings


@dataclasses.dataclass(frozen=True)
class Config:
    quality: int
    widths: tuple[int, int] | None  # flow, residual; None: the quality's own
    factor: float  # times the preset's float steps

    @classmethod
    def parse(cls, text: str) -> Config:
        head, _, factor = text.partition("@")
        quality, _, widths = head.partition(":")
        pair = None
        if widths:
            flow, slash, residual = widths.partition("/")
            if not slash:
                raise ValueError(f"widths must be FLOW/RESIDUAL, got {widths!r}")
            pair = (int(flow), int(residual))
        return cls(int(quality), pair, float(factor) if factor else 1.0)


def psnr_at(size: float, curve: list[tuple[int, float]]) -> float | None:
    """The PSNR a curve of (bytes, PSNR) reaches at `size` bytes, linear in log rate; None outside it."""
    for (r0, p0), (r1, p1) in zip(curve, curve[1:]):
        if r0 <= size <= r1:
            return p0 + (p1 - p0) * math.log(size / r0) / math.log(r1 / r0)
    return None


def settings_for(config: Config, gop: int, device: str, base_steps: int) -> EncodeSettings:
    flow, residual = config.widths or (None, None)
    return EncodeSettings(
        quality=config.quality,
        preset="medium",
        gop=gop,
        device=device,
        iterations=max(1, round(base_steps * config.factor)),
        flow_width=flow,
        residual_width=residual,
    )


def anchor_curve(video: Video, preset: str, crfs: list[int]) -> dict[str, list[tuple[int, float]]]:
    """SVT-AV1's (bytes, PSNR-RGB) and (bytes, PSNR-YUV) points, fewest bytes first."""
    codec, points = SvtAv1(preset), []
    for crf in crfs:
        coded = codec.code(video, crf)
        points.append((len(coded.data), measure(video, coded.decoded)))
    points.sort(key=lambda p: p[0])
    return {metric: [(size, getattr(q, f"psnr_{metric}")) for size, q in points] for metric in ("rgb", "yuv")}


def shown(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", default="carphone", help="comma-separated clip names (default %(default)s)")
    parser.add_argument("--configs", default="2,3,3@4", help="QUALITY[:FLOW/RESIDUAL][@FACTOR], comma-separated")
    parser.add_argument("--gop", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--svtav1-preset", default="0")
    parser.add_argument("--crfs", default="63,60,57,54,51,48,45,42")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "training-scale")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    device = resolve_device(args.device)
    configs = [Config.parse(c) for c in args.configs.split(",")]
    lines = [
        "| clip | quality | widths | steps | bytes | networks | PSNR-RGB / YUV | SVT-AV1 there | offset | training s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    results: dict[str, list] = {"encodes": [], "svtav1_curves": []}
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, args.out, FRAMES, MAX_SIZE)
        video = clip.video
        curve = anchor_curve(video, args.svtav1_preset, [int(c) for c in args.crfs.split(",")])
        base = schedule_for("medium", device).steps(args.gop - 1, video.width * video.height)[0]
        for config in configs:
            settings = settings_for(config, args.gop, device, base)
            _, report = encode_video(video, settings)
            rgb, yuv = report.quality.psnr_rgb, report.quality.psnr_yuv
            there = {m: psnr_at(report.bytes, curve[m]) for m in ("rgb", "yuv")}
            gap = {m: None if there[m] is None else measured - there[m] for m, measured in (("rgb", rgb), ("yuv", yuv))}
            rung = settings.rung
            row = {
                "clip": clip.name,
                "config": dataclasses.asdict(config),
                "widths": [rung.flow_width, rung.residual_width],
                "float_steps": settings.iterations,
                "report": {
                    "bytes": report.bytes,
                    "network_bytes": report.network_bytes,
                    "keyframe_bytes": report.keyframe_bytes,
                    "gop_length": report.gop_length,
                    "quality": report.quality.as_dict(),
                    "train_seconds": report.train_seconds,
                    "seconds": report.seconds,
                },
                "svtav1_psnr_at_bytes": there,
            }
            results["encodes"].append(row)
            lines.append(
                f"| {clip.name} | {config.quality} | {rung.flow_width}/{rung.residual_width} | {settings.iterations:,} "
                f"| {report.bytes:,} | {report.network_bytes:,} | {rgb:.2f} / {yuv:.2f} "
                f"| {shown(there['rgb'])} / {shown(there['yuv'])} "
                f"| {shown(gap['rgb'], '+')} / {shown(gap['yuv'], '+')} | {report.train_seconds:.1f} |"
            )
            print(lines[-1], flush=True)
        results["svtav1_curves"].append({"clip": clip.name, "preset": args.svtav1_preset, "curve": curve})
    write_outputs(args.out, results, lines, "training_scale.py", argv, started, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
