"""File to file: `nrff encode` and `nrff decode` as library calls, with every output rule applied."""

from __future__ import annotations

import dataclasses
import itertools
import os
from fractions import Fraction
from pathlib import Path

from bitstream import NrfFile

from ..core.device import explain_cuda_oom, resolve_device
from ..core.gop import frame_span
from ..decoder import Progress, decode_segments
from ..encoder.pipeline import EncodeReport, Log, encode_video
from ..encoder.runner import Runner
from ..errors import OutputError
from ..media.files import atomic_output, check_output, refuse_overwrite
from ..media.stream import StreamedVideo
from ..media.writer import output_kind, video_writer
from ..settings import EncodeSettings
from .memory import fixed_mmap_threshold
from .resources import estimated_nrf_bytes, estimated_video_bytes
from .workdir import Workdir, job_key


def encode(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    workdir: str | os.PathLike | None = None,
    runner: Runner | None = None,
) -> EncodeReport:
    """Read a video file, encode it, write the .nrf atomically; never overwrites the input.

    The file is read segment by segment (media.stream), so memory does not grow with its length;
    `runner` says where GOPs train (app.cluster.RayRunner for a Ray cluster; default: this machine).
    """
    src, dst = Path(input_path), Path(output_path)
    refuse_overwrite(src, dst)
    fixed_mmap_threshold()  # peak memory flat over any length
    if dst.is_dir():
        raise OutputError(f"output {dst} is a folder; give a file name like out.nrf")
    if workdir is not None and Path(workdir).resolve() in (dst.resolve(), src.resolve()):
        raise OutputError(f"--workdir {workdir} must be a folder of its own, not the input or the output")
    check_output(dst)  # fail before hours of work when the folder is unwritable...
    video = StreamedVideo(src, settings.frames)  # one pass: size, colour, notes, hash; frames are read later
    check_output(dst, estimated_nrf_bytes(video, settings))  # ...or too full
    log = log or (lambda text: None)
    store = None
    if workdir is not None:
        store = Workdir(
            workdir,
            job_key(video, settings, resolve_device(settings.device)),
            log,
            estimated_nrf_bytes(video, settings),
        )
    data, report = encode_video(video, settings, progress, log, store, runner)
    with atomic_output(dst) as tmp:
        tmp.write_bytes(data)
    return report


@dataclasses.dataclass(frozen=True)
class WrittenVideo:
    """What decode_file wrote (the frames themselves went to the file, GOP by GOP)."""

    first_frame: int
    frame_count: int
    width: int
    height: int
    fps: Fraction


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> WrittenVideo:
    """Decode a .nrf file and write the frames by the output's extension (media.writer), streaming:
    each GOP is rendered and written before the next, so any length decodes in constant memory."""
    refuse_overwrite(input_path, output_path)
    fixed_mmap_threshold()  # peak memory flat over any length
    kind = output_kind(output_path)  # reject an unsupported extension before decoding
    nrf = NrfFile(input_path)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    check_output(output_path, estimated_video_bytes(kind, end - start, info.height, info.width))
    segments = decode_segments(nrf, frames, device, progress)
    first = next(segments)
    with video_writer(output_path, first, end - start) as sink:
        for segment in itertools.chain([first], segments):
            sink.write(segment)
    return WrittenVideo(start, sink.frames, info.width, info.height, first.fps)
