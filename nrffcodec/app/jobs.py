"""File to file: `nrff encode` and `nrff decode` as library calls, with every output rule applied."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
from fractions import Fraction
from pathlib import Path

from bitstream import AudioStream, NotAnNrfFile, NrfFile, add_audio_file, audio_streams

from ..core.device import explain_cuda_oom, resolve_device
from ..core.gop import frame_span
from ..core.retime import parse_rate
from ..core.video import FrameSource
from ..decoder import Progress, available_memory, decode_at_rate_segments, decode_segments, output_instants_of
from ..encoder.pipeline import Log, encode_video_file
from ..encoder.progress import StageProgress
from ..encoder.report import EncodeReport
from ..encoder.runner import Runner
from ..errors import InputError, OutputError
from ..media.audio import cut_audio, read_audio
from ..media.files import atomic_output, check_output, is_stdio, refuse_overwrite
from ..media.raw import InputFormat
from ..media.reader import NO_INPUT_FORMAT, read_video
from ..media.stream import StreamedVideo
from ..media.writer import output_kind, video_writer
from ..settings import EncodeSettings
from .memory import fixed_mmap_threshold
from .resources import estimated_nrf_bytes, estimated_video_bytes, pipe_fits
from .stats import write_frame_stats
from .workdir import Workdir, job_key


@dataclasses.dataclass(frozen=True)
class FileReport(EncodeReport):
    """An encode written to a file: `bytes` and `bpp` count the video (the file less its audio sections)."""

    file_bytes: int = 0
    audio_bytes: int = 0  # the AUDI sections: the input's audio packets, timestamps and codec parameters
    audio: tuple[str, ...] = ()  # one line per kept stream: codec, rate, channels, seconds


def file_report(path: Path, report: EncodeReport, audio: list[AudioStream]) -> FileReport:
    """The report of the encoder's file at `path`, its audio sections added (`audio`), split into video and audio."""
    audio_bytes = NrfFile(path).audio_bytes
    size = path.stat().st_size
    video_bytes = size - audio_bytes
    fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    fields.update(
        bytes=video_bytes,
        bpp=report.bpp * video_bytes / report.bytes,
        container_bytes=video_bytes - report.keyframe_bytes - report.network_bytes,
    )
    lines = tuple(
        f"{s.codec} {s.params.sample_rate} Hz {s.layout or f'{s.params.channels} ch'} {s.seconds:.2f} s" for s in audio
    )
    return FileReport(**fields, file_bytes=size, audio_bytes=audio_bytes, audio=lines)


