"""encode_video: the encoder's stages in order, from decoded frames to the file's verified bytes.

    plan GOPs -> code keyframes -> choose GOP length -> train fields -> quantize and pack -> verify

The fields are held to the pilot's floor once more, as every GOP of the pilot window was trained
and decoded: where they fall short of the keyframe codec alone, it codes every frame instead (and
that file is verified in turn). The window's GOPs train first, so on a clip longer than the window
that check comes before the rest trains, and a clip whose fields fail it trains no further.

Each stage is a function of the modules beside this one; this module only wires them, keeps
finished work in an optional store (the application's --workdir) and reports progress.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from bitstream import KeyframeCodec

from ..core.device import resolve_device
from ..core.fields import parameter_shapes
from ..core.gop import Gop, gop_sizes, reference_gops
from ..core.keychain import KeyframeGroups
from ..core.video import FrameSource, Planes, Video
from ..decoder import available_memory
from ..settings import EncodeSettings, Schedule
from .floor_check import check_against_floor, window_gops
from .gop_length import choose_gop_length, per_frame
from .keyframes import CodedKeyframes, StretchStore, code_keyframes, keyframe_groups
from .pack import PackedFile, pack_file
from .plan import EncodePlan, header_for, plan_encode
from .progress import Progress, StageProgress, StepCount, gop_steps
from .rate import encode_to_goal, goal_of
from .report import EncodeReport
from .runner import LocalRunner, Runner, default_jobs, jobs_that_fit
from .spool import ResultSpool
from .stretch_workers import StretchRunner, default_chain_jobs
from .train import GopResult, GopTask, schedule_for
from .verify import Verified, verify

Log = Callable[[str], None]


class WorkStore(StretchStore, Protocol):
    """Finished work kept between runs of the same encode (app.workdir.Workdir is one): the keyframe
    chain's stretches (StretchStore), then the trained GOPs."""

    def use_keyframes(self, gops: Sequence[Gop], keyframes: CodedKeyframes) -> None: ...

    def finished(
        self, shapes: Sequence[Sequence[tuple[int, ...]]], parameter_set_count: int
    ) -> Iterator[GopResult]: ...

    def save(self, result: GopResult) -> None: ...

    def for_trial(self, settings: EncodeSettings) -> WorkStore:
        """The store of one trial encode of a --bitrate or --min-psnr search (encoder.rate), at `settings`."""
        ...


def gop_task(
    frames: Video,
    plan: EncodePlan,
    gop: Gop,
    decoded_keys: Mapping[int, Planes],
    schedule: Schedule,
    settings: EncodeSettings,
    device: str,
) -> GopTask:
    """GOP `gop` of `plan` as a training task: its frames to predict (`frames` holds the GOP's), its three
    decoded reference keyframes."""
    previous, own, following = (decoded_keys[i] for i in reference_gops(len(plan.gops), gop.index))
    predicted = [t - gop.first for t in gop.predicted]
    return GopTask(
        gop=gop,
        targets=(frames.y[predicted], frames.u[predicted], frames.v[predicted]),
        ref_previous=previous,
        ref_own=own,
        ref_next=following,
        flow_arch=plan.flow_arch,
        residual_arch=plan.residual_arch,
        flow_scale=plan.flow_scale,
        matrix=frames.matrix,
        full_range=frames.full_range,
        schedule=schedule,
        quant=settings.quant_config,
        seed=settings.seed * 1_000_003 + gop.index,
        device=device,
    )


def gop_tasks(
    video: FrameSource,
    plan: EncodePlan,
    todo: Sequence[Gop],
    keys: KeyframeGroups,
    schedule: Schedule,
    settings: EncodeSettings,
    device: str,
) -> Iterator[GopTask]:
    """The tasks of GOPs `todo`, each built when the runner asks for it: its frames read then, keyframes
    behind it let go."""
    reader = video.reader()
    for gop in todo:
        keys.release_before(gop.index - 1)
        task = gop_task(reader.frames(gop.first, gop.end), plan, gop, keys, schedule, settings, device)
        yield dataclasses.replace(task, score_every_block=False)  # verify measures the decoded frames


def train_fields(
    tasks: Iterable[GopTask],
    sizes: Sequence[int],
    runner: Runner,
    steps: StepCount,
    log: Log,
    on_result: Callable[[GopResult], None],
    later: int = 0,
) -> None:
    """Stage 4 over the GOPs of `tasks`, whose training steps are `sizes` (`later`: the steps of GOPs
    trained after these): each result reaches `on_result` (the spool, the store) as soon as it is
    trained and is not kept here."""
    if not sizes:
        return
    steps.begin(list(sizes), "training", later)
    trained = 0

    def done(position: int, result: GopResult) -> None:
        nonlocal trained
        trained += 1
        on_result(result)
        steps.finished(
            position,
            f"{trained}/{len(sizes)} GOPs, last GOP {result.index}: {result.train_psnr:.2f} dB train, "
            f"{result.seconds:.0f}s",
        )

    runner.run(tasks, done, log, steps.steps)


