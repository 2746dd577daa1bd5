"""Rate-distortion benchmark: `nrff sweep` on every clip of a folder, and a markdown summary of
BD-rates per clip with their mean, for docs/results.md. Run by hand (hours at --preset medium on
a 2-core CPU), not in CI:

    python benchmarks/rd.py                       # ../shared/clips, first 32 frames, --preset medium
    python benchmarks/rd.py --preset fast --qualities 2,5 --out /tmp/rd-quick

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

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare

from nrffcodec.core.device import resolve_device
from nrffcodec.errors import NrffError
from nrffcodec.evaluation import machine
from nrffcodec.evaluation.sweep import METRIC_LABELS, METRICS, Clip, SweepOptions, parse_list, run_sweep


def _cell(value: float | None) -> str:
    return "no overlap" if value is None else f"{value:+.1f}%"


def summary(rows: list[tuple[str, str, list[dict]]], options: SweepOptions, command: str, seconds: float) -> str:
    """Markdown: one row per clip, a BD-rate column per (anchor, metric), and the mean row."""
    pairs = [("nrff", a) for a in options.baselines] + [(b, options.baselines[0]) for b in options.baselines[1:]]
    columns = [(test, anchor, m) for test, anchor in pairs for m in METRICS]
    head = ["clip", "frames coded"] + [f"{t} vs {a} {METRIC_LABELS[m]}" for t, a, m in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    values: dict[tuple, list[float]] = {c: [] for c in columns}
    for name, note, bd in rows:
        found = {(r["test"], r["anchor"]): r for r in bd}
        cells = []
        for column in columns:
            value = found.get(column[:2], {}).get(column[2])
            if value is not None:
                values[column].append(value)
            cells.append(_cell(value))
        lines.append(f"| {name} | {note} | " + " | ".join(cells) + " |")
    means = [
        f"{statistics.fmean(values[c]):+.1f}% ({len(values[c])} clip{'s' * (len(values[c]) > 1)})" if values[c] else "-"
        for c in columns
    ]
    lines.append("| **mean** | | " + " | ".join(means) + " |")
    m = machine.describe(resolve_device(options.device))
    v = machine.versions()
    took = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
    return "\n".join(
        [
            f"BD-rate: rate change of the first codec against the second at equal PSNR (Bjontegaard, PCHIP over "
            f"the overlapping PSNR range; negative = fewer bits). nrff --preset {options.preset} at qualities "
            f"{','.join(map(str, options.qualities))}; x264/x265 --preset {options.baseline_preset}; bitrate = file "
            f"or stream bytes (SEI removed); the mean is the arithmetic mean over the clips with overlap.",
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
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--baselines", default="x264,x265")
    parser.add_argument("--preset", default="medium", help="nrff preset (default %(default)s)")
    parser.add_argument("--baseline-preset", default="medium")
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
            baseline_preset=args.baseline_preset,
            crfs=parse_list(args.crfs, "--crfs"),
            device=args.device,
            iterations=args.iterations,
            jobs=args.jobs,
            force=args.force,
        )
        sources = clips_in(args.clips)
        if args.only:
            wanted = set(args.only.split(","))
            sources = [s for s in sources if s.stem.replace("_pristine", "") in wanted or s.stem in wanted]
        if not sources:
            raise NrffError(f"no clips in {args.clips}")
        started = time.perf_counter()
        rows = []
        for source in sources:
            clip = prepare(source, args.out / "clips", args.frames, MAX_SIZE)
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
