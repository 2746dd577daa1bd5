"""Frames between two decoded ones, for decoding at another frame rate (core.retime gives the instants).

Between consecutive frames a and b = a + 1, a fraction w of the way:
- `motion` interpolates what the fields said at a and at b (the flows to the two keyframes around
  them, the later keyframe's blend weight, the residual; a keyframe itself is all weight on itself,
  zero flow, no residual, and its flow to the other keyframe is its neighbour's, stretched as linear
  motion would) and warps the two keyframes with the result: content moves part of the way instead
  of fading;
- `field` evaluates the GOP's networks at the fractional instant (between GOPs: the nearer frame's GOP);
- `blend` is (1 - w) a + w b, the only choice where a GOP has no fields (a single frame, or all-zero
  networks: the keyframe codec coded it alone).
docs/decisions/ measures them per kind of instant: inside a GOP, next to its keyframe, between GOPs.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from fractions import Fraction

import numpy as np
import torch

from .gop import Gop, reference_gops
from .render import FRAME_CHUNK, GopRenderer, pool_chroma, to_uint8
from .video import Planes
from .warp import sample

MODES = ("motion", "field", "blend")
KINDS = ("inside", "key", "boundary")
DEFAULT_MODES = {"inside": "motion", "key": "motion", "boundary": "motion"}


def blend(a: Planes, b: Planes, w: float) -> Planes:
    """(1 - w) a + w b of two frames' uint8 planes, rounded."""
    return tuple(
        np.rint((1.0 - w) * pa.astype(np.float32) + w * pb.astype(np.float32)).astype(np.uint8) for pa, pb in zip(a, b)
    )


@dataclasses.dataclass
class Motion:
    """What the fields say at one frame: flows to the earlier and the later keyframe around it, the
    later one's blend weight (the earlier's is 1 - weight), and the residual; [C, H, W] tensors."""

    earlier: int  # GOP index of the earlier keyframe
    later: int
    flow_earlier: torch.Tensor  # [2, H, W] (dy, dx)
    flow_later: torch.Tensor
    weight: torch.Tensor  # [H, W]
    residual: torch.Tensor  # [3, H, W]

    def lerp(self, other: Motion, w: float) -> Motion:
        """The motion a fraction w of the way to `other` (the same two keyframes)."""
        return Motion(
            self.earlier,
            self.later,
            torch.lerp(self.flow_earlier, other.flow_earlier, w),
            torch.lerp(self.flow_later, other.flow_later, w),
            torch.lerp(self.weight, other.weight, w),
            torch.lerp(self.residual, other.residual, w),
        )


def _frame_points(renderer: GopRenderer, t: float) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(instants, rows, columns) of a whole frame at instant t, in chunks of FRAME_CHUNK pixels."""
    device = renderer.ref_own.device
    ys, xs = torch.meshgrid(
        torch.arange(renderer.height, device=device), torch.arange(renderer.width, device=device), indexing="ij"
    )
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    for begin in range(0, ys.numel(), FRAME_CHUNK):
        sl = slice(begin, begin + FRAME_CHUNK)
        yield torch.full(ys[sl].shape, t, dtype=torch.float64, device=device), ys[sl], xs[sl]


@torch.no_grad()
def network_outputs(renderer: GopRenderer, t: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The networks over a whole frame at instant t (fractional allowed): flow [4, H, W] in pixels,
    the side reference's weight [H, W] and the residual [3, H, W]."""
    flows, outs = [], []
    for tt, ys, xs in _frame_points(renderer, t):
        coords = renderer.coords(tt, ys, xs)
        flows.append(renderer.flow_net(coords).to(coords.dtype) * renderer.flow_scale)
        outs.append(renderer.residual_net(coords).to(coords.dtype))
    h, w = renderer.height, renderer.width
    flow, res = torch.cat(flows).T, torch.cat(outs).T
    return flow.reshape(4, h, w), torch.sigmoid(res[0]).reshape(h, w), torch.tanh(res[1:4]).reshape(3, h, w)


def motion_at(renderer: GopRenderer, gop_count: int, t: int) -> Motion:
    """Motion of predicted frame t: the side reference is the earlier keyframe before the GOP's key."""
    gop = renderer.gop
    previous, own, following = reference_gops(gop_count, gop.index)
    flow, alpha, residual = network_outputs(renderer, float(t))
    if t < gop.key:
        return Motion(previous, own, flow[0:2], flow[2:4], 1.0 - alpha, residual)
    return Motion(own, following, flow[2:4], flow[0:2], alpha, residual)


def keyframe_motion(gop: Gop, partner: Motion, partner_after: bool, stretch: float) -> Motion:
    """A keyframe as Motion beside its neighbour's: all weight on itself, zero flow, no residual.

    The slot it leaves empty (the other keyframe, weight 0) takes the neighbour's flow to that
    keyframe times `stretch`, the ratio of the two frames' distances to it (linear motion).
    """
    zero_flow, no_residual = torch.zeros_like(partner.flow_earlier), torch.zeros_like(partner.residual)
    if partner_after:
        return Motion(
            gop.index,
            partner.later,
            zero_flow,
            partner.flow_later * stretch,
            torch.zeros_like(partner.weight),
            no_residual,
        )
    return Motion(
        partner.earlier,
        gop.index,
        partner.flow_earlier * stretch,
        zero_flow,
        torch.ones_like(partner.weight),
        no_residual,
    )


