"""--bitrate and --min-psnr on real clips: how many trial encodes the QP search takes, where the file
lands against its goal, and what the search costs against its first trial (one ordinary encode,
the pilot included) in the same run.

    python benchmarks/bitrate.py --only carphone,bikes,tree,vtest --bpp 0.03,0.08,0.2
    python benchmarks/bitrate.py --min-psnr 36,40,44
    python benchmarks/bitrate.py --min-psnr-rgb 32,36,40

Each clip is prepared as rd.py does (32 frames unless --frames says, at most 384x288); a bitrate is given in bits per
pixel and turned into bits per second at the clip's rate; --min-psnr's goals replace them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare, write_outputs

from nrffcodec.encoder.pipeline import encode_video_file
from nrffcodec.settings import EncodeSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", default="carphone,bikes,tree,vtest")
    parser.add_argument("--bpp", default="0.03,0.08,0.2", help="--bitrate goals, in bits per pixel")
    parser.add_argument("--min-psnr", help="--min-psnr goals in dB PSNR-YUV, instead of --bpp's")
    parser.add_argument("--min-psnr-rgb", help="--min-psnr-rgb goals in dB PSNR-RGB, instead of --bpp's")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames of each clip (from rd.py's first)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "bitrate")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[dict] = []
    rgb = args.min_psnr_rgb is not None  # the PSNRs shown: the goal's metric (YUV for --bpp and --min-psnr)
    metric = "PSNR-RGB" if rgb else "PSNR-YUV"
    lines = [
        f"| clip | goal | trials (QP: bytes, {metric}) | QP kept | bytes | bpp | GOP | {metric} | time | first trial "
        "| ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as work:
        for source in clips_in(args.clips, args.only):
            clip = prepare(source, Path(work), args.frames, MAX_SIZE)
            video = clip.video
            pixels = video.width * video.height
            if args.min_psnr_rgb:
                goals = [{"min_psnr_rgb": float(db)} for db in args.min_psnr_rgb.split(",")]
            elif args.min_psnr:
                goals = [{"min_psnr": float(db)} for db in args.min_psnr.split(",")]
            else:
                goals = [{"bitrate": float(bpp) * pixels * float(video.fps)} for bpp in args.bpp.split(",")]
            for goal in goals:
                settings = EncodeSettings(preset=args.preset, device="cpu", **goal)
                firsts: list[float] = []
                begun = time.perf_counter()

                def note(text: str, firsts: list[float] = firsts, begun: float = begun) -> None:
                    if ": QP " in text and not firsts:  # the first trial's result line
                        firsts.append(time.perf_counter() - begun)

                report = encode_video_file(video, Path(work) / "out.nrf", settings, log=note)
                seconds = time.perf_counter() - begun
                bpp = 8 * report.bytes / (pixels * video.frame_count)
                rows.append(
                    {
                        "clip": clip.name,
                        "size": f"{video.width}x{video.height}",
                        "goal": goal,
                        "target_bytes": report.target_bytes,
                        "min_psnr": report.min_psnr,
                        "min_psnr_rgb": report.min_psnr_rgb,
                        "trials": report.rate_trials,
                        "qp": report.keyframe_qp,
                        "bytes": report.bytes,
                        "bpp": bpp,
                        "gop_length": report.gop_length,
                        "psnr_yuv": report.quality.psnr_yuv,
                        "psnr_rgb": report.quality.psnr_rgb,
                        "seconds": seconds,
                        "first_trial_seconds": firsts[0],
                    }
                )
                wanted = (
                    f"at most {report.target_bytes:,} B ({goal['bitrate'] / pixels / float(video.fps):g} bpp)"
                    if report.target_bytes is not None
                    else f"at least {report.min_psnr_rgb if rgb else report.min_psnr:g} dB"
                )
                tried = ", ".join(f"{t[0]}: {t[1]:,}, {t[3 if rgb else 2]:.2f}" for t in report.rate_trials)
                psnr = report.quality.psnr_rgb if rgb else report.quality.psnr_yuv
                lines.append(
                    f"| {clip.name} {video.width}x{video.height} | {wanted} | {tried} | {report.keyframe_qp} "
                    f"| {report.bytes:,} | {bpp:.4f} | {report.gop_length} | {psnr:.2f} "
                    f"| {seconds:.0f} s | {firsts[0]:.0f} s | x{seconds / firsts[0]:.2f} |"
                )
                print(lines[-1], flush=True)
    write_outputs(args.out, rows, lines, "bitrate.py", argv, started)


if __name__ == "__main__":
    main()
