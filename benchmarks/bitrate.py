"""--bitrate on real clips: how many trial encodes the QP search takes, how close to the target the
file lands, and what the search costs against its first trial (one ordinary encode, the pilot
included) in the same run.

    python benchmarks/bitrate.py --only carphone,bikes,tree,vtest --bpp 0.03,0.08,0.2

Each clip is prepared as rd.py does (32 frames, at most 384x288); each target is given in bits per
pixel and turned into bits per second at the clip's rate.
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
    parser.add_argument("--bpp", default="0.03,0.08,0.2", help="targets, in bits per pixel")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "bitrate")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows, lines = (
        [],
        [
            "| clip | target bpp | target bytes | trials (QP: bytes) | QP kept | bytes | of target | GOP | PSNR-YUV "
            "| time | first trial | ratio |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ],
    )
    with tempfile.TemporaryDirectory() as work:
        for source in clips_in(args.clips, args.only):
            clip = prepare(source, Path(work), FRAMES, MAX_SIZE)
            video = clip.video
            for bpp in map(float, args.bpp.split(",")):
                bitrate = bpp * video.width * video.height * float(video.fps)
                settings = EncodeSettings(preset=args.preset, device="cpu", bitrate=bitrate)
                firsts: list[float] = []

                def note(text: str, firsts: list[float] = firsts, begun: float = time.perf_counter()) -> None:
                    if text.startswith("--bitrate: QP") and not firsts:
                        firsts.append(time.perf_counter() - begun)

                begun = time.perf_counter()
                report = encode_video_file(video, Path(work) / "out.nrf", settings, log=note)
                seconds = time.perf_counter() - begun
                row = {
                    "clip": clip.name,
                    "size": f"{video.width}x{video.height}",
                    "target_bpp": bpp,
                    "target_bytes": report.target_bytes,
                    "trials": report.rate_trials,
                    "qp": report.keyframe_qp,
                    "bytes": report.bytes,
                    "gop_length": report.gop_length,
                    "psnr_yuv": report.quality.psnr_yuv,
                    "seconds": seconds,
                    "first_trial_seconds": firsts[0],
                }
                rows.append(row)
                tried = ", ".join(f"{qp}: {size:,}" for qp, size in report.rate_trials)
                lines.append(
                    f"| {clip.name} {row['size']} | {bpp:g} | {report.target_bytes:,} | {tried} | {report.keyframe_qp} "
                    f"| {report.bytes:,} | {report.bytes / report.target_bytes:.1%} | {report.gop_length} "
                    f"| {report.quality.psnr_yuv:.2f} | {seconds:.0f} s | {firsts[0]:.0f} s "
                    f"| x{seconds / firsts[0]:.2f} |"
                )
                print(lines[-1], flush=True)
    write_outputs(args.out, rows, lines, "bitrate.py", argv, started)


if __name__ == "__main__":
    main()
