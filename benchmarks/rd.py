"""Rate-distortion benchmark: `nrff sweep` on every clip of a folder, and a markdown summary of
BD-rates per clip with their mean, for docs/results.md. Run by hand (hours at --preset medium on
a 2-core CPU), not in CI:

    python benchmarks/rd.py                       # ../shared/clips, first 32 frames, --preset medium
    python benchmarks/rd.py --preset fast --qualities 2,5 --out /tmp/rd-quick
    python benchmarks/rd.py --only vtest --start 400 --out out/rd-later   # another excerpt of a clip
    python benchmarks/rd.py --max-size 192x144 --out out/rd-small          # the clips at a smaller size

Each clip's results (results.json/.csv, rd.png/.svg) go to OUT/<clip>/; finished points are reused
on a re-run, so an interrupted benchmark resumes. The summary goes to OUT/summary.md and stdout.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, parse_size, prepare

from nrffcodec.core.device import resolve_device
from nrffcodec.errors import NrffError
from nrffcodec.evaluation import machine
from nrffcodec.evaluation.anchors import parse_presets
from nrffcodec.evaluation.sweep import METRIC_LABELS, METRICS, Clip, SweepOptions, parse_list, run_sweep


def _cell(value: float | None) -> str:
    return "no overlap" if value is None else f"{value:+.1f}%"


def summary(rows: list[tuple[str, str, list[dict]]], options: SweepOptions, command: str, seconds: float) -> str:
    """Markdown: one row per (test, anchor) pair, a column per (clip, metric), then the means over the clips."""
    anchors = options.anchor_labels()
    tests = ["nrff", "nrff gop1"] if options.floor else ["nrff"]
    pairs = [(t, a) for t in tests for a in anchors] + [(b, anchors[0]) for b in anchors[1:]]
    head = ["BD-rate"] + [f"{name} {METRIC_LABELS[m]}" for name, _, _ in rows for m in METRICS]
    head += [f"mean {METRIC_LABELS[m]}" for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for test, anchor in pairs:
        cells, values = [], {m: [] for m in METRICS}
        for _, _, bd in rows:
            found = next((r for r in bd if (r["test"], r["anchor"]) == (test, anchor)), {})
            for m in METRICS:
                if found.get(m) is not None:
                    values[m].append(found[m])
                cells.append(_cell(found.get(m)))
        cells += [f"{statistics.fmean(values[m]):+.1f}% ({len(values[m])})" if values[m] else "-" for m in METRICS]
        lines.append(f"| {test} vs {anchor} | " + " | ".join(cells) + " |")
    lines += ["", "Clips: " + "; ".join(f"{name}: {note}" for name, note, _ in rows) + "."]
    m = machine.describe(resolve_device(options.device))
    v = machine.versions()
    took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
    return "\n".join(
        [
            f"BD-rate: rate change of the first codec against the second at equal PSNR (Bjontegaard, PCHIP over "
            f"the overlapping PSNR range; negative = fewer bits). nrff --preset {options.preset} at qualities "
            f"{','.join(map(str, options.qualities))}"
            + ("; nrff gop1: the same qualities at GOP length 1 (the keyframe codec alone)" if options.floor else "")
            + f"; anchors {', '.join(f'{c.label} ({c.preset})' for c in options.baseline_codecs())}; bitrate = "
            "file or stream bytes (SEI and AV1 temporal delimiters removed), video only; the mean is the "
            "arithmetic mean over the clips with overlap (their count in brackets).",
            "",
            *lines,
            "",
            f"Command: `{command}` ({took}). Machine: {m['cpu']}, {m['cores']} cores, device "
            f"{m.get('gpu', m['device'])}. Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ". "
            f"Date: {datetime.date.today().isoformat()}.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips (default %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "rd", help="results folder (default %(default)s)")
    parser.add_argument("--only", help="comma-separated clip names to run (default: all)")
    parser.add_argument("--frames", type=int, default=FRAMES, help="frames per clip (default %(default)s)")
    parser.add_argument("--start", type=int, help="first frame of every clip (default: 0, bikes 32)")
    parser.add_argument(
        "--max-size",
        default=f"{MAX_SIZE[0]}x{MAX_SIZE[1]}",
        help="scale each clip down by a whole factor to fit WxH (default %(default)s)",
    )
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--baselines", default="x264,x265,svtav1")
    parser.add_argument("--preset", default="medium", help="nrff preset (default %(default)s)")
    parser.add_argument(
        "--baseline-preset",
        action="append",
        help="[CODEC=]PRESET, repeatable (default: medium for x264/x265, svtav1=0 and svtav1=4)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip nrff at GOP length 1 (the keyframe codec alone)")
    parser.add_argument("--crfs", help="fixed baseline CRFs (default: chosen per clip to cover nrff)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--iterations", type=int, help="override the preset's iterations (quick checks)")
    parser.add_argument("--force", action="store_true", help="redo finished points")
    args = parser.parse_args(argv)
    try:
        options = SweepOptions(
            qualities=parse_list(args.qualities, "--qualities"),
            baselines=parse_list(args.baselines, "--baselines", str),
            preset=args.preset,
            baseline_presets=parse_presets(args.baseline_preset or ["medium", "svtav1=0", "svtav1=4"]),
            floor=not args.no_floor,
            crfs=parse_list(args.crfs, "--crfs"),
            device=args.device,
            iterations=args.iterations,
            jobs=args.jobs,
            force=args.force,
        )
        limit = parse_size(args.max_size)
        sources = clips_in(args.clips, args.only)
        if not sources:
            raise NrffError(f"no clips in {args.clips}")
        started = time.perf_counter()
        rows = []
        for source in sources:
            clip = prepare(source, args.out / "clips", args.frames, limit, args.start)
            print(f"== {clip.name}: {clip.note} -> {clip.path}", file=sys.stderr)
            result = run_sweep(
                Clip.of(clip.name, clip.video),
                args.out / clip.name,
                options,
                log=lambda text: print(f"   {text}", file=sys.stderr),
            )
            rows.append((clip.name, clip.note, result.bd_rate))
    except NrffError as exc:
        print(f"rd.py: error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/rd.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = summary(rows, options, command.strip(), time.perf_counter() - started)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