def encode_video(
    video: FrameSource,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    store: WorkStore | None = None,
    runner: Runner | None = None,
    stages: StageProgress | None = None,
) -> tuple[bytes, EncodeReport]:
    """Encode decoded frames to .nrf bytes; returns the bytes and the report measured on their decode
    (encode_stages has the arguments; a --bitrate or --min-psnr search writes its trials to a
    temporary folder)."""
    if settings.searches_keyframe_qp:
        with tempfile.TemporaryDirectory(prefix="nrff-rate-") as folder:
            path = Path(folder) / "video.nrf"
            report = encode_video_file(video, path, settings, progress, log, store, runner, stages)
            return path.read_bytes(), report
    packed, report = encode_stages(video, settings, progress, log, store, runner, stages)
    assert packed.data is not None, "packed in memory"
    return packed.data, report


def encode_video_file(
    video: FrameSource,
    path: Path,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    store: WorkStore | None = None,
    runner: Runner | None = None,
    stages: StageProgress | None = None,
) -> EncodeReport:
    """encode_video's file written to `path` a section at a time and measured on its decode from
    there: memory holds neither the file (decision 0075) nor its coded keyframes and trained GOPs,
    which wait in temporary files in `path`'s folder (0076). With settings.bitrate or .min_psnr, the
    file of the keyframe QP that meets it, found by trial encodes into that folder (encoder.rate)."""
    goal = goal_of(settings, video.frame_count, video.fps)
    if goal is None:
        return encode_stages(video, settings, progress, log, store, runner, stages, path)[1]

    def trial(at: EncodeSettings, into: Path) -> EncodeReport:
        return encode_stages(video, at, progress, log, store and store.for_trial(at), runner, stages, into)[1]

    return encode_to_goal(trial, settings, path, goal, log or (lambda text: None))


