"""Bytes that keyframe runs save on GOP-length-1 encodes: each clip's frames coded by the keyframe
codec alone, stored from the same chunks without runs (every GOP its own GOPC, as 3.2 wrote it), with
KRUN runs (3.3) and with KSTR runs (3.4, AV1's OBUs alone). Run by hand (about a minute a clip on a
2-core CPU), not in CI:

    python benchmarks/runs.py --only carphone,bikes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare

from bitstream import write_nrf
from nrffcodec import EncodeSettings, encode_video
from nrffcodec.decoder import file_parts


def layouts(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The same file written again without runs, with KRUNs and with KSTRs, from one parse of it."""
    parts = file_parts(data)
    return tuple(
        write_nrf(*parts, runs=runs, stream_runs=stream, major=3).data
        for runs, stream in ((False, False), (True, False), (True, True))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--qualities", default="1,3,5,7")
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args(argv)
    print("| clip | quality | frames | without runs (3.2) | KRUN (3.3) | KSTR (3.4) | KSTR saves per frame | saved |")
    print("|---|---|---|---|---|---|---|---|")
    for source in clips_in(args.clips, args.only):
        clip = prepare(source, REPO / "out" / "runs", FRAMES, MAX_SIZE)
        for quality in map(int, args.qualities.split(",")):
            settings = EncodeSettings(gop=1, quality=quality, preset=args.preset, device="cpu")
            data, _ = encode_video(clip.video, settings)
            frames = clip.video.frame_count
            plain, krun, kstr = layouts(data)
            saved = len(krun) - len(kstr)
            print(
                f"| {clip.name} | {quality} | {frames} | {len(plain):,} | {len(krun):,} | {len(kstr):,} "
                f"| {saved / frames:.1f} B | {100 * saved / len(krun):.1f}% |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
