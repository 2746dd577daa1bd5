"""Speed benchmark: nrff encode and decode against x265 and SVT-AV1 on the same frames in the same run.

Reports encode seconds per frame and per training iteration, decode frames per second, peak
memory (RSS; CUDA max allocated on a GPU) for nrff, and the same for x265 at the CRF whose bytes
come closest to nrff's, as ratios; then SVT-AV1 (one thread) at presets 0 and 4, each at the CRF
closest in bytes, its encode s/frame and decode frames/s beside nrff's. Each phase runs in a fresh
process so its peak RSS is its own; the idle row is such a process that only imported nrff and
read the clip. Run by hand:

    python benchmarks/speed.py                                 # carphone, 32 frames, quality 4, medium
    python benchmarks/speed.py ../shared/clips/vtest.avi --device cuda
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, prepare, training_iterations

from nrffcodec.core.device import resolve_device
from nrffcodec.decoder import decode
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.train import schedule_for
from nrffcodec.evaluation import machine
from nrffcodec.evaluation.baselines import X26x
from nrffcodec.evaluation.svtav1 import SvtAv1
from nrffcodec.media.reader import read_video
from nrffcodec.settings import EncodeSettings

REPEATS = 3  # decodes are short: the median of a few
CRF_CANDIDATES = range(16, 49, 3)
SVT_CRF_CANDIDATES = range(20, 64, 4)
SVT_PRESETS = ("0", "4")


def _peaks(device: str) -> dict:
    """Peak RSS of this process and of its largest finished child (training workers), MiB."""
    out = {
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if device.startswith("cuda"):
        out["cuda_max_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _timed_median(run, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def phase(
    name: str, path: str, first_frame: int, settings: EncodeSettings, data: bytes = b"", crf: int = 0, preset: str = ""
) -> dict:
    """One measurement in this (fresh) process: 'idle', 'nrff-encode', 'nrff-decode', 'x265', 'svtav1'."""
    video = read_video(path)
    video.first_frame = first_frame
    device = settings.device
    out: dict = {}
    if name == "nrff-encode":
        started = time.perf_counter()
        data, report = encode_video(video, settings)
        out = {
            "seconds": time.perf_counter() - started,
            "train_seconds": report.train_seconds,
            "data": data,
            "gop_length": report.gop_length,
            "psnr_rgb": report.quality.psnr_rgb,
        }
    elif name == "nrff-decode":
        decode(data, device=device)  # warm-up: first CUDA kernels, allocator
        out = {"seconds": _timed_median(lambda: decode(data, device=device))}
    elif name == "x265":
        codec = X26x("x265")
        started = time.perf_counter()
        stream = codec.strip_sei(codec.encode_stream(video, crf))[0]
        out = {
            "encode_seconds": time.perf_counter() - started,
            "bytes": len(stream),
            "seconds": _timed_median(lambda: codec.decode_stream(stream, video)),
        }
    elif name == "svtav1":
        codec = SvtAv1(preset)
        started = time.perf_counter()
        units = codec.encode_units(video, crf)
        out = {
            "encode_seconds": time.perf_counter() - started,
            "bytes": sum(map(len, units)),
            "seconds": _timed_median(lambda: codec.decode_units(units, video)),
        }
    return {**out, **_peaks(device)}


def in_fresh_process(*args, **kwargs) -> dict:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(phase, *args, **kwargs).result()


def closest_crf(video, target_bytes: int) -> tuple[int, int]:
    """(crf, bytes) of x265 medium whose stripped stream size is closest to target_bytes."""
    codec = X26x("x265")
    sizes = {crf: len(codec.strip_sei(codec.encode_stream(video, crf))[0]) for crf in CRF_CANDIDATES}
    crf = min(sizes, key=lambda c: abs(sizes[c] - target_bytes))
    return crf, sizes[crf]


def closest_svt_crf(video, preset: str, target_bytes: int) -> int:
    """SVT-AV1's CRF at `preset` whose stream size is closest to target_bytes."""
    codec = SvtAv1(preset)
    sizes = {crf: sum(map(len, codec.encode_units(video, crf))) for crf in SVT_CRF_CANDIDATES}
    return min(sizes, key=lambda c: abs(sizes[c] - target_bytes))


