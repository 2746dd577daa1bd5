"""File to file: `nrff encode` and `nrff decode` as library calls, with every output rule applied."""

from __future__ import annotations

import os
from pathlib import Path

from bitstream import NrfFile

from ..core.device import resolve_device
from ..core.gop import frame_span
from ..core.video import Video
from ..decoder import Progress, decode
from ..encoder.pipeline import EncodeReport, Log, encode_video
from ..errors import OutputError
from ..media.files import atomic_output, check_output, refuse_overwrite
from ..media.reader import read_video
from ..media.writer import output_kind, write_video
from ..settings import EncodeSettings
from .resources import estimated_nrf_bytes, estimated_video_bytes
from .workdir import Workdir, job_key


def encode(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    settings: EncodeSettings = EncodeSettings(),
    progress: Progress | None = None,
    log: Log | None = None,
    workdir: str | os.PathLike | None = None,
) -> EncodeReport:
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
    log = log or (lambda text: None)
    store = None
    if workdir is not None:
        store = Workdir(
            workdir,
            job_key(video, settings, resolve_device(settings.device)),
            log,
            estimated_nrf_bytes(video, settings),
        )
    data, report = encode_video(video, settings, progress, log, store)
    with atomic_output(dst) as tmp:
        tmp.write_bytes(data)
    return report


def decode_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Video:
    """Decode a .nrf file and write the frames by the output's extension (media.writer.write_video)."""
    refuse_overwrite(input_path, output_path)
    kind = output_kind(output_path)  # reject an unsupported extension before decoding
    nrf = NrfFile(input_path)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    check_output(output_path, estimated_video_bytes(kind, end - start, info.height, info.width))
    video = decode(nrf, frames, device, progress)
    write_video(output_path, video)
    return video
