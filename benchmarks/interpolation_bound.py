"""What AV1's in-between frames buy: SVT-AV1 on every frame against SVT-AV1 on every other frame.

The frames between two coded ones are where nrff's fields render. This bound asks what they are
up against. For each clip (prepared as rd.py does; its first 31 frames, so that frames 0 and 30
bound every odd one), SVT-AV1 preset 0 codes, at each CRF:

- `all`: every frame, as the sweep's anchor does;
- `even`: frames 0, 2, ..., 30 only (at half the frame rate); the odd frames then cost nothing and
  are rendered from the decoded even frames by the rounded mean of the two neighbours (`average`)
  or by FFmpeg's motion-compensated `minterpolate` (`mci`, as benchmarks/interpolate.py runs it).

Per CRF: bytes and PSNR of the whole clip for each, the bytes `all` spends on the odd frames
(its bytes less `even`'s), and the PSNR-YUV of the odd frames alone. BD-rate of each zero-byte
interpolation against `all`. Fields that render the odd frames pay off only where they lift them
above the free interpolation for fewer bytes than `all` spends on them.

    python benchmarks/interpolation_bound.py [--only carphone,bikes,vtest] [--crfs 63,60,56,52,48,44]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from common import DEFAULT_CLIPS, REPO, clips_in, prepare, write_outputs
from interpolate import minterpolate, neighbour_average, pick

from nrffcodec.core.quality import measure
from nrffcodec.core.video import Video
from nrffcodec.errors import NrffError
from nrffcodec.evaluation.bdrate import bd_rate
from nrffcodec.evaluation.svtav1 import SvtAv1

CLIPS = ("carphone", "bikes", "vtest")
FRAMES = 31


def interleaved(even: Video, odd: Video, like: Video) -> Video:
    """Frames 0, 2, ... from `even` and 1, 3, ... from `odd` (one fewer than `even`)."""
    planes = {}
    for p in "yuv":
        plane = np.empty_like(getattr(like, p))
        plane[0::2], plane[1::2] = getattr(even, p), getattr(odd, p)
        planes[p] = plane
    return dataclasses.replace(like, **planes, notes=[])


def quality(reference: Video, decoded: Video) -> dict[str, float]:
    odd = list(range(1, reference.frame_count, 2))
    whole, odd_only = measure(reference, decoded), measure(pick(reference, odd), pick(decoded, odd))
    return {"psnr_yuv": whole.psnr_yuv, "psnr_rgb": whole.psnr_rgb, "odd_psnr_yuv": odd_only.psnr_yuv}


@dataclasses.dataclass(frozen=True)
class EvenCoded:
    """One CRF of SVT-AV1 preset 0 on a clip: every frame, and the even frames alone."""

    every: dict  # the row of every frame coded: crf, bytes, quality
    even_bytes: int
    decoded: Video  # the even frames, decoded
    mci: Video  # the odd frames, minterpolate'd from the decoded even ones

    def row(self, video: Video, odd: Video, extra_bytes: int = 0) -> dict:
        """The row of the decoded even frames with `odd` rendered between them, at `extra_bytes` more."""
        rendered = interleaved(self.decoded, odd, video)
        return {"crf": self.every["crf"], "bytes": self.even_bytes + extra_bytes} | quality(video, rendered)


def code_every_and_even(video: Video, crf: int) -> EvenCoded:
    svt = SvtAv1("0")
    every = svt.code(video, crf)
    even_input = dataclasses.replace(pick(video, list(range(0, video.frame_count, 2))), fps=video.fps / 2)
    coded = svt.code(even_input, crf)
    decoded = coded.decoded
    mci = pick(minterpolate(decoded), list(range(1, 2 * decoded.frame_count - 1, 2)))
    row = {"crf": crf, "bytes": len(every.data)} | quality(video, every.decoded)
    print(f"   CRF {crf}: all {row['bytes']:,} B, even {len(coded.data):,} B", file=sys.stderr)
    return EvenCoded(row, len(coded.data), decoded, mci)


def run_clip(video: Video, crfs: list[int]) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {"all": [], "average": [], "mci": []}
    for crf in crfs:
        coded = code_every_and_even(video, crf)
        rows["all"].append(coded.every)
        rows["average"].append(coded.row(video, neighbour_average(coded.decoded)))
        rows["mci"].append(coded.row(video, coded.mci))
    return rows


Points = list[tuple[int, float]]


def bd(rows: dict[str, list[dict]], test: str, metric: str, curve: Callable[[Points], Points] = list) -> float | None:
    """BD-rate of `test`'s points (through `curve`, e.g. their Pareto front) against `all`'s; None
    where the curves share no PSNR range or either has fewer than two PSNRs."""
    anchor, points = (
        [(r["bytes"], r[metric]) for r in rows["all"]],
        curve([(r["bytes"], r[metric]) for r in rows[test]]),
    )
    if min(len({q for _, q in anchor}), len({q for _, q in points})) < 2:
        return None
    return bd_rate(anchor, points)


def bd_lines(
    results: dict[str, dict[str, list[dict]]], tests: Sequence[str], curve: Callable[[Points], Points] = list
) -> list[str]:
    """The table of each test's BD-rate against `all`, a column per clip, in PSNR-YUV and PSNR-RGB."""
    lines = ["", "| BD-rate against all | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    for test in tests:
        for metric, label in (("psnr_yuv", "PSNR-YUV"), ("psnr_rgb", "PSNR-RGB")):
            values = [bd(rows, test, metric, curve) for rows in results.values()]
            cells = ["none" if value is None else f"{value:+.1f}%" for value in values]
            lines.append(f"| {test}, {label} | " + " | ".join(cells) + " |")
    return lines


def measure_clips(
    clips: Path,
    only: str,
    out: Path,
    run: Callable[[Video], dict[str, list[dict]]],
    table: Callable[[dict[str, dict[str, list[dict]]]], list[str]],
    script: str,
    argv: list[str] | None,
) -> int:
    """`run` on the first frames of each clip named in `only`; OUT/results.json and summary.md from
    its rows and `table`. The exit status: 2, with one line, where a clip is missing."""
    started = time.perf_counter()
    results = {}
    try:
        for name, video in first_frames(clips, only, out / "clips"):
            results[name] = run(video)
    except NrffError as exc:
        print(f"{script}: error: {exc}", file=sys.stderr)
        return 2
    write_outputs(out, results, table(results), script, argv, started)
    return 0


def first_frames(clips: Path, only: str, work: Path) -> Iterator[tuple[str, Video]]:
    """(name, its first FRAMES frames prepared as rd.py does under `work`) of each clip named in `only`."""
    sources = {s.stem.replace("_pristine", ""): s for s in clips_in(clips)}
    for name in only.split(","):
        if name not in sources:
            raise NrffError(f"no clip {name!r} in {clips}")
        print(f"== {name}", file=sys.stderr)
        yield name, pick(prepare(sources[name], work).video, list(range(FRAMES)))


def table(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    lines = [
        "| clip | CRF | all: bytes, PSNR-YUV / RGB | even: bytes | all's bytes on the odd frames (per frame) "
        "| odd frames' PSNR-YUV: all / mci / average | mci: PSNR-YUV / RGB |",
        "|---|---|---|---|---|---|---|",
    ]
    for clip, rows in results.items():
        odd_count = len(range(1, FRAMES, 2))
        for a, m, v in zip(rows["all"], rows["mci"], rows["average"], strict=True):
            spent = a["bytes"] - m["bytes"]
            lines.append(
                f"| {clip} | {a['crf']} | {a['bytes']:,}, {a['psnr_yuv']:.2f} / {a['psnr_rgb']:.2f} | {m['bytes']:,} "
                f"| {spent:,} ({spent / odd_count:.0f}) | {a['odd_psnr_yuv']:.2f} / {m['odd_psnr_yuv']:.2f} / "
                f"{v['odd_psnr_yuv']:.2f} | {m['psnr_yuv']:.2f} / {m['psnr_rgb']:.2f} |"
            )
    return lines + bd_lines(results, ("mci", "average"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips (default %(default)s)")
    parser.add_argument(
        "--out", type=Path, default=REPO / "out" / "interpolation-bound", help="results (default %(default)s)"
    )
    parser.add_argument("--only", default=",".join(CLIPS), help="comma-separated clip names (default %(default)s)")
    parser.add_argument("--crfs", default="63,60,56,52,48,44", help="SVT-AV1 CRFs (default %(default)s)")
    args = parser.parse_args(argv)
    crfs = [int(c) for c in args.crfs.split(",")]
    return measure_clips(
        args.clips, args.only, args.out, lambda video: run_clip(video, crfs), table, "interpolation_bound.py", argv
    )


if __name__ == "__main__":
    sys.exit(main())
