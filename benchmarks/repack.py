"""BD-rate of a finished rd.py run's nrff files rewritten in the current format: what a container
change alone is worth, the same pictures, without training anything again. Each nrff stream of the
folder is read, written again by this checkout's `write_nrf` and decoded bit-exactly the same (its
frames' digests compared); the anchors' points are taken as they are. A second or so a file:

    python benchmarks/repack.py out/rd-main out/rd-later-carphone [--label "nrff gop1"]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import frames_md5

from bitstream import write_nrf
from nrffcodec import decode
from nrffcodec.decoder import file_parts
from nrffcodec.evaluation.bdrate import bd_rate

ANCHORS = ("svtav1 p0", "svtav1 p4", "x264", "x265")


def repacked(data: bytes) -> bytes:
    """`data` written again by this checkout, checked to decode to the same frames."""
    out = write_nrf(*file_parts(data)).data
    if frames_md5(decode(data, device="cpu")) != frames_md5(decode(out, device="cpu")):
        raise SystemExit("a rewritten file decodes to other frames")
    return out


def curve(
    points: list[dict], label: str, metric: str, sizes: dict[str, int] | None = None
) -> list[tuple[float, float]]:
    return [((sizes or {}).get(p["stream"], p["bytes"]), p[metric]) for p in points if p["label"] == label]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="rd.py --out folders")
    parser.add_argument("--label", default="nrff", help="whose files to rewrite: nrff, or nrff gop1 (the floor)")
    args = parser.parse_args(argv)
    print(
        "| clip | bytes per quality, then -> now | "
        + " | ".join(f"vs {a}, RGB / YUV: then -> now" for a in ANCHORS)
        + " |"
    )
    print("|---|---|" + "---|" * len(ANCHORS))
    for results in sorted(p for folder in args.folders for p in folder.glob("*/results.json")):
        points = json.loads(results.read_text())["points"]
        sizes = {
            p["stream"]: len(repacked((results.parent / p["stream"]).read_bytes()))
            for p in points
            if p["label"] == args.label
        }
        files = ", ".join(
            f"{p['bytes']:,} -> {sizes[p['stream']]:,}"
            for p in sorted(points, key=lambda p: p["setting"])
            if p["label"] == args.label
        )
        cells = []
        for anchor in ANCHORS:
            if not any(p["label"] == anchor for p in points):  # a run drawn without this anchor
                cells.append("-")
                continue
            figures = []
            for metric in ("psnr_rgb", "psnr_yuv"):
                base = curve(points, anchor, metric)
                old, new = (bd_rate(base, curve(points, args.label, metric, s)) for s in (None, sizes))
                figures.append(f"{old:+.1f} -> {new:+.1f}" if old is not None and new is not None else "-")
            cells.append(" / ".join(figures))
        name = f"{results.parent.name} ({results.parent.parent.name})"
        print(f"| {name} | {files} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
