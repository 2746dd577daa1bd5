"""encode() and decode(): the library the CLI is a thin layer over.

Data flows one way: video -> GOP plan -> keyframes (AV1/HEVC) -> trained fields per GOP -> quantized
tensors -> container bytes. The encoder then runs the decoder on those bytes (the same parser and
renderer `nrff decode` uses) and reports quality measured on what it decoded.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from bitstream import (FieldArch, GopChunk, Header, Keyframe, KeyframeCodec, NrfFile, PixelFormat, QuantizedTensor,
                       QuantSpec, VideoInfo, coded_networks_size, write_nrf)

from .errors import InputError, OutputError
from .fields import CoordinateField, parameter_shapes
from .gop import Gop, gops_needed, plan_gops, reference_gops
from .gopsearch import (PILOT_FRACTION, PILOT_WINDOW, PilotMeasure, descending_search, distinct_plans, pilot_gop,
                        pilot_schedule)
from .io import Video, atomic_output, check_output, output_kind, read_video, refuse_overwrite, write_video
from .keyframes import KeyframeCoder, Planes, intra_group, keyframe_coder
from .metrics import Quality, measure, psnr, rgb_mse
from .quant import dequantize
from .render import GopRenderer, planes_to_yuv444, pool_chroma, to_uint8
from .resources import (check_decode_memory, estimated_nrf_bytes, estimated_video_bytes, explain_cuda_oom,
                        train_with_fallback)
from .settings import EncodeSettings, field_archs, flow_scale_for, resolve_device
from .train import CUDA_JOBS, GopResult, GopTask, Schedule, schedule_for, train_gop
from .workdir import Workdir, job_key

Progress = Callable[[int, int, str], None]
Log = Callable[[str], None]


@dataclasses.dataclass
class EncodeReport:
    """What an encode produced, measured on the decoded file."""

    bytes: int
    bpp: float
    quality: Quality
    width: int
    height: int
    frames: int
    gops: int
    gop_length: int  # --gop, or the pilot's choice
    keyframe_bytes: int
    network_bytes: int
    container_bytes: int
    seconds: float
    train_seconds: float
    device: str
    notes: list[str]

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["quality"] = self.quality.as_dict()
        return out


# ---------------------------------------------------------------- keyframes


def _code_keyframes(video: Video, gops: Sequence[Gop], codec: KeyframeCoder, qp: int, period: int, preset: str
                    ) -> tuple[list[bytes], list[Keyframe]]:
    """Code every keyframe (one stream, intra every `period`); share identical parameter sets."""
    pictures = [(video.y[g.key], video.u[g.key], video.v[g.key]) for g in gops]
    parameter_sets: list[bytes] = []
    records = []
    for coded in codec.encode_sequence(pictures, qp, period, video.full_range, preset):
        ids = []
        for unit in coded.parameter_sets:
            if unit not in parameter_sets:
                parameter_sets.append(unit)
            ids.append(parameter_sets.index(unit))
        records.append(Keyframe(ids, coded.slices))
    return parameter_sets, records


def decode_keyframes(codec: KeyframeCoder, parameter_sets: list[bytes], records: dict[int, Keyframe],
                     wanted: Sequence[int], period: int, height: int, width: int) -> dict[int, Planes]:
    """Keyframes `wanted`, each decoded from the intra keyframe of its group on (encoder and decoder alike).

    `records` must hold every keyframe from those intra keyframes on.
    """
    out: dict[int, Planes] = {}
    for index in sorted(wanted, reverse=True):
        if index in out:
            continue
        chain = intra_group(index, period)
        coded = [([parameter_sets[p] for p in records[i].parameter_set_ids], records[i].slices) for i in chain]
        where = f"keyframes of GOPs {chain.start}-{chain.stop - 1}"
        out.update(zip(chain, codec.decode_sequence(coded, height, width, where)))
    return {i: out[i] for i in wanted}


# ---------------------------------------------------------------- training in parallel


def _worker_init() -> None:
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # so that terminate() ends a worker mid-GOP


def _train_in_worker(task: GopTask) -> GopResult:
    """train_gop with the CUDA out-of-memory fallback; its message goes to stderr (the parent's log is not here)."""
    return train_with_fallback(task, train_gop, lambda text: print(text, file=sys.stderr))


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Terminate the pool's workers: shutdown() alone would wait for the GOPs still training."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_tasks(tasks: list[GopTask], jobs: int, progress: Progress | None, log: Log = lambda text: None,
               on_result: Callable[[GopResult], None] | None = None) -> list[GopResult]:
    """Train every GOP; CPU GOPs use one thread each (so results never depend on `jobs`).

    `on_result` sees each GOP the moment it is trained (the work folder keeps it).
    """
    if not tasks:
        return []
    results: dict[int, GopResult] = {}  # by position in `tasks` (pilot tasks may share GOP indices)
    total = len(tasks)
    if progress:
        progress(0, total, "training")

    def done(position: int, result: GopResult) -> None:
        results[position] = result
        if on_result:
            on_result(result)
        if progress:
            progress(len(results), total, f"GOP {result.index}: {result.train_psnr:.2f} dB train, "
                                          f"{result.seconds:.0f}s")

    on_cpu = tasks[0].device == "cpu"
    if jobs <= 1 or total == 1:
        with _single_thread() if on_cpu else contextlib.nullcontext():
            for position, task in enumerate(tasks):
                done(position, train_with_fallback(task, train_gop, log))
    else:
        # fork like torch's DataLoader workers (threads set to 1 in the child); spawn where fork is absent,
        # and for CUDA, which cannot be used in a child forked from a process that has used it
        method = "fork" if on_cpu and "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
            futures = {pool.submit(_train_in_worker, task): position for position, task in enumerate(tasks)}
            try:
                for future in concurrent.futures.as_completed(futures):
                    done(futures[future], future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                _stop_workers(pool)
                raise
    return [results[position] for position in range(total)]


# ---------------------------------------------------------------- encode


def _gop_task(video: Video, gops: Sequence[Gop], gop: Gop, decoded_keys: dict[int, Planes],
              archs: tuple[FieldArch, FieldArch], flow_scale: float, schedule: Schedule, settings: EncodeSettings,
              device: str) -> GopTask:
    """GOP `gop` of plan `gops` as a training task: its frames to predict, its three decoded reference keyframes."""
    previous, own, following = (decoded_keys[i] for i in reference_gops(len(gops), gop.index))
    predicted = gop.predicted
    return GopTask(
        gop=gop,
        targets=(video.y[predicted], video.u[predicted], video.v[predicted]),
        ref_previous=previous, ref_own=own, ref_next=following,
        flow_arch=archs[0], residual_arch=archs[1], flow_scale=flow_scale,
        matrix=video.matrix, full_range=video.full_range, schedule=schedule,
        quant=settings.quant_config,
        seed=settings.seed * 1_000_003 + gop.index, device=device)


def _default_jobs(settings: EncodeSettings, device: str, tasks: int) -> int:
    """--jobs, else one process per CPU core, CUDA_JOBS on a GPU; never more than there are GOPs to train.

    On a GPU each training step is one CUDA graph, so one process keeps the GPU busy and a second
    one adds no throughput (train.CUDA_JOBS).
    """
    limit = os.cpu_count() or 1
    return settings.jobs or min(limit if device == "cpu" else min(limit, CUDA_JOBS), tasks)


def _keyframe_sse(video: Video, gops: Sequence[Gop], decoded_keys: dict[int, Planes]) -> float:
    """Squared error of the decoded keyframes in 8-bit RGB, summed over pixels (mean over channels)."""
    return sum(rgb_mse((video.y[g.key], video.u[g.key], video.v[g.key]), decoded_keys[g.index], video.matrix,
                       video.full_range) for g in gops) * video.width * video.height


def _choose_gop_length(video: Video, settings: EncodeSettings, codec: KeyframeCoder, schedule: Schedule,
                       device: str, progress: Progress | None, log: Log) -> int:
    """--gop if given; else the candidate length of least D + lambda R on a pilot (see gopsearch).

    Candidates are measured longest first, two at a time, and the search stops at the first round
    whose shortest length costs clearly more than the best (gopsearch.descending_search).
    """
    window = video.frames(0, min(video.frame_count, PILOT_WINDOW))
    plans = {g: plan_gops(window.frame_count, g) for g in settings.gop_candidates}
    candidates = distinct_plans(settings.gop_candidates, plans)
    if len(candidates) == 1:
        return candidates[0]
    started = time.perf_counter()
    qp = settings.rung.keyframe_qp_for(settings.keyframe_codec)
    flow_scale = flow_scale_for(video.height, video.width)
    log(f"choosing the GOP length among {', '.join(map(str, candidates))} frames, longest first: a pilot on "
        f"frames 0-{window.frame_count - 1} at {PILOT_FRACTION:g} of the steps")

    def measure_round(lengths: Sequence[int]) -> list[PilotMeasure]:
        pending = []
        for length in lengths:
            gops = plans[length]
            parameter_sets, keyframes = _code_keyframes(window, gops, codec, qp, settings.keyframe_period,
                                                         settings.preset)
            decoded = decode_keyframes(codec, parameter_sets, dict(enumerate(keyframes)), range(len(gops)),
                                       settings.keyframe_period, video.height, video.width)
            archs = field_archs(settings.rung_for_length(length), video.height, video.width,
                                max(g.count for g in gops))
            task = _gop_task(window, gops, pilot_gop(gops), decoded, archs, flow_scale, pilot_schedule(schedule),
                             settings, device)
            key_bytes = sum(k.payload_bytes for k in keyframes) + sum(len(p) for p in parameter_sets)
            pending.append((length, gops, key_bytes, _keyframe_sse(window, gops, decoded), task))
        trainable = [task for *_, task in pending if task.gop.predicted]
        pilot_progress = (lambda done, total, info: progress(done, total, f"pilot: {info}")) if progress else None
        trained = iter(_run_tasks(trainable, _default_jobs(settings, device, len(trainable)), pilot_progress, log))
        out = []
        for length, gops, key_bytes, key_sse, task in pending:
            network_bytes, network_mse = 0, 0.0
            if task.gop.predicted:
                result = next(trained)
                network_bytes = coded_networks_size([result.flow, result.residual])
                network_mse = 255.0 ** 2 * 10 ** (-result.train_psnr / 10)
            out.append(PilotMeasure(length, gops, key_bytes, key_sse, network_bytes, network_mse))
        return out

    lam, pixels = settings.rd_lambda, video.width * video.height
    best, measures = descending_search(candidates, measure_round, lam, pixels)
    frames = window.frame_count
    log("pilot (per frame: bytes, PSNR-RGB estimate): " + "; ".join(
        f"GOP {m.gop_length}: {m.bits() / 8 / frames:,.0f} B, {psnr(m.distortion(pixels) / pixels / frames):.2f} dB"
        for m in measures) + f" -> GOP {best.gop_length} (lambda {lam:,.0f}, {time.perf_counter() - started:.0f} s)")
    return best.gop_length


def encode_video(video: Video, settings: EncodeSettings = EncodeSettings(),
                 progress: Progress | None = None, log: Log | None = None,
                 workdir: str | os.PathLike | None = None) -> tuple[bytes, EncodeReport]:
    """Encode decoded frames to .nrf bytes; returns the bytes and the report measured on their decode.

    With `workdir`, keyframes and each trained GOP are kept there and reused by the same encode.
    """
    started = time.perf_counter()
    log = log or (lambda text: None)
    device = resolve_device(settings.device)
    codec = keyframe_coder(settings.keyframe_codec)
    schedule = schedule_for(settings.preset, device, settings.iterations)
    gop_length = _choose_gop_length(video, settings, codec, schedule, device, progress, log)
    rung = settings.rung_for_length(gop_length)
    gops = plan_gops(video.frame_count, gop_length)
    qp = rung.keyframe_qp_for(settings.keyframe_codec)
    longest = max(g.count for g in gops)
    flow_arch, residual_arch = field_archs(rung, video.height, video.width, longest)
    flow_scale = flow_scale_for(video.height, video.width)
    header = Header(
        video=VideoInfo(width=video.width, height=video.height, fps_num=video.fps.numerator,
                        fps_den=video.fps.denominator, frame_count=video.frame_count,
                        pixel_format=int(PixelFormat.YUV420P), matrix=video.matrix, full_range=video.full_range),
        gop_length=max(rung.gop, longest), gop_count=len(gops), keyframe_codec=int(settings.keyframe_codec),
        keyframe_period=settings.keyframe_period,
        flow_scale=flow_scale, flow=flow_arch, residual=residual_arch,
        quant=QuantSpec(weight_bits=rung.weight_bits, per_channel=settings.per_channel),
    )
    log(f"{video.frame_count} frames {video.width}x{video.height} @ {float(video.fps):.3f} fps: "
        f"{len(gops)} GOP{'s' * (len(gops) != 1)} of {gop_length} frames, networks {flow_arch.width}/"
        f"{residual_arch.width} wide, {KeyframeCodec(settings.keyframe_codec).name} keyframes at QP {qp}, "
        f"training on {device}")
    store = Workdir(workdir, job_key(video, settings, device), log, estimated_nrf_bytes(video, settings)) \
        if workdir else None
    period = settings.keyframe_period
    code = lambda: _code_keyframes(video, gops, codec, qp, period, settings.preset)  # noqa: E731
    parameter_sets, keyframes = store.keyframes(gops, code) if store else code()
    decoded_keys = decode_keyframes(codec, parameter_sets, dict(enumerate(keyframes)), range(len(gops)), period,
                                    video.height, video.width)
    tasks = [_gop_task(video, gops, gop, decoded_keys, (flow_arch, residual_arch), flow_scale, schedule, settings,
                       device) for gop in gops]
    results = store.finished([parameter_shapes(flow_arch), parameter_shapes(residual_arch)],
                             len(parameter_sets)) if store else {}
    trainable = [t for t in tasks if t.gop.predicted and t.gop.index not in results]
    jobs = _default_jobs(settings, device, len(trainable))
    train_started = time.perf_counter()
    if trainable:
        results.update((r.index, r) for r in _run_tasks(trainable, jobs, progress, log,
                                                        store.save if store else None))
    train_seconds = time.perf_counter() - train_started
    chunks = []
    for gop, keyframe in zip(gops, keyframes):
        result = results.get(gop.index)
        networks = [result.flow, result.residual] if result else _untrained_networks(flow_arch, residual_arch)
        chunks.append(GopChunk(gop.index, gop.first, gop.count, gop.key_offset, keyframe, networks))
    data = write_nrf(header, parameter_sets, chunks)
    log("decoding the written file to measure it")
    decoded = decode(data, device=device)  # the encoder runs the decoder on what it wrote
    quality = measure(video, decoded)
    keyframe_bytes = sum(c.keyframe_size for c in chunks) + sum(len(p) for p in parameter_sets)
    network_bytes = sum(c.weights_size for c in chunks)
    report = EncodeReport(
        bytes=len(data), bpp=8.0 * len(data) / (video.width * video.height * video.frame_count),
        quality=quality, width=video.width, height=video.height, frames=video.frame_count, gops=len(gops),
        gop_length=gop_length, keyframe_bytes=keyframe_bytes, network_bytes=network_bytes,
        container_bytes=len(data) - keyframe_bytes - network_bytes,
        seconds=time.perf_counter() - started, train_seconds=train_seconds, device=device,
        notes=list(video.notes))
    return data, report


def _untrained_networks(flow_arch, residual_arch) -> list[list[QuantizedTensor]]:
    """A GOP with only its keyframe still carries (all-zero, near-free) networks for a uniform format."""
    out = []
    for arch in (flow_arch, residual_arch):
        out.append([QuantizedTensor(np.zeros(s, dtype=np.int32), np.ones(1, dtype=np.float32))
                    for s in parameter_shapes(arch)])
    return out


def encode(input_path: str | os.PathLike, output_path: str | os.PathLike,
           settings: EncodeSettings = EncodeSettings(), progress: Progress | None = None,
           log: Log | None = None, workdir: str | os.PathLike | None = None) -> EncodeReport:
    """Read a video file, encode it, write the .nrf atomically; never overwrites the input."""
    src, dst = Path(input_path), Path(output_path)
    refuse_overwrite(src, dst)
    if dst.is_dir():
        raise OutputError(f"output {dst} is a folder; give a file name like out.nrf")
    if workdir is not None and Path(workdir).resolve() in (dst.resolve(), src.resolve()):
        raise OutputError(f"--workdir {workdir} must be a folder of its own, not the input or the output")
    check_output(dst)  # fail before hours of work when the folder is unwritable...
    video = read_video(src, settings.frames)
    check_output(dst, estimated_nrf_bytes(video, settings))  # ...or too full
    data, report = encode_video(video, settings, progress, log, workdir)
    with atomic_output(dst) as tmp:
        tmp.write_bytes(data)
    return report


# ---------------------------------------------------------------- decode


def _load(net: CoordinateField, tensors: list[QuantizedTensor], device: str) -> None:
    with torch.no_grad():
        for param, tensor in zip(net.ordered_parameters(), tensors):
            param.copy_(dequantize(tensor, device))


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode(source: str | os.PathLike | bytes | NrfFile, frames: tuple[int, int | None] | None = None,
           device: str = "auto", progress: Progress | None = None) -> Video:
    """Decode a .nrf (path, bytes or open NrfFile), optionally frames [start, end) only.

    A malformed, hostile or too large file raises BitstreamError, before any large allocation.
    """
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    header = nrf.header
    info = header.video
    height, width = info.height, info.width
    start, end = frames if frames else (0, None)
    end = info.frame_count if end is None else end
    if start >= info.frame_count:
        raise InputError(f"--frames {start}:{end} is outside the file's {info.frame_count} frames")
    end = min(end, info.frame_count)
    gops = [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]
    shapes = [parameter_shapes(header.flow), parameter_shapes(header.residual)]
    needed = gops_needed(gops, start, end)
    check_decode_memory(info, start, end, len(needed))
    chain = sorted({k for i in needed for k in intra_group(i, header.keyframe_period)})
    chunks = {i: nrf.read_gop(i, shapes) for i in chain}
    keys = decode_keyframes(keyframe_coder(header.keyframe_codec), nrf.parameter_sets,
                            {i: c.keyframe for i, c in chunks.items()}, needed, header.keyframe_period, height, width)
    count = end - start
    ch, cw = info.chroma_size
    out_y = np.empty((count, height, width), np.uint8)
    out_u = np.empty((count, ch, cw), np.uint8)
    out_v = np.empty((count, ch, cw), np.uint8)
    torch_device = torch.device(device)
    direct = [g for g in gops if g.first < end and g.end > start]
    for n, gop in enumerate(direct):
        previous, _, following = (keys[i] for i in reference_gops(len(gops), gop.index))
        renderer = GopRenderer(
            gop=gop, height=height, width=width, flow_scale=header.flow_scale,
            flow_net=CoordinateField(header.flow, device=torch_device),
            residual_net=CoordinateField(header.residual, device=torch_device),
            ref_previous=planes_to_yuv444(*previous, torch_device),
            ref_own=planes_to_yuv444(*keys[gop.index], torch_device),
            ref_next=planes_to_yuv444(*following, torch_device))
        _load(renderer.flow_net, chunks[gop.index].networks[0], device)
        _load(renderer.residual_net, chunks[gop.index].networks[1], device)
        for t in range(max(start, gop.first), min(end, gop.end)):
            if t == gop.key:
                planes = keys[gop.index]
            else:
                planes = tuple(to_uint8(p) for p in pool_chroma(renderer.frame(t)))
            out_y[t - start], out_u[t - start], out_v[t - start] = planes
        if progress:
            progress(n + 1, len(direct), f"GOP {gop.index}")
    return Video(out_y, out_u, out_v, Fraction(info.fps_num, info.fps_den), info.matrix, bool(info.full_range),
                 [], start)


def decode_file(input_path: str | os.PathLike, output_path: str | os.PathLike,
                frames: tuple[int, int | None] | None = None, device: str = "auto",
                progress: Progress | None = None) -> Video:
    """Decode a .nrf file and write the frames by the output's extension (io.write_video)."""
    refuse_overwrite(input_path, output_path)
    kind = output_kind(output_path)  # reject an unsupported extension before decoding
    nrf = NrfFile(input_path)
    info = nrf.header.video
    start, end = frames if frames else (0, None)
    count = min(info.frame_count if end is None else end, info.frame_count) - start
    check_output(output_path, estimated_video_bytes(kind, count, info.height, info.width))
    video = decode(nrf, frames, device, progress)
    write_video(output_path, video)
    return video