def stretch(key: int, partner: int, other_key: int) -> float:
    """|key - other_key| / |partner - other_key|: how much farther the keyframe is from the other keyframe."""
    return abs(key - other_key) / abs(partner - other_key) if partner != other_key else 1.0


def render_motion(motion: Motion, references: dict[int, torch.Tensor]) -> tuple[np.ndarray, ...]:
    """Warp the two keyframes ([3, H, W] 4:4:4 in [0, 1]) by the motion, add the residual, pool to 4:2:0 uint8."""
    h, w = motion.weight.shape
    device = motion.weight.device
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=torch.float32),
        torch.arange(w, device=device, dtype=torch.float32),
        indexing="ij",
    )
    earlier = sample(references[motion.earlier], ys + motion.flow_earlier[0], xs + motion.flow_earlier[1])
    later = sample(references[motion.later], ys + motion.flow_later[0], xs + motion.flow_later[1])
    out = ((1.0 - motion.weight) * earlier + motion.weight * later + motion.residual).clamp(0.0, 1.0)
    return tuple(to_uint8(p) for p in pool_chroma(out))


@torch.no_grad()
def render_field(renderer: GopRenderer, t: float) -> tuple[np.ndarray, ...]:
    """The GOP's networks evaluated at the fractional instant t (side reference by t < key)."""
    out = torch.cat([renderer.points(tt, ys, xs, frames=(t,)) for tt, ys, xs in _frame_points(renderer, t)])
    return tuple(to_uint8(p) for p in pool_chroma(out.T.reshape(3, renderer.height, renderer.width)))


def gop_of(gops: Sequence[Gop], t: int) -> Gop:
    """The GOP holding frame t (gops in order, covering the file)."""
    return gops[bisect.bisect_right([g.first for g in gops], t) - 1]


def instant_kind(gops: Sequence[Gop], a: int) -> str:
    """Where the instants between frames a and a + 1 lie: 'inside' a GOP, next to its 'key'frame, or at
    a GOP 'boundary'."""
    ga, gb = gop_of(gops, a), gop_of(gops, a + 1)
    if ga.index != gb.index:
        return "boundary"
    return "key" if ga.key in (a, a + 1) else "inside"


@dataclasses.dataclass
class Inbetweener:
    """Renders any instant between two decoded frames of a file; what it needs comes through callables,
    so that the decoder keeps reading, decoding and caching as it does for a normal decode."""

    gops: Sequence[Gop]
    frame: Callable[[int], Planes]  # decoded frame t, exactly as a normal decode gives it
    renderer: Callable[[int], GopRenderer]  # GOP index -> its renderer
    reference: Callable[[int], torch.Tensor]  # GOP index -> its keyframe, 4:4:4 in [0, 1]
    has_fields: Callable[[int], bool]  # GOP index -> whether its networks render anything
    modes: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_MODES))
    _motions: dict[int, Motion] = dataclasses.field(default_factory=dict)

    def gop_of(self, t: int) -> Gop:
        return gop_of(self.gops, t)

    def render(self, position: Fraction) -> Planes:
        a = math.floor(position)
        w = float(position - a)
        if w == 0:
            return self.frame(a)
        ga, gb = self.gop_of(a), self.gop_of(a + 1)
        mode = self.modes[instant_kind(self.gops, a)]
        both_keys = a == ga.key and a + 1 == gb.key
        if mode == "blend" or both_keys or not (self.has_fields(ga.index) and self.has_fields(gb.index)):
            return blend(self.frame(a), self.frame(a + 1), w)
        if mode == "field":
            gop = ga if w < 0.5 else gb
            if gop.count == 1:
                return blend(self.frame(a), self.frame(a + 1), w)
            return render_field(self.renderer(gop.index), float(position))
        for old in [t for t in self._motions if t < a]:  # positions come in order: keep two frames' motion
            del self._motions[old]
        if a == ga.key:
            mb = self._motion(a + 1)
            ma = keyframe_motion(ga, mb, True, stretch(a, a + 1, self.gops[mb.later].key))
        elif a + 1 == gb.key:
            ma = self._motion(a)
            mb = keyframe_motion(gb, ma, False, stretch(a + 1, a, self.gops[ma.earlier].key))
        else:
            ma, mb = self._motion(a), self._motion(a + 1)
        motion = ma.lerp(mb, w)
        return render_motion(motion, {i: self.reference(i) for i in (motion.earlier, motion.later)})

    def _motion(self, t: int) -> Motion:
        if t not in self._motions:
            self._motions[t] = motion_at(self.renderer(self.gop_of(t).index), len(self.gops), t)
        return self._motions[t]
