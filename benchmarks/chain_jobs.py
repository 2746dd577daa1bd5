"""The keyframe chain's stretches coded in several processes: time against one process, same bytes.

At GOP length 1 (the pilot's choice on every benchmark clip) an encode is the keyframe chain,
coded in stretches of one intra period (decision 0069). `--jobs N` codes up to N stretches side by
side, each process with its share of SVT-AV1's threads (decision 0070). This script prepares a
clip long enough for several stretches (scaled as rd.py scales, every frame of it by default),
runs `nrff encode --gop 1` on it with `--jobs 1` and with each of `--jobs`, each in a fresh process
and alone, and prints the wall time, the time ratio against `--jobs 1` measured in the same run,
the largest process's peak RSS, and whether the file is byte for byte the `--jobs 1` one. With
`--ray ADDRESS` it also times the encode with the stretches coded on that Ray cluster (a task per
stretch, one CPU each; decision 0071; the peak RSS is then the driver's). Run by hand (about 10
minutes on a 2-core CPU):

    python benchmarks/chain_jobs.py --only vtest --jobs 2
    ray start --head --num-cpus 2 && python benchmarks/chain_jobs.py --only vtest --jobs 2 --ray auto; ray stop
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_CLIPS, MAX_SIZE, REPO, clips_in, prepare, size_type

# Runs a command and prints the peak RSS (KiB) of the largest process it waited for, workers included.
PEAK = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def encode(
    source: Path, out: Path, jobs: int, quality: int, preset: str, ray: str | None = None
) -> tuple[float, float]:
    """(seconds, peak RSS in MiB of the largest process) of one `nrff encode --gop 1` in a fresh process."""
    command = [sys.executable, "-m", "nrffcodec", "encode", str(source), str(out), "--gop", "1", "-q", "-y"]
    command += ["--jobs", str(jobs), "--quality", str(quality), "--preset", preset]
    command += ["--ray", ray] if ray else []
    started = time.perf_counter()
    peak = subprocess.run([sys.executable, "-c", PEAK, *command], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(peak.stdout.split()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", default="vtest", help="comma-separated clip names (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=100_000, help="at most this many frames (default: all)")
    parser.add_argument("--max-size", type=size_type, default=MAX_SIZE, help="scale to fit WxH (default 384x288)")
    parser.add_argument("--jobs", default="2", help="comma-separated --jobs to time against --jobs 1")
    parser.add_argument("--quality", type=int, default=3, help="nrff --quality (default 3: stretches of 512)")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--ray", metavar="ADDRESS", help="also code the stretches on this Ray cluster")
    args = parser.parse_args(argv)
    print("| clip | frames | --jobs | seconds | against --jobs 1 | largest process, MiB | same file |")
    print("|---|---|---|---|---|---|---|")
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, REPO / "out" / "chain-jobs", args.frames, args.max_size, start=0)
        with tempfile.TemporaryDirectory() as folder:
            alone = Path(folder) / "jobs1.nrf"
            base, base_rss = encode(clip.path, alone, 1, args.quality, args.preset)
            row = f"| {clip.name} | {clip.video.frame_count} | 1 | {base:.1f} | 1.00 | {base_rss:.0f} | yes |"
            print(row, flush=True)
            runs = [(str(jobs), jobs, None) for jobs in map(int, args.jobs.split(","))]
            runs += [(f"1, --ray {args.ray}", 1, args.ray)] if args.ray else []
            for label, jobs, ray in runs:
                out = Path(folder) / f"run{len(label)}-{jobs}.nrf"
                seconds, rss = encode(clip.path, out, jobs, args.quality, args.preset, ray)
                same = "yes" if out.read_bytes() == alone.read_bytes() else "**no**"
                print(
                    f"| {clip.name} | {clip.video.frame_count} | {label} | {seconds:.1f} | {base / seconds:.2f}x "
                    f"| {rss:.0f} | {same} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
