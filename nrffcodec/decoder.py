"""The decoder: a .nrf file's bytes to frames, with the same renderer the encoder trained through.

A malformed, hostile or too large file raises BitstreamError before any large allocation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from bitstream import BitstreamError, NrfFile, QuantizedTensor, VideoInfo

from .core.device import explain_cuda_oom, resolve_device
from .core.fields import CoordinateField, parameter_shapes
from .core.gop import Gop, frame_span, gops_covering, gops_needed, reference_gops
from .core.keychain import KeyframeGroups
from .core.keyframes import keyframe_coder
from .core.quant import dequantize
from .core.render import GopRenderer, planes_to_yuv444, pool_chroma, to_uint8
from .core.units import human_bytes
from .core.video import Video

Progress = Callable[[int, int, str], None]


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
            f"decode fewer frames at a time with --frames"
        )


def _load(net: CoordinateField, tensors: list[QuantizedTensor], device: str) -> None:
    with torch.no_grad():
        for param, tensor in zip(net.ordered_parameters(), tensors):
            param.copy_(dequantize(tensor, device))


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode(
    source: str | os.PathLike | bytes | NrfFile,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Video:
    """Decode a .nrf (path, bytes or open NrfFile), optionally frames [start, end) only, into memory.

    decode_segments gives the same frames GOP by GOP, for outputs of any length.
    """
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    gops = [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]
    check_decode_memory(info, start, end, len(gops_needed(gops, start, end)))
    ch, cw = info.chroma_size
    out_y = np.empty((end - start, info.height, info.width), np.uint8)
    out_u = np.empty((end - start, ch, cw), np.uint8)
    out_v = np.empty((end - start, ch, cw), np.uint8)
    for segment in decode_segments(nrf, frames, device, progress):
        at = slice(segment.first_frame - start, segment.first_frame - start + segment.frame_count)
        out_y[at], out_u[at], out_v[at] = segment.y, segment.u, segment.v
    return Video(
        out_y, out_u, out_v, Fraction(info.fps_num, info.fps_den), info.matrix, bool(info.full_range), [], start
    )


def decode_segments(
    source: str | os.PathLike | bytes | NrfFile,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Iterator[Video]:
    """Frames [start, end) of a .nrf, one Video per GOP in order (first_frame: its first frame's index).

    Holds one GOP's frames and the decoded keyframes of two intra groups: any length in constant memory.
    A generator: wrap its consumer in explain_cuda_oom (decode and jobs.decode_file do).
    """
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    header = nrf.header
    info = header.video
    height, width = info.height, info.width
    start, end = frame_span(frames, info.frame_count)
    gops = [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]
    shapes = [parameter_shapes(header.flow), parameter_shapes(header.residual)]
    needed = gops_needed(gops, start, end)
    direct = gops_covering(gops, start, end)
    # at once: one GOP's frames (the largest part of one in [start, end)) and at most three intra groups
    held = max(min(end, g.end) - max(start, g.first) for g in direct)
    check_decode_memory(info, start, start + held, min(len(needed), 3 * max(1, header.keyframe_period)))
    keys = KeyframeGroups(
        keyframe_coder(header.keyframe_codec),
        nrf.parameter_sets,
        lambda i: nrf.read_gop(i, shapes).keyframe,
        needed[-1] + 1,
        header.keyframe_period,
        height,
        width,
    )
    ch, cw = info.chroma_size
    torch_device = torch.device(device)
    for n, gop in enumerate(direct):
        keys.release_before(gop.index - 1)
        previous, own, following = (keys[i] for i in reference_gops(len(gops), gop.index))
        renderer = GopRenderer(
            gop=gop,
            height=height,
            width=width,
            flow_scale=header.flow_scale,
            flow_net=CoordinateField(header.flow, device=torch_device),
            residual_net=CoordinateField(header.residual, device=torch_device),
            ref_previous=planes_to_yuv444(*previous, torch_device),
            ref_own=planes_to_yuv444(*own, torch_device),
            ref_next=planes_to_yuv444(*following, torch_device),
        )
        networks = nrf.read_gop(gop.index, shapes).networks
        _load(renderer.flow_net, networks[0], device)
        _load(renderer.residual_net, networks[1], device)
        first, last = max(start, gop.first), min(end, gop.end)
        out_y = np.empty((last - first, height, width), np.uint8)
        out_u = np.empty((last - first, ch, cw), np.uint8)
        out_v = np.empty((last - first, ch, cw), np.uint8)
        for t in range(first, last):
            planes = own if t == gop.key else tuple(to_uint8(p) for p in pool_chroma(renderer.frame(t)))
            out_y[t - first], out_u[t - first], out_v[t - first] = planes
        if progress:
            progress(n + 1, len(direct), f"GOP {gop.index}")
        yield Video(
            out_y, out_u, out_v, Fraction(info.fps_num, info.fps_den), info.matrix, bool(info.full_range), [], first
        )
