"""The decoder: a .nrf file's bytes to frames, with the same renderer the encoder trained through.

A malformed, hostile or too large file raises BitstreamError before any large allocation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from bitstream import BitstreamError, GopChunk, Header, NrfFile, QuantizedTensor, VideoInfo

from .core.device import explain_cuda_oom, resolve_device
from .core.fields import CoordinateField, network_shapes
from .core.gop import Gop, frame_span, gops_covering, gops_needed, reference_gops
from .core.inbetween import DEFAULT_MODES, Inbetweener
from .core.keychain import KEYFRAMES_HELD, KeyframeGroups
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


# Frames are rendered in float64: float32 sums and sines differ in their last bits between machines
# (summation order, FMA, vector libraries), which flipped decoded samples (docs/decisions/0043).
RENDER_DTYPE = torch.float64


def decode_memory_bytes(info: VideoInfo, frames: int, keyframes: int) -> int:
    """Memory a decode holds at once: the output frames, the decoded keyframes, three float references."""
    ch, cw = info.chroma_size
    frame = info.height * info.width + 2 * ch * cw
    references = 3 * 3 * info.height * info.width * RENDER_DTYPE.itemsize
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


def file_gops(nrf: NrfFile) -> list[Gop]:
    """The file's GOPs, from its index."""
    return [Gop(i, e.first_frame, e.frame_count, e.key_offset) for i, e in enumerate(nrf.index)]


def file_parts(source: str | os.PathLike | bytes | NrfFile) -> tuple[Header, list[bytes], list[GopChunk]]:
    """(header, parameter sets, every GOP chunk) of a file, read as the decoder reads it: what
    bitstream.write_nrf takes to write the same GOPs again."""
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    shapes = network_shapes(nrf.header)
    return nrf.header, nrf.parameter_sets, [nrf.read_gop(i, shapes) for i in range(len(nrf.index))]


class GopWalk:
    """What rendering the GOPs of [start, end) in order needs, read and decoded as the walk goes.

    Keyframes come from KeyframeGroups (a few at a time); `release_before(i)` forgets
    the keyframes, 4:4:4 references and networks of the GOPs before i, so memory stays constant.
    """

    def __init__(self, nrf: NrfFile, start: int, end: int, device: str, held_frames: int | None = None) -> None:
        header = nrf.header
        info = header.video
        self.nrf, self.device = nrf, device
        self.gops = file_gops(nrf)
        self.shapes = network_shapes(header)
        needed = gops_needed(self.gops, start, end)
        if held_frames is None:  # one GOP's frames: the largest part of one in [start, end)
            held_frames = max(min(end, g.end) - max(start, g.first) for g in gops_covering(self.gops, start, end))
        check_decode_memory(info, start, start + held_frames, min(len(needed), KEYFRAMES_HELD))
        self.keys = KeyframeGroups(
            keyframe_coder(header.keyframe_codec),
            nrf.parameter_sets,
            lambda i: nrf.read_gop(i, self.shapes).keyframe,
            needed[-1] + 1,
            header.keyframe_period,
            info.height,
            info.width,
        )
        self._networks: dict[int, list[list[QuantizedTensor]]] = {}
        self._references: dict[int, torch.Tensor] = {}

    def networks(self, index: int) -> list[list[QuantizedTensor]]:
        if index not in self._networks:
            self._networks[index] = self.nrf.read_gop(index, self.shapes).networks
        return self._networks[index]

    def reference(self, index: int) -> torch.Tensor:
        """Keyframe `index` in 4:4:4, in [0, 1], on the device."""
        if index not in self._references:
            self._references[index] = planes_to_yuv444(*self.keys[index], torch.device(self.device), RENDER_DTYPE)
        return self._references[index]

    def release_before(self, index: int) -> None:
        self.keys.release_before(index)
        for cache in (self._networks, self._references):
            for old in [i for i in cache if i < index]:
                del cache[old]

    def renderer(self, gop: Gop) -> GopRenderer:
        header = self.nrf.header
        torch_device = torch.device(self.device)
        previous, _, following = reference_gops(len(self.gops), gop.index)
        renderer = GopRenderer(
            gop=gop,
            height=header.video.height,
            width=header.video.width,
            flow_scale=header.flow_scale,
            flow_net=CoordinateField(header.flow, device=torch_device).to(RENDER_DTYPE),
            residual_net=CoordinateField(header.residual, device=torch_device).to(RENDER_DTYPE),
            ref_previous=self.reference(previous),
            ref_own=self.reference(gop.index),
            ref_next=self.reference(following),
        )
        networks = self.networks(gop.index)
        _load(renderer.flow_net, networks[0], self.device)
        _load(renderer.residual_net, networks[1], self.device)
        return renderer

    def frame(self, renderer: GopRenderer, t: int) -> Planes:
        """Frame t of the renderer's GOP: its keyframe as decoded, or the networks' rendering."""
        gop = renderer.gop
        return self.keys[gop.index] if t == gop.key else tuple(to_uint8(p) for p in pool_chroma(renderer.frame(t)))

    def has_fields(self, index: int) -> bool:
        return bool(self.gops[index].predicted) and any(np.any(q.symbols) for n in self.networks(index) for q in n)


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
    check_decode_memory(info, start, end, len(gops_needed(file_gops(nrf), start, end)))
    return _collect(decode_segments(nrf, frames, device, progress), end - start, info, start)


