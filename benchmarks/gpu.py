"""CUDA check for a session lent a GPU: one short script, since device time is scarce.

Stages, each printed as one JSON line the moment it is measured:
- graphs: training milliseconds per iteration at 1080p with each step launched op by op, then
  replayed as one captured CUDA graph (steps.CUDA_GRAPHS), then op by op again (the first encode in
  a process also pays CUDA's start-up), and whether the files are byte-identical;
- probe: training milliseconds per iteration on a clip scaled to 1080p at 4x the CUDA batch, then
  at the CUDA batch (is a step bound by the GPU or by the CPU that launches its kernels? The
  first encode in a process also pays CUDA's start-up);
- jobs: training throughput with 1, 2 and 4 processes sharing the GPU;
- batch: quality on carphone (176x144) at the preset's steps (or --batch-steps) with batches of
  1x (the CPU's), 16x and 64x 1024 blocks, and 64x at a quarter of the steps;
- decode: frames per second at 1080p, and whether two decodes give the same frames; with
  `--reference FILE.nrf --reference-md5 HEX` (made on another machine's CPU) also whether CUDA and
  this CPU decode that file to those frames;
- encode: a whole 1080p encode (pilot included) at the preset, when the probe predicts it fits
  `--budget` seconds; else without the pilot, else skipped with the prediction.

    python benchmarks/gpu.py ../shared/clips/vtest.avi --budget 150 --reference ref.nrf --reference-md5 HEX
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from common import DEFAULT_CLIPS, frames_md5, size_type, training_iterations

from nrffcodec.core.video import Video
from nrffcodec.decoder import decode
from nrffcodec.encoder import runner, steps, train
from nrffcodec.encoder.gop_length import pilot_schedule
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.train import schedule_for
from nrffcodec.evaluation import machine
from nrffcodec.evaluation.scaling import scale_video
from nrffcodec.media.reader import read_video
from nrffcodec.settings import EncodeSettings

STAGES = ("graphs", "probe", "jobs", "batch", "decode", "encode")
BATCH_FACTOR = train.CUDA_BATCH_FACTOR  # the shipped values, restored after each encode that changes them
GRAPHS = steps.CUDA_GRAPHS


def pilot_and_final(preset: str, frames: int, pixels: int, candidates: tuple[int, ...]) -> int:
    """Upper bound of an encode's training iterations: each candidate's pilot, then the costliest plan."""
    schedule = schedule_for(preset, "cuda")
    pilot = 0
    if len(candidates) > 1:
        pilot = sum(training_iterations(pilot_schedule(schedule), frames, g, pixels) for g in candidates)
    return pilot + max(training_iterations(schedule, frames, g, pixels) for g in candidates)


def timed_decode(data: bytes, device: str, repeats: int = 3) -> tuple[float, Video]:
    decoded = decode(data, device=device)  # warm-up: first kernels, allocator
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        decoded = decode(data, device=device)
        times.append(time.perf_counter() - started)
    return statistics.median(times), decoded


@dataclasses.dataclass
class Check:
    """The run's fixed settings and its results so far (`out`, printed whole at the end)."""

    device: str
    preset: str
    quality: int
    out: dict

    def report(self, key: str, value) -> None:
        self.out[key] = value
        print(json.dumps({key: value}), flush=True)

    def encode(
        self, video: Video, batch_factor: int | None = None, graphs: bool = True, **settings
    ) -> tuple[bytes, dict]:
        """One encode; returns its bytes and what it measured (training ms per iteration included)."""
        if batch_factor is not None:
            train.CUDA_BATCH_FACTOR = batch_factor
        steps.CUDA_GRAPHS = graphs
        try:
            chosen = EncodeSettings(**(dict(quality=self.quality, preset=self.preset, device=self.device) | settings))
            schedule = schedule_for(chosen.preset, self.device, chosen.iterations)  # the batch the encode uses
            data, rep = encode_video(video, chosen)
        finally:
            train.CUDA_BATCH_FACTOR, steps.CUDA_GRAPHS = BATCH_FACTOR, GRAPHS
        its = training_iterations(schedule, video.frame_count, rep.gop_length, video.width * video.height)
        return data, {
            "batch_blocks": schedule.batch_blocks,
            "gop": rep.gop_length,
            "jobs": settings.get("jobs"),
            "iterations": its,
            "train_seconds": round(rep.train_seconds, 2),
            "seconds": round(rep.seconds, 2),
            "ms_per_iteration": round(1000 * rep.train_seconds / its, 3),
            "bytes": rep.bytes,
            "psnr_rgb": round(rep.quality.psnr_rgb, 3),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="1920x1080", type=size_type)
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--probe-iterations", type=int, default=400)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds the whole encode may take")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--batch-steps", type=int, help="the batch stage's float steps (default: the preset's)")
    parser.add_argument("--reference", type=Path)
    parser.add_argument("--reference-md5")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    stages = args.stages.split(",")
    width, height = args.size
    check = Check(args.device, args.preset, args.quality, {})
    check.report("machine", machine.describe(args.device) | machine.versions())
    source = read_video(args.clip, (0, args.frames))
    video = scale_video(source, width, height)
    short = video.frames(0, 8)
    check.report(
        "clip",
        f"{args.clip.name} {source.width}x{source.height} scaled to {width}x{height}, {video.frame_count} frames",
    )
    probe_data, probe, throughput = b"", {}, 0.0
    if "graphs" in stages:
        runs = []
        for graphs in (False, True, False):
            data, measured = check.encode(short, graphs=graphs, gop=8, iterations=args.probe_iterations, jobs=1)
            runs.append((data, measured))
            check.report(f"graphs_{graphs}_{len(runs)}", measured)
        check.report(
            "graphs",
            {
                "speedup": round(runs[2][1]["ms_per_iteration"] / runs[1][1]["ms_per_iteration"], 2),
                "byte_identical": runs[0][0] == runs[1][0] == runs[2][0],
            },
        )
    if "probe" in stages:
        for factor in (4 * BATCH_FACTOR, BATCH_FACTOR):  # the shipped factor last: the first encode pays start-up
            probe_data, probe = check.encode(short, factor, gop=8, iterations=args.probe_iterations, jobs=1)
            check.report(f"probe_batch_{probe['batch_blocks']}", probe)
    if "jobs" in stages:
        for jobs in (1, 2, 4):
            _, measured = check.encode(video, gop=4, iterations=args.probe_iterations, jobs=jobs)
            rate = measured["iterations"] / measured["train_seconds"]
            throughput = rate if jobs == runner.CUDA_JOBS else throughput
            check.report(f"jobs_{jobs}", measured | {"gop_iterations_per_second": round(rate, 1)})
    if "batch" in stages:
        carphone = read_video(DEFAULT_CLIPS / "carphone_pristine.mp4", (0, 32))
        full = args.batch_steps or schedule_for(args.preset, "cpu").steps(7)[0]
        for factor, steps in ((1, full), (BATCH_FACTOR, full), (4 * BATCH_FACTOR, full), (4 * BATCH_FACTOR, full // 4)):
            _, measured = check.encode(carphone, factor, gop=8, iterations=steps)
            check.report(f"batch_{measured['batch_blocks']}_steps_{steps}", measured)
    if "decode" in stages:
        data = probe_data or check.encode(short, gop=8, iterations=50, jobs=1)[0]
        seconds, decoded = timed_decode(data, args.device)
        again = decode(data, device=args.device)
        check.report(
            "decode",
            {
                "frames_per_second": round(short.frame_count / seconds, 2),
                "repeatable": frames_md5(again) == frames_md5(decoded),
            },
        )
        if args.reference:
            data = args.reference.read_bytes()
            on_device, on_cpu = decode(data, device=args.device), decode(data, device="cpu")
            check.report(
                "reference",
                {
                    "expected_md5": args.reference_md5,
                    "device_md5": frames_md5(on_device),
                    "this_cpu_md5": frames_md5(on_cpu),
                },
            )
    if "encode" in stages and probe:
        # the rate of CUDA_JOBS processes sharing the GPU where measured, else one process's
        rate = throughput or 1000 / probe["ms_per_iteration"]
        overhead = 4 * (probe["seconds"] - probe["train_seconds"])  # keyframes, verification decode, metrics
        pixels, frames = width * height, video.frame_count
        options = []
        for preset in dict.fromkeys((args.preset, "fast")):
            candidates = EncodeSettings(quality=args.quality, preset=preset).gop_candidates
            options += [
                (preset, None, overhead + pilot_and_final(preset, frames, pixels, candidates) / rate),
                (preset, 8, overhead + pilot_and_final(preset, frames, pixels, (8,)) / rate),
            ]
        check.report("predicted_encode_seconds", {f"{p} gop {g or 'auto'}": round(s) for p, g, s in options})
        fitting = [(p, g) for p, g, s in options if s <= args.budget]
        if fitting:
            preset, gop = fitting[0]
            started = time.perf_counter()
            _, measured = check.encode(video, preset=preset, **({"gop": gop} if gop else {}))
            check.report(
                "encode",
                measured
                | {
                    "preset": preset,
                    "pilot": gop is None,
                    "seconds_per_frame": round((time.perf_counter() - started) / frames, 2),
                },
            )
    print(json.dumps(check.out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
