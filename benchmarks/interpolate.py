"""Frame interpolation benchmark: decoding at twice the rate against the neighbour average and FFmpeg.

For each clip (prepared as rd.py does: first 32 frames, bikes from frame 32, scaled to CIF
class), only the even frames are encoded (a video of frames 0, 2, 4, ... at half the frame rate),
the file is decoded at `--fps 2x`, and the odd frames between two coded ones (1, 3, ..., 29) are
scored against the source, PSNR-YUV (6:1:1) and PSNR-RGB. Side by side on the same frames: the
plain average of the two neighbouring decoded frames, and FFmpeg's motion-compensated
`minterpolate` (mi_mode=mci) run on the decoded even frames through PyAV's filter graph. Each way
of rendering an instant (core.inbetween: motion, field, blend) is also scored per kind of instant
(inside a GOP, next to its keyframe, between GOPs), which is what the default choice rests on.
Run by hand (tens of minutes on a 2-core CPU at --preset fast):

    python benchmarks/interpolate.py                          # quality 5, --preset fast
    python benchmarks/interpolate.py --preset medium --only carphone

Coded files are kept in OUT/<clip>-q<quality>-<preset>.nrf and reused; the table goes to
OUT/summary.md and OUT/results.json and to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import av
import numpy as np
from common import DEFAULT_CLIPS, FRAMES, MAX_SIZE, REPO, clips_in, prepare, write_outputs

from bitstream import NrfFile
from nrffcodec.core.ffmpeg import frame_from_planes
from nrffcodec.core.gop import Gop
from nrffcodec.core.inbetween import KINDS, MODES, blend, instant_kind
from nrffcodec.core.quality import measure
from nrffcodec.core.video import Video
from nrffcodec.decoder import decode, decode_at_rate
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.errors import NrffError
from nrffcodec.settings import EncodeSettings

CLIPS = ("carphone", "bikes", "vtest")


def even_frames(video: Video) -> Video:
    """Frames 0, 2, 4, ... at half the frame rate: what the codec is given."""
    return dataclasses.replace(video, y=video.y[::2], u=video.u[::2], v=video.v[::2], fps=video.fps / 2, notes=[])


def pick(video: Video, indices: list[int]) -> Video:
    return dataclasses.replace(video, y=video.y[indices], u=video.u[indices], v=video.v[indices], notes=[])


def minterpolate(video: Video) -> Video:
    """FFmpeg's minterpolate (mi_mode=mci) at twice the rate, on the given frames: frame 2k is input k,
    2N - 1 frames for N."""
    graph = av.filter.Graph()
    source = graph.add_buffer(width=video.width, height=video.height, format="yuv420p", time_base=1 / video.fps)
    filt = graph.add("minterpolate", f"fps={video.fps * 2}:mi_mode=mci")
    sink = graph.add("buffersink")
    source.link_to(filt)
    filt.link_to(sink)
    graph.configure()
    out: dict[int, np.ndarray] = {}

    def drain() -> None:
        while True:
            try:
                frame = sink.pull()
            except (BlockingIOError, av.error.EOFError):
                return
            index = round(frame.pts * frame.time_base * video.fps * 2)
            out[index] = frame.to_ndarray(format="yuv420p")

    # The filter holds back its last pair at the end of the stream: two copies of the last frame after
    # it (never scored) let it emit every instant between the real frames. (Its first in-between
    # instant is always a copy of the first frame, with or without copies of it before.)
    for t in range(video.frame_count + 2):
        frame = frame_from_planes(*video.planes(min(t, video.frame_count - 1)))
        frame.pts, frame.time_base = t, 1 / video.fps
        source.push(frame)
        drain()
    source.push(None)
    drain()
    h, w = video.height, video.width
    frames = [out[i] for i in range(2 * video.frame_count - 1)]
    y = np.stack([f[:h] for f in frames])
    chroma = np.stack([f[h:].reshape(-1) for f in frames])
    ch, cw = (h + 1) // 2, (w + 1) // 2
    u, v = chroma[:, : ch * cw].reshape(-1, ch, cw), chroma[:, ch * cw :].reshape(-1, ch, cw)
    return dataclasses.replace(video, y=y, u=u, v=v, fps=video.fps * 2, notes=[])


def score(reference: Video, candidate: Video, members: list[int] | None = None) -> dict[str, float]:
    if members is not None:
        reference, candidate = pick(reference, members), pick(candidate, members)
    q = measure(reference, candidate)
    return {"psnr_yuv": round(q.psnr_yuv, 2), "psnr_rgb": round(q.psnr_rgb, 2)}


def neighbour_average(decoded: Video) -> Video:
    """Frame k: the rounded mean of decoded frames k and k + 1."""
    planes = [blend(decoded.planes(k), decoded.planes(k + 1), 0.5) for k in range(decoded.frame_count - 1)]
    return dataclasses.replace(
        decoded,
        y=np.stack([p[0] for p in planes]),
        u=np.stack([p[1] for p in planes]),
        v=np.stack([p[2] for p in planes]),
        notes=[],
    )


def run_clip(source: Path, out: Path, settings: EncodeSettings, frames: int) -> dict:
    clip = prepare(source, out / "clips", frames, MAX_SIZE)
    video = clip.video
    even = even_frames(video)
    gop = "" if settings.gop is None else f"-gop{settings.gop}"
    nrf_path = out / f"{clip.name}-q{settings.quality}-{settings.preset}{gop}{'-i' * bool(settings.iterations)}.nrf"
    encode_seconds = None
    if not nrf_path.exists():
        started = time.perf_counter()
        data, _ = encode_video(even, settings, log=lambda text: print(f"   {text}", file=sys.stderr))
        encode_seconds = round(time.perf_counter() - started, 1)
        nrf_path.write_bytes(data)
    data = nrf_path.read_bytes()
    decoded = decode(data, device="cpu")
    pairs = decoded.frame_count - 1  # odd frames 1 .. 2 * pairs - 1 lie between two coded ones
    odd = list(range(1, 2 * pairs, 2))
    reference = pick(video, odd)
    nrf = NrfFile(data)
    gops = [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]
    kinds = {k: [n for n in range(pairs) if instant_kind(gops, n) == k] for k in KINDS}
    row: dict = {
        "clip": clip.name,
        "note": clip.note,
        "bytes": len(data),
        "gops": [f"{g.first}-{g.end - 1} key {g.key}" for g in gops],
        "encode_s": encode_seconds,
        "instants": {k: len(v) for k, v in kinds.items()},
        "coded_even_frames": score(even, decoded),
    }

    def scored(candidate: Video) -> dict:
        result = score(reference, candidate)
        result.update({f"{k} psnr_yuv": score(reference, candidate, v)["psnr_yuv"] for k, v in kinds.items() if v})
        return result

    row["average"] = scored(
        dataclasses.replace(reference, **{p: getattr(neighbour_average(decoded), p) for p in "yuv"})
    )
    row["minterpolate"] = scored(pick(minterpolate(decoded), odd))
    policies = {"default": None} | {mode: {k: mode for k in KINDS} for mode in MODES}
    for name, modes in policies.items():
        started = time.perf_counter()
        doubled = decode_at_rate(data, "2x", device="cpu", modes=modes)
        seconds = time.perf_counter() - started
        if not all(np.array_equal(getattr(doubled, p)[::2], getattr(decoded, p)) for p in "yuv"):
            raise AssertionError(f"{clip.name}: --fps 2x changed a frame at an original instant ({name})")
        row[f"nrff {name}"] = scored(pick(doubled, odd)) | {"decode_s": round(seconds, 2)}
    return row


def table(rows: list[dict]) -> list[str]:
    """Markdown: per clip, PSNR-YUV / PSNR-RGB of each method on the odd frames, then per kind of instant."""
    methods = ["nrff default", "average", "minterpolate"]
    lines = [
        "| clip | coded | odd frames scored | " + " | ".join(f"{m} YUV / RGB" for m in methods) + " |",
        "|" + "---|" * (3 + len(methods)),
    ]
    for r in rows:
        coded = f"{r['bytes']:,} B, {len(r['gops'])} GOP(s), {r['coded_even_frames']['psnr_yuv']} dB YUV"
        cells = [f"{r[m]['psnr_yuv']:.2f} / {r[m]['psnr_rgb']:.2f}" for m in methods]
        lines.append(
            f"| {r['clip']} ({r['note']}) | {coded} | {sum(r['instants'].values())} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "PSNR-YUV by kind of instant (count): each way of rendering it, beside the average and minterpolate.",
        "",
    ]
    columns = [f"nrff {m}" for m in MODES] + ["average", "minterpolate"]
    lines += ["| clip | kind (instants) | " + " | ".join(columns) + " |", "|" + "---|" * (2 + len(columns))]
    for r in rows:
        for kind in KINDS:
            if r["instants"][kind]:
                cells = [f"{r[c][f'{kind} psnr_yuv']:.2f}" for c in columns]
                lines.append(f"| {r['clip']} | {kind} ({r['instants'][kind]}) | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips (default %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "interpolate", help="results (default %(default)s)")
    parser.add_argument("--only", default=",".join(CLIPS), help="comma-separated clip names (default %(default)s)")
    parser.add_argument("--frames", type=int, default=FRAMES, help="source frames per clip (default %(default)s)")
    parser.add_argument("--quality", type=int, default=5)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--gop", type=int, help="fix the GOP length (default: the pilot chooses, as nrff encode does)")
    parser.add_argument("--iterations", type=int, help="override the preset's iterations (quick checks)")
    args = parser.parse_args(argv)
    settings = EncodeSettings(
        quality=args.quality, preset=args.preset, gop=args.gop, device="cpu", iterations=args.iterations
    )
    wanted = args.only.split(",")
    started = time.perf_counter()
    rows = []
    try:
        sources = {s.stem.replace("_pristine", ""): s for s in clips_in(args.clips)}
        for name in wanted:
            if name not in sources:
                raise NrffError(f"no clip {name!r} in {args.clips}")
            print(f"== {name}", file=sys.stderr)
            rows.append(run_clip(sources[name], args.out, settings, args.frames))
    except NrffError as exc:
        print(f"interpolate.py: error: {exc}", file=sys.stderr)
        return 2
    lines = [
        f"Even frames coded by nrff --quality {args.quality} --preset {args.preset}"
        f"{'' if args.gop is None else f' --gop {args.gop}'}, decoded at --fps 2x; the odd "
        f"frames between two coded ones scored against the source, PSNR-YUV (6:1:1) / PSNR-RGB in dB.",
        "",
        *table(rows),
    ]
    write_outputs(args.out, rows, lines, "interpolate.py", argv, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
