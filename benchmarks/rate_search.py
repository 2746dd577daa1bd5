"""--bitrate and --min-psnr's QP search replayed on real curves: each clip encoded at every keyframe QP
once (GOP length 1, what the search's trials hold on every clip so far), then the search run on
those curves for every goal between two neighbouring QPs and every quality's first QP, counting
the trials it makes.

    python benchmarks/rate_search.py --only carphone,bikes,tree,vtest --out benchmarks/out/rate-curves
    python benchmarks/rate_search.py --curves benchmarks/out/rate-curves/results.json

The second form replays saved curves with the search in this tree, in seconds: how a change to the
search's estimate moves its trial count, measured on the same bytes and PSNRs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare, write_outputs

from bitstream import KeyframeCodec
from nrffcodec.core.quantizer import log_steps
from nrffcodec.encoder.pipeline import encode_video_file
from nrffcodec.encoder.rate import Goal, RateTrial, answer, search
from nrffcodec.settings import KEYFRAME_QP_MAX, KEYFRAME_QP_MIN, QUALITY_LADDER, EncodeSettings

Curve = dict[int, RateTrial]
AV1_STEPS = log_steps(KeyframeCodec.AV1)  # the curves are SVT-AV1's


def measure_curves(args: argparse.Namespace) -> list[dict]:
    """Each clip at GOP length 1 and every QP: [QP, video bytes, PSNR-YUV, encode seconds, PSNR-RGB]."""
    clips: list[dict] = []
    qps = range(KEYFRAME_QP_MIN, KEYFRAME_QP_MAX + 1)
    with tempfile.TemporaryDirectory() as work:
        for source in clips_in(args.clips, args.only):
            clip = prepare(source, Path(work), args.frames, MAX_SIZE)
            points = []
            for qp in qps:
                settings = EncodeSettings(preset=args.preset, device="cpu", gop=1, keyframe_qp=qp)
                begun = time.perf_counter()
                report = encode_video_file(clip.video, Path(work) / "out.nrf", settings)
                seconds = time.perf_counter() - begun
                quality = report.quality
                points.append([qp, report.bytes, round(quality.psnr_yuv, 4), seconds, round(quality.psnr_rgb, 4)])
            video = clip.video
            clips.append({"clip": clip.name, "size": f"{video.width}x{video.height}", "points": points})
            print(f"{clip.name}: {len(points)} QPs measured", flush=True)
    return clips


def goals(curve: Curve, option: str) -> list[Goal]:
    """The `option`'s goal between each two neighbouring QPs (the geometric mean of their bytes, the
    mean of their PSNRs), where they differ: every answer the curve has, each once."""
    out: list[Goal] = []
    for qp in range(KEYFRAME_QP_MIN, KEYFRAME_QP_MAX):
        a, b = curve[qp], curve[qp + 1]
        if option == "--bitrate":
            if a.bytes != b.bytes:
                out.append(Goal(max_bytes=math.floor(math.sqrt(a.bytes * b.bytes))))
            continue
        rgb = option == "--min-psnr-rgb"
        low, high = (a.psnr_rgb, b.psnr_rgb) if rgb else (a.psnr_yuv, b.psnr_yuv)
        if low != high:
            out.append(Goal(min_psnr=round((low + high) / 2, 4), rgb=rgb))
    return out


def best(curve: Curve, goal: Goal) -> int:
    """The QP a search must find: the least that fits the bytes, the greatest that reaches the PSNR."""
    meeting = [qp for qp, trial in curve.items() if goal.fits(trial)]
    if goal.max_bytes is not None:
        return min(meeting, default=KEYFRAME_QP_MAX)
    return max(meeting, default=KEYFRAME_QP_MIN)


def replay(clips: list[dict]) -> tuple[list[dict], list[str]]:
    """Every clip's goals searched from every quality's first QP; trial counts per clip and kind."""
    firsts = sorted({rung.keyframe_qp for rung in QUALITY_LADDER.values()})
    rows: list[dict] = []
    lines = [
        f"First QPs: {', '.join(map(str, firsts))} (the qualities'). Goals: one between each two neighbouring QPs.",
        "",
        "| clip | goal | searches | mean trials | at most | 2 / 3 / 4 / 5 / 6+ trials | wrong answers |",
        "|---|---|---|---|---|---|---|",
    ]
    all_counts: list[int] = []
    for clip in clips:
        curve = {p[0]: RateTrial(p[0], p[1], p[2], p[4] if len(p) > 4 else math.nan) for p in clip["points"]}
        has_rgb = not any(math.isnan(t.psnr_rgb) for t in curve.values())  # curves measured before it was kept
        for kind in ("--bitrate", "--min-psnr", "--min-psnr-rgb")[: 3 if has_rgb else 2]:
            counts, wrong = [], 0
            for goal in goals(curve, kind):
                for first in firsts:
                    trials = search(curve.__getitem__, goal, first, AV1_STEPS)
                    counts.append(len(trials))
                    wrong += answer(trials, goal).qp != best(curve, goal)
            histogram = [sum(c == n for c in counts) for n in (2, 3, 4, 5)] + [sum(c >= 6 for c in counts)]
            rows.append({"clip": clip["clip"], "kind": kind, "counts": counts, "wrong": wrong})
            all_counts += counts
            lines.append(
                f"| {clip['clip']} {clip['size']} | {kind} | {len(counts)} "
                f"| {statistics.mean(counts):.2f} | {max(counts)} | {' / '.join(map(str, histogram))} | {wrong} |"
            )
    lines.append(f"| all | all | {len(all_counts):,} | {statistics.mean(all_counts):.2f} | {max(all_counts)} | | |")
    return rows, lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", default="carphone,bikes,tree,vtest")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames of each clip (from rd.py's first)")
    parser.add_argument("--curves", type=Path, help="a results.json of this script: replay its curves, encode nothing")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "rate-search")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    clips = json.loads(args.curves.read_text())["clips"] if args.curves else measure_curves(args)
    rows, lines = replay(clips)
    write_outputs(args.out, {"clips": clips, "searches": rows}, lines, "rate_search.py", argv, started)


if __name__ == "__main__":
    main()
