"""Probe: does any SVT-AV1 setting code these clips better than its defaults?

nrff's floor (GOP length 1) is SVT-AV1 at its defaults coding every frame, so a setting that beat
them would lower the floor and, as much, the anchor a user could run by hand. Each variant codes
each clip (prepared as rd.py does) at the same CRFs as the defaults, one thread, counted and
decoded as the sweep's anchor (evaluation.svtav1); printed: its BD-rate against the defaults in
PSNR-RGB and PSNR-YUV (6:1:1), and its encode time as a ratio to theirs. A variant is
`LABEL=PARAMS` (SVT-AV1's own `key=value:...`), and `10bit` codes the 8-bit frames shifted to 10
bits and rounds the decoded ones back. A measurement for docs/decisions/0046, run by hand:

    python benchmarks/svtav1_settings.py --only carphone --variants "10bit;tf0=enable-tf=0;qm=enable-qm=1"
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare

from nrffcodec.core.ffmpeg import open_encoder
from nrffcodec.core.quality import measure
from nrffcodec.core.video import Video
from nrffcodec.evaluation.bdrate import bd_rate
from nrffcodec.evaluation.svtav1 import SvtAv1, strip_temporal_delimiters

TEN_BIT = "10bit"


class Variant(SvtAv1):
    """The sweep's SVT-AV1 anchor with extra encoder parameters, or coding at 10 bits."""

    def __init__(self, preset: str, params: str) -> None:
        super().__init__(preset)
        self.ten_bit = params == TEN_BIT
        self.params = "" if self.ten_bit else params

    def options(self, crf: int) -> dict[str, str]:
        options = super().options(crf)
        if self.params:
            options["svtav1-params"] += ":" + self.params
        return options

    def encode_units(self, video: Video, crf: int) -> list[bytes]:
        if not self.ten_bit:
            return super().encode_units(video, crf)
        height, width = self.coded_size(video)
        fps = video.fps
        encoder = open_encoder("libsvtav1", height, width, "yuv420p10le", self.options(crf), Fraction(1) / fps, fps)
        packets = []
        for t in range(video.frame_count):
            frame = av.VideoFrame(width, height, "yuv420p10le")
            for plane, data in zip(frame.planes, video.planes(t)):
                pad = ((0, plane.height - data.shape[0]), (0, plane.width - data.shape[1]))
                padded = np.pad(data, pad, mode="edge")
                line = np.zeros((plane.height, plane.line_size // 2), np.uint16)
                line[:, : plane.width] = padded.astype(np.uint16) << 2
                plane.update(line.tobytes())
            frame.pts = t
            packets += encoder.encode(frame)
        packets += encoder.encode(None)
        return [strip_temporal_delimiters(bytes(p)) for p in packets]

    def decode_units(self, units: list[bytes], like: Video) -> Video:
        if not self.ten_bit:
            return super().decode_units(units, like)
        planes: list[list[np.ndarray]] = [[], [], []]
        for frame in self.decode_frames(units, like):
            for i, (plane, reference) in enumerate(zip(frame.planes, (like.y, like.u, like.v))):
                height, width = reference.shape[1:]
                words = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)[:height, :width]
                planes[i].append(np.clip((words.astype(np.int32) + 2) >> 2, 0, 255).astype(np.uint8))
        y, u, v = (np.stack(p) for p in planes)
        return dataclasses.replace(like, y=y, u=u, v=v, notes=[])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--preset", default="0")
    parser.add_argument("--crfs", default="63,55,45,35,28")
    parser.add_argument("--variants", required=True, help=f"';'-separated LABEL=PARAMS, or {TEN_BIT}")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "svtav1-settings")
    args = parser.parse_args(argv)
    crfs = [int(c) for c in args.crfs.split(",")]
    variants = {"default": ""} | {
        v.partition("=")[0]: (TEN_BIT if v == TEN_BIT else v.partition("=")[2]) for v in args.variants.split(";")
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, args.out / "clips", FRAMES, MAX_SIZE)
        points: dict[str, list[dict]] = {}
        for label, params in variants.items():
            codec = Variant(args.preset, params)
            points[label] = []
            for crf in crfs:
                coded = codec.code(clip.video, crf)
                quality = measure(clip.video, coded.decoded)
                point = {"crf": crf, "bytes": len(coded.data), "rgb": quality.psnr_rgb, "yuv": quality.psnr_yuv}
                points[label].append(point | {"encode_s": coded.encode_s})
                print(f"{clip.name} {label} crf {crf}: {point['bytes']} B, {point['rgb']:.3f} / {point['yuv']:.3f} dB")
        (args.out / f"{clip.name}.json").write_text(json.dumps(points, indent=1))
        base = points["default"]
        for label in list(variants)[1:]:
            test = points[label]
            bd = [bd_rate(*([(p["bytes"], p[m]) for p in c] for c in (base, test))) for m in ("rgb", "yuv")]
            ratio = sum(p["encode_s"] for p in test) / sum(p["encode_s"] for p in base)
            cells = " / ".join("no overlap" if b is None else f"{b:+.2f}%" for b in bd)
            print(f"BD {clip.name} {label} vs default: {cells} (PSNR-RGB / YUV), encode time x{ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