def encode(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    workdir: str | os.PathLike | None = None,
    runner: Runner | None = None,
    audio: bool = True,
    stages: StageProgress | None = None,
    form: InputFormat = NO_INPUT_FORMAT,
    stats: str | os.PathLike | None = None,
) -> FileReport:
    """Read a video file, encode it, write the .nrf atomically; never overwrites the input.

    A file is read segment by segment (media.stream), so memory does not grow with its length; a
    pipe ('-'), which cannot be read twice, is held in memory. `runner` says where GOPs train
    (app.cluster.RayRunner for a Ray cluster; default: this machine). The input's audio streams are
    kept as they are (AUDI sections), cut to the frames coded; `audio=False` drops them, with a note.
    `progress` and `stages` count the encode's work (encode_video_file). `form` says what the input
    does not (a raw file's size) and may replace its frame rate. `stats`: a CSV of per-frame statistics
    written there too (app.stats; the file is decoded once more for it).
    """
    src, dst = Path(input_path), Path(output_path)
    refuse_overwrite(src, dst)
    fixed_mmap_threshold()  # peak memory flat over any length
    if dst.is_dir():
        raise OutputError(f"output {dst} is a folder; give a file name like out.nrf")
    if workdir is not None and Path(workdir).resolve() in (dst.resolve(), src.resolve()):
        raise OutputError(f"--workdir {workdir} must be a folder of its own, not the input or the output")
    check_output(dst)  # fail before hours of work when the folder is unwritable...
    # one pass: size, colour, notes, hash; a file's frames are read later, GOP by GOP
    video: FrameSource = (
        read_video(src, settings.frames, form, pipe_fits(available_memory(), max(settings.gop_candidates)))
        if is_stdio(src)
        else StreamedVideo(src, settings.frames, form)
    )
    # stdin was read once, for the video: a pipe's audio is not kept
    sound = [] if is_stdio(src) else read_audio(src, video, settings.frames[1] if settings.frames else None, keep=audio)
    audio_estimate = sum(s.packet_bytes + 32 * len(s.packets) for s in sound)
    # ...or too full: at the end the file is there three times (the keyframe chain waits on disk and
    # the sections wait for their front; or the video alone waits for its audio)
    check_output(dst, 3 * (estimated_nrf_bytes(video, settings) + audio_estimate))
    log = log or (lambda text: None)
    device = resolve_device(settings.device)
    store = None
    if workdir is not None:
        store = Workdir(
            workdir,
            job_key(video, settings, device),
            log,
            estimated_nrf_bytes(video, settings),
            key_for=lambda other: job_key(video, other, device),
        )
    # The encoder writes the file beside the output and measures it there; it is renamed to the output
    # (its audio added on the way) once whole. A folder removed whatever stops the encode, but a kill.
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=f".{dst.name}.", suffix=".encoding") as work:
        video_file = Path(work) / "video.nrf"
        try:
            report = encode_video_file(video, video_file, settings, progress, log, store, runner, stages)
        except OutputError as exc:  # a full disk: name the output's folder, not the hidden one about to go
            raise OutputError(str(exc).replace(work, str(dst.parent))) from None
        with atomic_output(dst) as tmp:
            if sound:
                add_audio_file(video_file, tmp, sound)
            else:
                os.replace(video_file, tmp)
            written = file_report(tmp, report, sound)
    if stats is not None:
        write_frame_stats(video, dst, stats, device, stages and stages("statistics"))
    return written


@dataclasses.dataclass(frozen=True)
class WrittenVideo:
    """What decode_file wrote (the frames themselves went to the file, GOP by GOP)."""

    first_frame: int
    frame_count: int
    width: int
    height: int
    fps: Fraction
    notes: list[str]  # what the writer noted (audio re-encoded or dropped, ...)


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    fps: str | None = None,
) -> WrittenVideo:
    """Decode a .nrf file and write the frames by the output's extension (media.writer), streaming:
    each GOP is rendered and written before the next, so any length decodes in constant memory.
    `fps` ('60', '2x', ...) decodes at another frame rate (decoder.decode_at_rate_segments)."""
    refuse_overwrite(input_path, output_path)
    fixed_mmap_threshold()  # peak memory flat over any length
    kind = output_kind(output_path)  # reject an unsupported extension before decoding
    rate = None if fps is None else parse_rate(fps)  # a bad --fps fails before the file is read
    nrf = open_nrf(input_path)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    source_fps = Fraction(info.fps_num, info.fps_den)
    # a damaged AUDI fails before decoding
    sound = cut_audio(audio_streams(nrf), source_fps, info.frame_count, start, end)
    audio_bytes = sum(s.packet_bytes for s in sound)
    count = end - start if rate is None else len(output_instants_of(nrf, rate, frames)[1])
    check_output(output_path, estimated_video_bytes(kind, count, info.height, info.width) + audio_bytes)
    segments = (
        decode_segments(nrf, frames, device, progress)
        if rate is None
        else decode_at_rate_segments(nrf, rate, frames, device, progress)
    )
    first = next(segments)
    with video_writer(output_path, first, count, sound) as sink:
        for segment in itertools.chain([first], segments):
            sink.write(segment)
    return WrittenVideo(first.first_frame, sink.frames, info.width, info.height, first.fps, first.notes)


def open_nrf(path: str | os.PathLike) -> NrfFile:
    """The .nrf file at `path`, where a video given in its place (decode, info) is one line saying how
    to encode it."""
    try:
        return NrfFile(path)
    except NotAnNrfFile:
        raise InputError(f"{path} is not an .nrf file: to encode a video, run nrff encode {path} OUT.nrf") from None
