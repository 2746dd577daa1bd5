"""The decoder: a .nrf file's bytes to frames, with the same renderer the encoder trained through.

A malformed, hostile or too large file raises BitstreamError before any large allocation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from bitstream import BitstreamError, NrfFile, QuantizedTensor, VideoInfo

from .core.device import explain_cuda_oom, resolve_device
from .core.fields import CoordinateField, parameter_shapes
from .core.gop import Gop, frame_span, gops_covering, gops_needed, reference_gops
from .core.inbetween import DEFAULT_MODES, Inbetweener
from .core.keychain import decode_keyframes, keyframes_to_read
from .core.keyframes import keyframe_coder
from .core.quant import dequantize
from .core.render import GopRenderer, planes_to_yuv444, pool_chroma, to_uint8
from .core.retime import Rate, output_instants, parse_rate
from .core.units import human_bytes
from .core.video import Planes, Video
from .errors import InputError

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


def check_decode_memory(
    info: VideoInfo, start: int, end: int, keyframes: int, output_frames: int | None = None
) -> None:
    """Refuse, before allocating, a decode that cannot fit in memory.

    A file of a few kilobytes may legally claim thousands of 16384x16384 frames; the format cannot
    rule that out, so the decoder checks what it is about to hold against what the machine has.
    """
    needed = decode_memory_bytes(info, end - start if output_frames is None else output_frames, keyframes)
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


def _references(nrf: NrfFile, start: int, end: int, output_frames: int | None = None) -> tuple[list[Gop], dict, dict]:
    """(the file's GOPs, the decoded keyframes and the chunks read) that frames [start, end) need."""
    header = nrf.header
    info = header.video
    gops = [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]
    shapes = [parameter_shapes(header.flow), parameter_shapes(header.residual)]
    needed = gops_needed(gops, start, end)
    check_decode_memory(info, start, end, len(needed), output_frames)
    chunks = {i: nrf.read_gop(i, shapes) for i in keyframes_to_read(needed, header.keyframe_period)}
    keys = decode_keyframes(
        keyframe_coder(header.keyframe_codec),
        nrf.parameter_sets,
        {i: c.keyframe for i, c in chunks.items()},
        needed,
        header.keyframe_period,
        info.height,
        info.width,
    )
    return gops, keys, chunks


def _renderer(nrf: NrfFile, gops: list[Gop], keys: dict, chunks: dict, gop: Gop, device: str) -> GopRenderer:
    header = nrf.header
    torch_device = torch.device(device)
    previous, _, following = (keys[i] for i in reference_gops(len(gops), gop.index))
    renderer = GopRenderer(
        gop=gop,
        height=header.video.height,
        width=header.video.width,
        flow_scale=header.flow_scale,
        flow_net=CoordinateField(header.flow, device=torch_device),
        residual_net=CoordinateField(header.residual, device=torch_device),
        ref_previous=planes_to_yuv444(*previous, torch_device),
        ref_own=planes_to_yuv444(*keys[gop.index], torch_device),
        ref_next=planes_to_yuv444(*following, torch_device),
    )
    _load(renderer.flow_net, chunks[gop.index].networks[0], device)
    _load(renderer.residual_net, chunks[gop.index].networks[1], device)
    return renderer


def _frame(renderer: GopRenderer, keys: dict, t: int) -> Planes:
    """Frame t of the renderer's GOP: its keyframe as decoded, or the networks' rendering."""
    gop = renderer.gop
    return keys[gop.index] if t == gop.key else tuple(to_uint8(p) for p in pool_chroma(renderer.frame(t)))


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode(
    source: str | os.PathLike | bytes | NrfFile,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Video:
    """Decode a .nrf (path, bytes or open NrfFile), optionally frames [start, end) only."""
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    gops, keys, chunks = _references(nrf, start, end)
    count = end - start
    ch, cw = info.chroma_size
    out_y = np.empty((count, info.height, info.width), np.uint8)
    out_u = np.empty((count, ch, cw), np.uint8)
    out_v = np.empty((count, ch, cw), np.uint8)
    direct = gops_covering(gops, start, end)
    for n, gop in enumerate(direct):
        renderer = _renderer(nrf, gops, keys, chunks, gop, device)
        for t in range(max(start, gop.first), min(end, gop.end)):
            out_y[t - start], out_u[t - start], out_v[t - start] = _frame(renderer, keys, t)
        if progress:
            progress(n + 1, len(direct), f"GOP {gop.index}")
    return Video(
        out_y, out_u, out_v, Fraction(info.fps_num, info.fps_den), info.matrix, bool(info.full_range), [], start
    )


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode_at_rate(
    source: str | os.PathLike | bytes | NrfFile,
    fps: Rate | Fraction | str,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    modes: dict[str, str] | None = None,
) -> Video:
    """Decode at another frame rate (core.retime): frames at the file's own instants are exactly
    decode()'s, the others are rendered between their two neighbours (core.inbetween).

    `fps`: frames per second, or a Rate (`parse_rate("2x")`). `frames` [start, end) keeps its
    meaning in the file's frame numbers; the Video's first_frame is the first output frame's index.
    """
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    source_fps = Fraction(info.fps_num, info.fps_den)
    rate = parse_rate(fps) if isinstance(fps, str) else fps if isinstance(fps, Rate) else Rate(Fraction(fps))
    target = rate.resolve(source_fps)
    first, positions = output_instants(start, end, info.frame_count, source_fps, target)
    if not positions:
        raise InputError(f"--fps {rate}: no output frame falls within frames {start}..{end - 1}")
    lo, hi = math.floor(positions[0]), math.ceil(positions[-1])
    gops, keys, chunks = _references(nrf, lo, hi + 1, len(positions))
    renderers: dict[int, GopRenderer] = {}
    decoded: dict[int, Planes] = {}
    references: dict[int, torch.Tensor] = {}

    def renderer(index: int) -> GopRenderer:
        if index not in renderers:
            if len(renderers) == 2:  # instants come in order: two GOPs' networks at a time
                del renderers[min(renderers)]
            renderers[index] = _renderer(nrf, gops, keys, chunks, gops[index], device)
        return renderers[index]

    def frame(t: int) -> Planes:
        if t not in decoded:
            for old in [k for k in decoded if k < t - 1]:
                del decoded[old]
            decoded[t] = _frame(renderer(inbetween.gop_of(t).index), keys, t)
        return decoded[t]

    def reference(index: int) -> torch.Tensor:
        if index not in references:
            references[index] = planes_to_yuv444(*keys[index], torch.device(device))
        return references[index]

    def has_fields(index: int) -> bool:
        return bool(gops[index].predicted) and any(np.any(q.symbols) for n in chunks[index].networks for q in n)

    inbetween = Inbetweener(gops, frame, renderer, reference, has_fields, modes or dict(DEFAULT_MODES))
    ch, cw = info.chroma_size
    out = [np.empty((len(positions), info.height, info.width), np.uint8)]
    out += [np.empty((len(positions), ch, cw), np.uint8) for _ in range(2)]
    for n, position in enumerate(positions):
        for plane, values in zip(out, inbetween.render(position)):
            plane[n] = values
        if progress:
            progress(n + 1, len(positions), f"frame {first + n}")
    return Video(*out, target, info.matrix, bool(info.full_range), [], first)