def svt_lines(video, common: tuple, enc: dict) -> list[str]:
    """SVT-AV1 at each of SVT_PRESETS, at the CRF closest to nrff's bytes, as a markdown table."""
    frames = video.frame_count
    lines = [
        "",
        "| SVT-AV1 (one thread) | CRF | bytes | encode s/frame | decode frames/s | nrff encode / SVT-AV1 encode |",
        "|---|---|---|---|---|---|",
    ]
    for preset in SVT_PRESETS:
        crf = closest_svt_crf(video, preset, len(enc["data"]))
        svt = in_fresh_process("svtav1", *common, crf=crf, preset=preset)
        lines.append(
            f"| preset {preset} | {crf} | {svt['bytes']:,} | {svt['encode_seconds'] / frames:.4f} | "
            f"{frames / svt['seconds']:.1f} | {enc['seconds'] / svt['encode_seconds']:.3g}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIPS / "carphone_pristine.mp4")
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--iterations", type=int, help="override the preset's iterations (quick checks)")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "speed", help="where the scaled clip goes")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    settings = EncodeSettings(
        quality=args.quality, preset=args.preset, device=device, jobs=args.jobs, iterations=args.iterations
    )
    clip = prepare(args.clip, args.work, args.frames, MAX_SIZE)
    video = clip.video
    common = (str(clip.path), video.first_frame, settings)
    idle = in_fresh_process("idle", *common)
    enc = in_fresh_process("nrff-encode", *common)
    dec = in_fresh_process("nrff-decode", *common, data=enc["data"])
    crf, _ = closest_crf(video, len(enc["data"]))
    x265 = in_fresh_process("x265", *common, crf=crf)

    frames, pixels = video.frame_count, video.width * video.height * video.frame_count
    schedule = schedule_for(args.preset, device, args.iterations)
    # the GOP length the encode chose (the pilot's iterations are not in train_seconds either)
    steps = training_iterations(schedule, frames, enc["gop_length"], video.width * video.height)
    rows = [
        (
            "bytes (bpp)",
            f"{len(enc['data']):,} ({8 * len(enc['data']) / pixels:.4f})",
            f"{x265['bytes']:,} ({8 * x265['bytes'] / pixels:.4f})",
            len(enc["data"]) / x265["bytes"],
        ),
        (
            "encode s/frame",
            f"{enc['seconds'] / frames:.3f}",
            f"{x265['encode_seconds'] / frames:.4f}",
            enc["seconds"] / x265["encode_seconds"],
        ),
        (
            "encode ms/iteration (training wall time / GOP-iterations)",
            f"{1000 * enc['train_seconds'] / max(1, steps):.2f} ({steps:,} iterations)",
            "-",
            None,
        ),
        (
            "decode frames/s",
            f"{frames / dec['seconds']:.1f}",
            f"{frames / x265['seconds']:.1f}",
            x265["seconds"] / dec["seconds"],
        ),
        (
            "peak RSS MiB, encode (largest worker)",
            f"{enc['rss_mib']:.0f} ({enc['child_rss_mib']:.0f})"
            if enc["child_rss_mib"]
            else f"{enc['rss_mib']:.0f} (one process)",
            f"{x265['rss_mib']:.0f}",
            max(enc["rss_mib"], enc["child_rss_mib"]) / x265["rss_mib"],
        ),
        ("peak RSS MiB, decode", f"{dec['rss_mib']:.0f}", f"{x265['rss_mib']:.0f}", dec["rss_mib"] / x265["rss_mib"]),
    ]
    if device.startswith("cuda"):
        rows.append(
            (
                "CUDA max allocated MiB, encode / decode",
                f"{enc['cuda_max_mib']:.0f} / {dec['cuda_max_mib']:.0f}",
                "-",
                None,
            )
        )
    m = machine.describe(device)
    lines = [
        f"Speed on {clip.name} ({clip.note}, {frames} frames): nrff --quality {args.quality} --preset "
        f"{args.preset} on {m.get('gpu', device)} (encode PSNR-RGB {enc['psnr_rgb']:.2f} dB) against x265 "
        f"medium at CRF {crf} (the closest in bytes) in the same run; x264/x265 and their decoder use one "
        f"thread, nrff decodes with torch's {m['torch_threads']} threads.",
        "",
        "| | nrff | x265 | nrff / x265 |",
        "|---|---|---|---|",
    ]
    for label, ours, theirs, ratio in rows:
        lines.append(f"| {label} | {ours} | {theirs} | {'-' if ratio is None else f'{ratio:.3g}x'} |")
    lines += svt_lines(video, common, enc)
    lines += [
        "",
        f"Idle process (Python, torch, nrff imported, clip read): {idle['rss_mib']:.0f} MiB RSS. "
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch_threads']} threads, "
        f"nrff jobs {settings.jobs or 'one per core'}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in machine.versions().items())
        + ".",
        f"Command: `python benchmarks/speed.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
