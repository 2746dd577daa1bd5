"""Resources a job needs, checked before the work starts; CUDA out-of-memory handled while it runs.

Estimates are deliberately generous: refusing a job that would have fitted costs a re-run with
more room, running one that does not fit costs hours and leaves nothing.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Callable, TypeVar

import torch

from bitstream import BitstreamError, VideoInfo

from .errors import ResourceError
from .fields import parameter_count
from .gop import plan_gops
from .io import Video, human_bytes
from .settings import EncodeSettings, field_archs
from .train import GopResult, GopTask

KEYFRAME_BITS_PER_PIXEL = 4.0  # x265 intra spends well under this even at the top quality's QP
CONTAINER_ALLOWANCE = 64 * 1024
# bytes per pixel each output kind takes at most (mp4: CRF 12 H.264; png: RGB)
OUTPUT_BYTES_PER_PIXEL = {"y4m": 1.5, "mkv": 1.7, "png": 3.1, "mp4": 1.0}
MIN_BATCH_BLOCKS = 64
CUDA_OOM = torch.cuda.OutOfMemoryError

F = TypeVar("F", bound=Callable)


# ---------------------------------------------------------------- disk


def estimated_nrf_bytes(video: Video, settings: EncodeSettings) -> int:
    """An upper estimate of the .nrf size: every weight at its full bits, keyframes at a generous rate."""
    gops = plan_gops(video.frame_count, min(settings.gop_candidates))  # the most GOPs it may write
    rung = settings.rung
    flow, residual = field_archs(rung, video.height, video.width, max(g.count for g in gops))
    weights = (parameter_count(flow) + parameter_count(residual)) * rung.weight_bits / 8
    keyframe = video.height * video.width * KEYFRAME_BITS_PER_PIXEL / 8
    return int(len(gops) * (weights + keyframe) + CONTAINER_ALLOWANCE)


def estimated_video_bytes(kind: str, frames: int, height: int, width: int) -> int:
    """An upper estimate of a decoded output's size, by output kind (see io.output_kind)."""
    return int(max(frames, 0) * height * width * OUTPUT_BYTES_PER_PIXEL[kind] + CONTAINER_ALLOWANCE)


# ---------------------------------------------------------------- memory


def available_memory() -> int | None:
    """Bytes of memory the system can still give (MemAvailable), None where it cannot say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def decode_memory_bytes(info: VideoInfo, frames: int, keyframes: int) -> int:
    """Memory a decode holds at once: the output frames, the decoded keyframes, three float references."""
    ch, cw = info.chroma_size
    frame = info.height * info.width + 2 * ch * cw
    references = 3 * 3 * info.height * info.width * 4
    return (frames + keyframes) * frame + references


def check_decode_memory(info: VideoInfo, start: int, end: int, keyframes: int) -> None:
    """Refuse, before allocating, a decode that cannot fit in memory.

    A file of a few kilobytes may legally claim thousands of 16384x16384 frames; the format cannot
    rule that out, so the decoder checks what it is about to hold against what the machine has.
    """
    needed = decode_memory_bytes(info, end - start, keyframes)
    available = available_memory()
    if available is not None and needed > available:
        raise BitstreamError(
            f"decoding frames {start}..{end - 1} of this {info.width}x{info.height} file needs about "
            f"{human_bytes(needed)} of memory, {human_bytes(available)} is available: "
            f"decode fewer frames at a time with --frames")


# ---------------------------------------------------------------- CUDA out of memory


def explain_cuda_oom(hint: str) -> Callable[[F], F]:
    """Turn CUDA out-of-memory inside the decorated function into a ResourceError naming what to lower."""
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except CUDA_OOM:
                raise ResourceError(f"CUDA ran out of memory: {hint}") from None
        return wrapper  # type: ignore[return-value]
    return decorate


def train_with_fallback(task: GopTask, train: Callable[[GopTask], GopResult],
                        log: Callable[[str], None]) -> GopResult:
    """Train one GOP; on CUDA out-of-memory halve the pixels per step and retry, saying so.

    Below MIN_BATCH_BLOCKS the networks or the GOP themselves do not fit: the error names the
    settings that shrink them.
    """
    while True:
        try:
            return train(task)
        except CUDA_OOM:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            blocks = task.schedule.batch_blocks
            if blocks <= MIN_BATCH_BLOCKS:
                raise ResourceError(
                    f"CUDA ran out of memory training GOP {task.gop.index} even at {blocks} pixel blocks "
                    f"per step: lower --gop (fewer frames on the GPU) or --quality (narrower networks), "
                    f"or use --device cpu") from None
            smaller = max(MIN_BATCH_BLOCKS, blocks // 2)
            log(f"CUDA out of memory training GOP {task.gop.index} at {blocks} pixel blocks per step: "
                f"retrying with {smaller} (the result differs from a run with more GPU memory)")
            task = dataclasses.replace(task, schedule=dataclasses.replace(task.schedule, batch_blocks=smaller))