def _collect(segments: Iterator[Video], count: int, info: VideoInfo, first: int) -> Video:
    """The segments' frames in one Video of `count` frames from `first` on."""
    ch, cw = info.chroma_size
    out = [np.empty((count, info.height, info.width), np.uint8)]
    out += [np.empty((count, ch, cw), np.uint8) for _ in range(2)]
    fps = Fraction(info.fps_num, info.fps_den)
    for segment in segments:
        at = slice(segment.first_frame - first, segment.first_frame - first + segment.frame_count)
        out[0][at], out[1][at], out[2][at] = segment.y, segment.u, segment.v
        fps = segment.fps
    return Video(*out, fps, info.matrix, bool(info.full_range), [], first)


def _segment(planes: list[Planes], fps: Fraction, info: VideoInfo, first: int) -> Video:
    ys, us, vs = zip(*planes)
    return Video(np.stack(ys), np.stack(us), np.stack(vs), fps, info.matrix, bool(info.full_range), [], first)


def decode_segments(
    source: str | os.PathLike | bytes | NrfFile,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
) -> Iterator[Video]:
    """Frames [start, end) of a .nrf, one Video per GOP in order (first_frame: its first frame's index).

    Holds one GOP's frames and a few decoded keyframes (KEYFRAMES_HELD): any length in constant memory.
    A generator: wrap its consumer in explain_cuda_oom (decode and jobs.decode_file do).
    """
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    walk = GopWalk(nrf, start, end, device)
    direct = gops_covering(walk.gops, start, end)
    fps = Fraction(info.fps_num, info.fps_den)
    for n, gop in enumerate(direct):
        walk.release_before(gop.index - 1)
        renderer = walk.renderer(gop)
        first, last = max(start, gop.first), min(end, gop.end)
        planes = [walk.frame(renderer, t) for t in range(first, last)]
        if progress:
            progress(n + 1, len(direct), f"GOP {gop.index}")
        yield _segment(planes, fps, info, first)


@explain_cuda_oom("decode with --device cpu, or fewer frames at a time with --frames")
def decode_at_rate(
    source: str | os.PathLike | bytes | NrfFile,
    fps: Rate | Fraction | str,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    modes: dict[str, str] | None = None,
) -> Video:
    """Decode at another frame rate into memory; decode_at_rate_segments gives the same frames in parts."""
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    first, positions, _ = output_instants_of(nrf, fps, frames)
    check_decode_memory(info, first, first + len(positions), 0)
    return _collect(decode_at_rate_segments(nrf, fps, frames, device, progress, modes), len(positions), info, first)


def output_instants_of(
    nrf: NrfFile, fps: Rate | Fraction | str, frames: tuple[int, int | None] | None
) -> tuple[int, list[Fraction], Fraction]:
    """(first output frame's index, the output instants in source frames, the output rate) of decoding
    frames [start, end) of `nrf` at `fps`; InputError when no instant falls there."""
    info = nrf.header.video
    start, end = frame_span(frames, info.frame_count)
    source_fps = Fraction(info.fps_num, info.fps_den)
    rate = parse_rate(fps) if isinstance(fps, str) else fps if isinstance(fps, Rate) else Rate(Fraction(fps))
    target = rate.resolve(source_fps)
    first, positions = output_instants(start, end, info.frame_count, source_fps, target)
    if not positions:
        raise InputError(f"--fps {rate}: no output frame falls within frames {start}..{end - 1}")
    return first, positions, target


def decode_at_rate_segments(
    source: str | os.PathLike | bytes | NrfFile,
    fps: Rate | Fraction | str,
    frames: tuple[int, int | None] | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    modes: dict[str, str] | None = None,
) -> Iterator[Video]:
    """Decode at another frame rate (core.retime), one Video per source GOP the instants fall in.

    Frames at the file's own instants are exactly decode()'s, the others are rendered between their
    two neighbours (core.inbetween). `fps`: frames per second, or a Rate (`parse_rate("2x")`).
    `frames` [start, end) keeps its meaning in the file's frame numbers; each Video's first_frame is
    its first output frame's index. Memory is constant in the length, as for decode_segments.
    """
    device = resolve_device(device)
    nrf = source if isinstance(source, NrfFile) else NrfFile(source)
    info = nrf.header.video
    first, positions, target = output_instants_of(nrf, fps, frames)
    lo, hi = math.floor(positions[0]), math.ceil(positions[-1])
    per_gop = max(1, math.ceil(2 * nrf.header.gop_length * target / Fraction(info.fps_num, info.fps_den)))
    walk = GopWalk(nrf, lo, hi + 1, device, min(len(positions), per_gop + 1))
    renderers: dict[int, GopRenderer] = {}
    decoded: dict[int, Planes] = {}

    def renderer(index: int) -> GopRenderer:
        if index not in renderers:
            if len(renderers) == 2:  # instants come in order: two GOPs' networks at a time
                del renderers[min(renderers)]
            renderers[index] = walk.renderer(walk.gops[index])
        return renderers[index]

    def frame(t: int) -> Planes:
        if t not in decoded:
            for old in [k for k in decoded if k < t - 1]:
                del decoded[old]
            decoded[t] = walk.frame(renderer(inbetween.gop_of(t).index), t)
        return decoded[t]

    inbetween = Inbetweener(walk.gops, frame, renderer, walk.reference, walk.has_fields, modes or dict(DEFAULT_MODES))
    part: list[Planes] = []
    part_gop = inbetween.gop_of(math.floor(positions[0])).index
    for n, position in enumerate(positions):
        gop = inbetween.gop_of(math.floor(position)).index
        if gop != part_gop and part:
            yield _segment(part, target, info, first + n - len(part))
            part, part_gop = [], gop
            walk.release_before(gop - 1)
        part.append(inbetween.render(position))
        if progress:
            progress(n + 1, len(positions), f"frame {first + n}")
    yield _segment(part, target, info, first + len(positions) - len(part))
