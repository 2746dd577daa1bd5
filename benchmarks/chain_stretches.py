"""What coding the keyframe chain in stretches costs: one stream against one stream per intra period.

Since decision 0069 the encoder codes the chain one stretch at a time, from each intra keyframe to
the next, each stretch its own SVT-AV1 stream (so that a work folder keeps finished stretches).
One stream would let SVT-AV1's lookahead see across an intra keyframe; stretches do not. This
script codes every frame of each whole clip (not rd.py's 32 frames: a stretch boundary needs a
long clip) as nrff does at GOP length 1, at one CRF, both ways, and prints the bytes of the
pictures and the time ratio. `--keyframes` codes the frames as the chain of a GOP length above 1
does instead (constant QP, SVT-AV1's keyframe structure), `--frames N` only the first N.
Measurements for docs/decisions/0069, run by hand:

    python benchmarks/chain_stretches.py --only bikes --period 128 --crf 40 --preset medium
    python benchmarks/chain_stretches.py --only carphone --frames 32 --period 1 --keyframes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import DEFAULT_CLIPS, clips_in

from bitstream import KeyframeCodec
from nrffcodec.core.keyframes import keyframe_coder
from nrffcodec.media.reader import read_video


def picture_bytes(coded) -> int:
    return sum(len(unit) for keyframe in coded for unit in keyframe.slices)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--period", default="128,512", help="intra periods in frames, one per clip or one for all")
    parser.add_argument("--crf", type=int, default=40, help="CRF, or QP with --keyframes")
    parser.add_argument("--preset", default="medium", help="nrff's --preset (medium: SVT-AV1 preset 0)")
    parser.add_argument("--keyframes", action="store_true", help="code as a chain of keyframes (GOP length > 1)")
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip")
    args = parser.parse_args(argv)
    codec = keyframe_coder(KeyframeCodec.AV1)
    clips = clips_in(args.clips, args.only)
    periods = [int(p) for p in args.period.split(",")]
    periods = periods * len(clips) if len(periods) == 1 else periods
    print("| clip | frames | period | one stream | stretches | change | time, stretches / one stream |")
    print("|---|---|---|---|---|---|---|")
    for source, period in zip(clips, periods):
        video = read_video(source, (0, args.frames) if args.frames else None)
        pictures = [video.planes(t) for t in range(video.frame_count)]
        every_frame = not args.keyframes
        started = time.perf_counter()
        whole = codec.encode_sequence(pictures, args.crf, period, video.full_range, args.preset, every_frame)
        one_stream = time.perf_counter() - started
        started = time.perf_counter()
        parts = []
        for first in range(0, len(pictures), period):
            parts += codec.encode_sequence(
                pictures[first : first + period], args.crf, period, video.full_range, args.preset, every_frame
            )
        stretches = time.perf_counter() - started
        before, after = picture_bytes(whole), picture_bytes(parts)
        print(
            f"| {source.stem} | {video.frame_count} | {period} | {before:,} | {after:,} | "
            f"{100 * (after / before - 1):+.3f}% | {stretches / one_stream:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
