"""Memory benchmark: peak RSS of `nrff encode` and `nrff decode` for 100 and 1,000 frames, same run.

A synthetic 1280x720 clip (a smooth texture panning 2 px a frame) is written losslessly (FFV1),
frame by frame; each measurement then runs in a fresh process, encoding (or decoding) the first
N frames file to file with the same settings, and reports its peak RSS (ru_maxrss, the process
and its largest finished child). Memory that does not grow with the clip's length shows as a
1,000 / 100 ratio near 1 (docs/decisions/0038-streaming-and-ray.md). Run by hand, niced:

    nice python benchmarks/memory.py                       # 1280x720, 100 and 1000 frames, GOP 8
    nice python benchmarks/memory.py --frames 50,200 --iterations 2 --size 320x180
    nice python benchmarks/memory.py --gop 1 --quality 8 --grain 12 --size 640x360   # large keyframes
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from common import size_type  # after the path insert, like the other benchmarks

from nrffcodec.core.video import Video

WIDTH, HEIGHT = 1280, 720
BAR = 1.25  # the bar: 1,000 frames within 1.25x the memory of 100


def panning_frames(width: int, height: int, frames: int, step: int = 2, seed: int = 0, grain: float = 0.0):
    """Frame t is a window of a smooth random canvas moved t*step pixels right: real motion, any length.
    With `grain`, each frame's luma has noise of that standard deviation of its own (large keyframes)."""
    rng = np.random.default_rng(seed)
    canvas_w = width + 512
    small = rng.integers(16, 236, size=(height // 8 + 2, canvas_w // 8 + 2)).astype(np.float32)
    luma = np.kron(small, np.ones((8, 8), np.float32))[:height, :canvas_w]
    luma = (luma + np.roll(luma, 4, 0) + np.roll(luma, 4, 1) + np.roll(luma, (4, 4), (0, 1))) / 4
    luma = luma.astype(np.uint8)
    chroma = np.full(((height + 1) // 2, (width + 1) // 2), 128, np.uint8)
    for t in range(frames):
        x = (t * step) % (canvas_w - width)
        window = luma[None, :, x : x + width].copy()
        if grain:
            window = np.clip(window + rng.normal(0, grain, window.shape), 0, 255).astype(np.uint8)
        yield Video(window, chroma[None], chroma[None].copy(), Fraction(25, 1))


def write_clip(path: Path, frames: int, width: int, height: int, grain: float = 0.0) -> None:
    from nrffcodec.media.writer import video_writer

    source = panning_frames(width, height, frames, grain=grain)
    first = next(source)
    with video_writer(path, first, frames) as sink:
        sink.write(first)
        for frame in source:
            sink.write(frame)


def child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process: encode or decode, then print the peak RSS in MiB."""
    from nrffcodec import EncodeSettings
    from nrffcodec.app.jobs import decode_file, encode

    started = time.perf_counter()
    if args.child == "encode":
        settings = EncodeSettings(
            preset="fast",
            gop=args.gop,
            quality=args.quality,
            iterations=args.iterations,
            jobs=args.jobs,
            frames=(0, args.count),
        )
        encode(args.clip, args.out, settings)
    else:
        decode_file(args.clip, args.out, device="cpu")
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    written = args.out.stat().st_size
    print(json.dumps({"peak_mib": peak_kib / 1024, "seconds": time.perf_counter() - started, "bytes": written}))


def measure(kind: str, clip: Path, out: Path, count: int, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--clip", str(clip), "--out", str(out)]
    command += ["--count", str(count), "--gop", str(args.gop), "--iterations", str(args.iterations)]
    command += ["--jobs", str(args.jobs), "--quality", str(args.quality)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="100,1000", help="two frame counts, comma-separated")
    parser.add_argument(
        "--size", default=f"{WIDTH}x{HEIGHT}", help="WIDTHxHEIGHT of the synthetic clip", type=size_type
    )
    parser.add_argument("--gop", type=int, default=8)
    parser.add_argument("--quality", type=int, default=4, help="1..8: 8 makes the keyframes largest")
    parser.add_argument("--grain", type=float, default=0.0, help="noise on each frame's luma (std, 8-bit)")
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--child", choices=["encode", "decode"], help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    counts = [int(n) for n in args.frames.split(",")]
    width, height = args.size
    with tempfile.TemporaryDirectory(prefix="nrff-memory-") as tmp:
        folder = Path(tmp)
        clip = folder / "panning.mkv"
        write_clip(clip, max(counts), width, height, args.grain)
        rows = {}
        for count in counts:
            nrf = folder / f"{count}.nrf"
            encoded = measure("encode", clip, nrf, count, args)
            decoded = measure("decode", nrf, folder / f"{count}.mkv", count, args)
            (folder / f"{count}.mkv").unlink()
            rows[count] = (encoded, decoded)
            print(
                f"{count:>5} frames {args.size}: .nrf {encoded['bytes'] / 2**20:,.1f} MiB, "
                f"encode peak {encoded['peak_mib']:,.0f} MiB ({encoded['seconds']:.0f} s), "
                f"decode peak {decoded['peak_mib']:,.0f} MiB ({decoded['seconds']:.0f} s)",
                flush=True,
            )
    low, high = rows[counts[0]], rows[counts[-1]]
    for name, i in (("encode", 0), ("decode", 1)):
        ratio = high[i]["peak_mib"] / low[i]["peak_mib"]
        verdict = "within" if ratio <= BAR else "OVER"
        print(f"{name}: {counts[-1]} frames peak / {counts[0]} frames peak = {ratio:.3f} ({verdict} the {BAR}x bar)")
    print(
        f"settings: --preset fast --gop {args.gop} --quality {args.quality} grain {args.grain} "
        f"iterations {args.iterations} --jobs {args.jobs}, device cpu"
    )


if __name__ == "__main__":
    main()
