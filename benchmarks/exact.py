"""Exact decoding: each .nrf decoded in float32 and in float64 on each device, MD5 of the frames and seconds.

Run the same command on two machines (or devices) and compare the MD5 column: the float64 one
must agree everywhere (docs/decisions/0043-float64-rendering.md). Each dtype is decoded twice,
alternating, in one process; the second run's seconds leave out start-up.

    python benchmarks/exact.py tests/fixtures/carphone_fields-3.2.nrf --devices cpu,cuda
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import frames_md5

from nrffcodec import decoder

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--devices", default="cpu")
    args = parser.parse_args()
    chosen = decoder.RENDER_DTYPE
    try:
        for path in args.files:
            data = path.read_bytes()
            for device in args.devices.split(","):
                for attempt in (1, 2):
                    for name, dtype in DTYPES.items():
                        decoder.RENDER_DTYPE = dtype
                        started = time.perf_counter()
                        video = decoder.decode(data, device=device)
                        seconds = time.perf_counter() - started
                        row = {"file": path.name, "device": device, "dtype": name, "run": attempt}
                        print(json.dumps(row | {"md5": frames_md5(video), "seconds": round(seconds, 3)}), flush=True)
    finally:
        decoder.RENDER_DTYPE = chosen


if __name__ == "__main__":
    main()
