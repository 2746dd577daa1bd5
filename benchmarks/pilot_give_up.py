"""The pilot's stops (decision 0084) against a pilot that trains every length to the end: the same
encode twice in one run, alternating, on each clip and quality (prepared as rd.py prepares them).

    python benchmarks/pilot_give_up.py --only carphone,bikes,tree,vtest --qualities 1,3,5,7

A stop must change no choice and no byte of the file; what it saves is the pilot's time, given as
the ratio of the two runs' pilot seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, REPO, clips_in, prepare, write_outputs

from nrffcodec.encoder import gop_length
from nrffcodec.encoder.pipeline import encode_video_file
from nrffcodec.settings import EncodeSettings


def encode_once(video, settings: EncodeSettings, stops: bool, work: Path) -> dict:
    """One encode, the pilot's stops on or off: its GOP length, file digest, pilot and whole seconds."""
    points = gop_length.GIVE_UP_POINTS
    gop_length.GIVE_UP_POINTS = points if stops else ()
    lines: list[str] = []
    try:
        started = time.perf_counter()
        report = encode_video_file(video, work / "out.nrf", settings, log=lines.append)
        seconds = time.perf_counter() - started
    finally:
        gop_length.GIVE_UP_POINTS = points
    pilot = next((line for line in lines if line.startswith("pilot (per frame")), "")
    return {
        "gop_length": report.gop_length,
        "bytes": report.bytes,
        "sha256": hashlib.sha256((work / "out.nrf").read_bytes()).hexdigest(),
        "pilot_seconds": report.pilot_seconds,
        "seconds": seconds,
        "stopped": pilot.count("stopped short"),
        "pilot": pilot,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", default="carphone,bikes,tree,vtest")
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "pilot-give-up")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows: list[dict] = []
    lines = [
        "| clip | quality | GOP length | same file | lengths stopped | pilot s, all trained | with stops | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for source in clips_in(args.clips, args.only):
            clip = prepare(source, work, frames=args.frames)
            for quality in map(int, args.qualities.split(",")):
                settings = EncodeSettings(quality=quality, preset=args.preset)
                order = (False, True) if len(rows) % 2 == 0 else (True, False)  # neither always runs first
                runs = {stops: encode_once(clip.video, settings, stops, work) for stops in order}
                full, stopped = runs[False], runs[True]
                same = full["sha256"] == stopped["sha256"] and full["gop_length"] == stopped["gop_length"]
                ratio = stopped["pilot_seconds"] / full["pilot_seconds"]
                rows.append({"clip": clip.name, "quality": quality, "full": full, "stops": stopped, "same": same})
                lines.append(
                    f"| {clip.name} | {quality} | {stopped['gop_length']} | {'yes' if same else 'NO'} "
                    f"| {stopped['stopped']} | {full['pilot_seconds']:.1f} | {stopped['pilot_seconds']:.1f} "
                    f"| {ratio:.2f} |"
                )
                print(lines[-1], flush=True)
    ratios = [r["stops"]["pilot_seconds"] / r["full"]["pilot_seconds"] for r in rows]
    whole = sum(r["stops"]["seconds"] for r in rows) / sum(r["full"]["seconds"] for r in rows)
    lines.append(
        f"\nPilot time with stops / without: geometric mean {statistics.geometric_mean(ratios):.2f} "
        f"({min(ratios):.2f}-{max(ratios):.2f}); whole encodes {whole:.2f}. Files identical: "
        f"{sum(r['same'] for r in rows)} of {len(rows)}."
    )
    write_outputs(args.out, rows, lines, "pilot_give_up.py", argv, started)


if __name__ == "__main__":
    main()