def encode_stages(
    video: FrameSource,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    store: WorkStore | None = None,
    runner: Runner | None = None,
    stages: StageProgress | None = None,
    into: Path | None = None,
) -> tuple[PackedFile, EncodeReport]:
    """Encode decoded frames to a .nrf, as bytes or into the file `into`; returns the packed file and the
    report measured on its decode.

    `video` is a Video in memory or a source read segment by segment (media.stream.StreamedVideo):
    the encoder holds the frames of the GOPs in flight, never the whole clip, and the coded keyframes
    and trained GOPs wait on disk beside `into` until the file is written (spool; in memory for
    bytes). With `store`, each stretch of the keyframe chain and each trained GOP are kept there and
    reused by the same encode; `runner` says where GOPs train (default: processes of this machine,
    settings.jobs of them); a StretchRunner (a Ray cluster) codes the chain's stretches as well.
    `progress` counts training steps, the pilot's included; `stages` gives a count for each of the
    other long stages: the keyframe chain ("keyframes", in frames) and the decode that measures the
    file ("verifying", in GOPs).
    """
    if settings.searches_keyframe_qp:
        raise ValueError("a --bitrate or --min-psnr search writes trial files: call encode_video_file")
    started = time.perf_counter()
    log = log or (lambda text: None)
    device = resolve_device(settings.device)
    schedule = schedule_for(settings.preset, device, settings.iterations)
    if runner is None:  # processes of this machine, no more than its memory holds at the longest GOP
        jobs = default_jobs(settings.jobs, device, video.frame_count)
        longest = max(settings.gop_candidates) * 3 // 2  # plan_gops may make a GOP half as long again
        runner = LocalRunner(jobs_that_fit(jobs, video.height, video.width, longest, available_memory()))
    remote = runner if isinstance(runner, StretchRunner) else None  # a cluster codes the chain's stretches too

    def make_task(frames: Video, plan: EncodePlan, gop: Gop, keys: Mapping[int, Planes], sched: Schedule) -> GopTask:
        return gop_task(frames, plan, gop, keys, sched, settings, device)

    steps = StepCount(progress)  # training steps, pilot included: one count, one ETA
    choice = choose_gop_length(video, settings, schedule, runner, make_task, steps, log)
    pilot_seconds = time.perf_counter() - started  # what came before it takes next to nothing
    gop_length = choice.gop_length
    plan = plan_encode(video.frame_count, video.height, video.width, settings, gop_length)
    gops = plan.gops
    fields = any(g.predicted for g in gops)  # at GOP length 1 every frame is a keyframe: nothing to train
    log(
        f"{video.frame_count} frames {video.width}x{video.height} @ {float(video.fps):.3f} fps: "
        f"{len(gops)} GOP{'s' * (len(gops) != 1)} of {gop_sizes(video.frame_count, len(gops))}, "
        + (f"networks {plan.flow_arch.width}/{plan.residual_arch.width} wide, " if fields else "no networks, ")
        + f"{KeyframeCodec(settings.keyframe_codec).name} keyframes at QP {plan.keyframe_qp}"
        + (f", training on {device}" if fields else "")
    )

    spool_folder = into.parent if into else None  # what waits on disk for the file waits beside it (0076)

    def stage(name: str) -> Progress | None:
        """The count of a stage after training, asked of `stages` only when the stage runs."""
        return stages(name) if stages else None

    def coded(plan: EncodePlan) -> CodedKeyframes:
        jobs = default_chain_jobs(settings.jobs)
        keyframes = choice.keyframes_for(plan) or code_keyframes(
            video, plan, settings.preset, stage("keyframes"), store, jobs, remote, spool_folder
        )
        if store:
            store.use_keyframes(plan.gops, keyframes)
        return keyframes

    keyframes = coded(plan)
    decoded_keys = keyframe_groups(keyframes, plan, video.height, video.width)
    results = ResultSpool(spool_folder)  # the trained GOPs wait beside the file too
    if store:
        for result in store.finished([parameter_shapes(a) for a in plan.archs], len(keyframes.parameter_sets)):
            results.add(result)
    todo = [gop for gop in gops if gop.predicted and gop.index not in results]
    # The pilot window's GOPs train first: the floor check needs only them, and where they fail it,
    # the rest of a long clip is not trained for nothing.
    window = {g.index for g in window_gops(choice, gops)}
    first, rest = [g for g in todo if g.index in window], [g for g in todo if g.index not in window]
    pixels = video.height * video.width
    rest_steps = sum(gop_steps(gop, schedule, pixels) for gop in rest)

    def train(batch: list[Gop], later: int = 0) -> None:
        tasks = gop_tasks(video, plan, batch, decoded_keys, schedule, settings, device)
        sizes = [gop_steps(gop, schedule, pixels) for gop in batch]
        train_fields(tasks, sizes, runner, steps, log, keep, later)

    def keep(result: GopResult) -> None:
        results.add(result)
        if store:
            store.save(result)

    def pack_and_verify(
        layout: EncodePlan, coded_keys: CodedKeyframes, trained: Mapping[int, GopResult], frames: int | None = None
    ) -> tuple[PackedFile, Verified]:
        header = header_for(video, layout, settings)
        if frames is None:  # the file itself
            packed = pack_file(header, layout, coded_keys, trained, into)
            log("decoding the written file to measure it")
            return packed, verify(video, packed.source, device, progress=stage("verifying"))
        packed = pack_file(header, layout, coded_keys, trained)  # the pilot window's GOPs, in memory
        log(f"decoding frames 0-{frames - 1} to measure them")
        return packed, verify(video, packed.source, device, (0, frames))

    def held_to_floor(frame_psnr: Sequence[float]) -> bool:
        check = check_against_floor(choice, gops, keyframes, results, frame_psnr)
        if check is None:
            return True
        fields, floor = (per_frame(m, choice.pixels_per_frame) for m in (check.fields, check.floor))
        verdict = "kept" if check.holds else "no better than the keyframe codec alone, which now codes every frame"
        log(f"decoded fields on the pilot window (per frame: bytes, PSNR-RGB): {fields}; {floor}: {verdict}")
        return check.holds

    def window_psnr() -> Sequence[float]:
        """PSNR-RGB of each frame of the window, decoded from a file of the GOPs trained so far."""
        window_end = max(g.end for g in gops if g.index in window)
        return pack_and_verify(plan, keyframes, results, window_end)[1].frame_psnr_rgb

    train_started = time.perf_counter()
    train(first, rest_steps)
    early = bool(rest and window)  # a long clip: its window is held to the floor before the rest trains
    holds = not early or held_to_floor(window_psnr())
    if holds:
        train(rest)
    else:
        steps.expect(0)  # the rest will not train: the count ends complete
    train_seconds = time.perf_counter() - train_started
    if holds:
        packed, verified = pack_and_verify(plan, keyframes, results)
        holds = early or held_to_floor(verified.frame_psnr_rgb)  # a short clip's check, on the whole file
    if not holds:
        gop_length = 1
        plan = plan_encode(video.frame_count, video.height, video.width, settings, gop_length)
        gops = plan.gops
        packed, verified = pack_and_verify(plan, coded(plan), {})
    quality = verified.quality
    report = EncodeReport(
        bytes=packed.size,
        bpp=8.0 * packed.size / (video.width * video.height * video.frame_count),
        quality=quality,
        width=video.width,
        height=video.height,
        frames=video.frame_count,
        gops=len(gops),
        gop_length=gop_length,
        keyframe_qp=plan.keyframe_qp,
        keyframe_bytes=packed.keyframe_bytes,
        network_bytes=packed.network_bytes,
        container_bytes=packed.container_bytes,
        seconds=time.perf_counter() - started,
        pilot_seconds=pilot_seconds,
        train_seconds=train_seconds,
        device=device,
        notes=list(video.notes),
    )
    return packed, report
