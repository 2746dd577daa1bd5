"""Probe: what is left in a KHDR's coded frame headers, and what would a learned start take off?

SVT-AV1 preset 0 codes each clip (prepared as rd.py does) at each CRF, as the sweep's anchor does.
The KHDR model (bitstream/av1_header_model.py) then codes its frame headers, and this script
prints each field's cost under the model: the sum of -log2 p over the bits coded for it. The
structural fields (which frame is shown, which slots are refreshed and referenced) depend on the
encoder's prediction structure, not on the pictures.

`--prior-from CLIPS` measures a learned start: the model's counts after coding those clips at the
same CRFs, summed and scaled down to at most `--prior-weight` per context, become the starting
counts of every context instead of [1, 1]; the clips measured should not be among them. A
measurement for docs/decisions/0065, run by hand:

    python benchmarks/header_costs.py --only carphone,bikes,vtest --prior-from tree
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
from pathlib import Path

from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare

from bitstream import av1
from bitstream.av1_header_model import probability_of_one
from bitstream.av1_headers import HeaderEncoding, sequence_header_of, walk_headers
from bitstream.av1_syntax import SequenceHeader
from nrffcodec.evaluation.svtav1 import SvtAv1

STRUCTURE = {
    "show_existing_frame",
    "frame_to_show_map_idx",
    "frame_type",
    "show_frame",
    "showable_frame",
    "order_hint",
    "primary_ref_frame",
    "refresh_frame_flags",
    "ref_frame_idx",
}
Counts = dict[tuple, list[int]]


class CostingSource(HeaderEncoding):
    """The writer's field source, costing each field's bits under the model instead of range-coding them."""

    def __init__(self, seq: SequenceHeader, start: Counts) -> None:
        super().__init__(seq)
        self.model.counts = {context: list(counts) for context, counts in start.items()}
        self.costs: collections.Counter[str] = collections.Counter()
        self.name = ""

    def code_bit(self, counts: list[int], bit: int | None) -> int:
        assert bit is not None
        p = probability_of_one(counts)
        self.costs[self.name] -= math.log2(p if bit else 1 - p)
        return bit

    def f(self, name: str, bits: int) -> int:
        self.name = name
        return super().f(name, bits)


def cost_headers(units: list[bytes], start: Counts) -> CostingSource:
    """Cost the frame headers of one SVT-AV1 stream's OBUs (sequence header first) from `start`, as
    the KHDR writer walks them (bitstream.av1_headers.walk_headers)."""
    obus = [obu for unit in units for obu in av1.split_obus(unit)]
    seq = sequence_header_of(obus[0])
    source = CostingSource(seq, start)
    walk_headers(source, obus[1:], seq)
    return source


def learned_start(runs: list[list[bytes]], weight: int) -> Counts:
    """Each context's counts after coding `runs`, summed, scaled to at most `weight` observations."""
    totals: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
    for units in runs:
        for context, (zeros, ones) in cost_headers(units, {}).model.counts.items():
            totals[context][0] += zeros - 1
            totals[context][1] += ones - 1
    start = {}
    for context, (zeros, ones) in totals.items():
        scale = min(1.0, weight / max(1, zeros + ones))
        start[context] = [1 + round(zeros * scale), 1 + round(ones * scale)]
    return start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument("--crfs", default="63,55,45,35")
    parser.add_argument("--prior-from", help="comma-separated clip names to learn starting counts from")
    parser.add_argument("--prior-weight", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "header-costs")
    args = parser.parse_args(argv)
    crfs = [int(c) for c in args.crfs.split(",")]
    codec = SvtAv1("0")

    def streams(names: str | None) -> dict[str, list[bytes]]:
        found = {}
        for source in clips_in(args.clips, names):
            clip = prepare(source, args.out / "clips", FRAMES, MAX_SIZE)
            for crf in crfs:
                found[f"{clip.name} crf {crf}"] = codec.encode_units(clip.video, crf)
        return found

    measured = streams(args.only)
    start = learned_start(list(streams(args.prior_from).values()), args.prior_weight) if args.prior_from else {}
    report = {}
    for label, units in measured.items():
        costs = cost_headers(units, {}).costs
        total = sum(costs.values()) / 8
        structure = sum(c for name, c in costs.items() if name in STRUCTURE) / 8
        row = {"bytes": sum(map(len, units)), "headers_B": total, "structure_B": structure}
        if args.prior_from:
            row["headers_learned_start_B"] = sum(cost_headers(units, start).costs.values()) / 8
        row["fields_B"] = {name: c / 8 for name, c in costs.most_common()}
        report[label] = row
        top = ", ".join(f"{name} {c / 8:.1f}" for name, c in costs.most_common(6))
        learned = f", from the learned start {row['headers_learned_start_B']:.1f} B" if args.prior_from else ""
        print(f"{label}: {row['bytes']} B; headers {total:.1f} B, structure {structure:.1f} B{learned}; {top}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "header_costs.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
