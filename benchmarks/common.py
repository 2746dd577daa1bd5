"""What the benchmarks share: which frames of which clip, at what size, as one lossless file.

Each clip is read once, cut to its frames, scaled down by a whole factor when larger than
MAX_SIZE (swscale bicubic, nrffcodec.evaluation.scaling.scale_video) and written as a lossless FFV1 .mkv. Every
codec then reads those frames: `nrff sweep that.mkv` reproduces a benchmark row by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from nrffcodec.core.gop import plan_gops
from nrffcodec.core.video import Video
from nrffcodec.errors import InputError
from nrffcodec.evaluation import machine
from nrffcodec.evaluation.scaling import scale_video
from nrffcodec.media.reader import read_video
from nrffcodec.media.writer import write_video
from nrffcodec.settings import Schedule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = REPO.parent / "shared" / "clips"
MAX_SIZE = (384, 288)  # CIF-class: the size a 2-core CPU sweep finishes in hours, not days
FRAMES = 32
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".y4m", ".mpg", ".mpeg", ".webm", ".m4v"}
# Where a clip's first frames are unusable: bikes 0-29 is a near-static wall with a cut at frame 30.
FIRST_FRAME = {"bikes": 32}


def frames_md5(video: Video) -> str:
    """MD5 of the Y, U and V planes: compared across runs, devices and machines."""
    digest = hashlib.md5()
    for plane in (video.y, video.u, video.v):
        digest.update(np.ascontiguousarray(plane).tobytes())
    return digest.hexdigest()


def training_iterations(schedule: Schedule, frames: int, gop_length: int, pixels: int) -> int:
    """Training iterations (float + quantization-aware) of every GOP of a `frames`-frame clip at `gop_length`."""
    return sum(sum(schedule.steps(len(g.predicted), pixels)) for g in plan_gops(frames, gop_length) if g.predicted)


def clips_in(folder: Path, only: str | None = None) -> list[Path]:
    """The videos in `folder`, sorted; only those named in `only` (comma-separated stems, "_pristine"
    dropped) when it is given."""
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    wanted = set(only.split(",")) if only else None
    return [p for p in clips if wanted is None or p.stem.replace("_pristine", "") in wanted or p.stem in wanted]


def entropy_bits(symbols: np.ndarray) -> float:
    """Empirical entropy of `symbols`, in bits for all of them: what a free model fitted to them needs."""
    if symbols.size == 0:
        return 0.0
    _, counts = np.unique(symbols, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def parse_size(text: str, option: str = "--max-size") -> tuple[int, int]:
    """ "WxH" -> (W, H), both at least 16; InputError naming `option` otherwise."""
    width, _, height = text.lower().partition("x")
    if not (width.isascii() and width.isdigit() and height.isascii() and height.isdigit()):
        raise InputError(f"{option} must be WIDTHxHEIGHT, like 384x288, got {text!r}")
    size = int(width), int(height)
    if min(size) < 16:
        raise InputError(f"{option} must be at least 16x16, got {text!r}")
    return size


def size_type(text: str) -> tuple[int, int]:
    """parse_size as argparse's `type=`: a bad size is argparse's one-line error and exit 2."""
    try:
        return parse_size(text, "a size")
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def fitted_size(width: int, height: int, limit: tuple[int, int] = MAX_SIZE) -> tuple[int, int]:
    """Divide both sides by the smallest whole factor that fits `limit` (640x272 -> 320x136)."""
    factor = max(1, math.ceil(max(width / limit[0], height / limit[1])))
    return width // factor, height // factor


@dataclasses.dataclass
class Prepared:
    name: str
    source: Path
    path: Path  # the lossless intermediate every codec reads
    video: Video
    note: str


def prepare(
    source: Path, work: Path, frames: int = FRAMES, limit: tuple[int, int] = MAX_SIZE, start: int | None = None
) -> Prepared:
    """Cut, scale and write `source` losslessly under `work`; the frames come back from that file.
    `start`: the first frame (default: FIRST_FRAME's, else 0)."""
    name = source.stem.replace("_pristine", "")
    start = FIRST_FRAME.get(name, 0) if start is None else start
    video = read_video(source, (start, start + frames))
    width, height = fitted_size(video.width, video.height, limit)
    note = f"{video.width}x{video.height}"
    if (width, height) != (video.width, video.height):
        video = scale_video(video, width, height)
        note += f" scaled to {width}x{height}"
    end = start + video.frame_count
    path = work / f"{name}_{width}x{height}_f{start}-{end}.mkv"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        write_video(path, video)
    back = dataclasses.replace(read_video(path), first_frame=start)  # frame numbers of the source
    return Prepared(name, source, path, back, f"{note}, frames {start}-{end - 1}")


def write_outputs(
    out: Path,
    results: object,
    lines: list[str],
    script: str,
    argv: list[str] | None,
    started: float,
    device: str = "cpu",
) -> None:
    """OUT/results.json, and OUT/summary.md (`lines`, then the command as typed, its minutes, the machine,
    the versions and the date), also printed."""
    m = machine.describe(device)
    command = f"python benchmarks/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
    footer = (
        f"Command: `{command.strip()}` ({(time.perf_counter() - started) / 60:.0f} min). Machine: {m['cpu']}, "
        f"{m['cores']} cores, device {m.get('gpu', device)}. Versions: "
        + ", ".join(f"{k} {val}" for k, val in machine.versions().items())
        + f". Date: {datetime.date.today().isoformat()}."
    )
    summary = "\n".join([*lines, "", footer])
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "summary.md").write_text(summary + "\n")
    print(summary)
