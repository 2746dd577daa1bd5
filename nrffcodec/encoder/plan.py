"""Stage 1, the plan: GOP boundaries, network architectures and keyframe QP for one GOP length."""

from __future__ import annotations

import dataclasses
import math

from bitstream import FieldArch, Header, KeyframeCodec, PixelFormat, QuantSpec, VideoInfo

from ..core.fields import default_freqs
from ..core.gop import Gop, plan_gops
from ..core.video import FrameSource
from ..settings import QUALITY_LADDER, EncodeSettings, Rung


def field_archs(rung: Rung, height: int, width: int, gop_frames: int) -> tuple[FieldArch, FieldArch]:
    """(flow, residual) architectures: NRFF's encoding with floor(log2(axis)) frequencies per axis."""
    freqs = dict(freqs_t=default_freqs(gop_frames), freqs_y=default_freqs(height), freqs_x=default_freqs(width))
    flow = FieldArch(width=rung.flow_width, hidden_layers=2, shared_hidden=True, out_channels=4, **freqs)
    residual = FieldArch(width=rung.residual_width, hidden_layers=2, shared_hidden=True, out_channels=4, **freqs)
    return flow, residual


def flow_scale_for(height: int, width: int) -> float:
    """Pixels per unit of flow output: a power of two near a sixteenth of the larger side."""
    return float(2.0 ** max(0, round(math.log2(max(height, width) / 16))))


@dataclasses.dataclass(frozen=True)
class EncodePlan:
    """How a clip of `frame_count` frames is coded at one GOP length."""

    gop_length: int
    rung: Rung
    gops: tuple[Gop, ...]
    keyframe_codec: KeyframeCodec
    keyframe_qp: int
    keyframe_period: int
    flow_arch: FieldArch
    residual_arch: FieldArch
    flow_scale: float

    @property
    def archs(self) -> tuple[FieldArch, FieldArch]:
        return self.flow_arch, self.residual_arch


def keyframe_period_for(settings: EncodeSettings, gop_length: int) -> int:
    """Intra every --keyframe-period keyframes; at GOP length 1 (every frame a keyframe) intra keyframes
    stay as far apart in frames as at the quality's longest GOP, so that the keyframe codec alone is
    not charged an intra picture every few frames."""
    if gop_length == 1:
        return min(65535, settings.keyframe_period * QUALITY_LADDER[settings.quality].gop)
    return settings.keyframe_period


def plan_encode(frame_count: int, height: int, width: int, settings: EncodeSettings, gop_length: int) -> EncodePlan:
    """The plan for `gop_length`: the rung narrowed for it, near-equal GOPs, networks sized to the longest."""
    rung = settings.rung_for_length(gop_length)
    gops = tuple(plan_gops(frame_count, gop_length))
    flow_arch, residual_arch = field_archs(rung, height, width, max(g.count for g in gops))
    return EncodePlan(
        gop_length=gop_length,
        rung=rung,
        gops=gops,
        keyframe_codec=settings.keyframe_codec,
        keyframe_qp=rung.keyframe_qp_for(settings.keyframe_codec),
        keyframe_period=keyframe_period_for(settings, gop_length),
        flow_arch=flow_arch,
        residual_arch=residual_arch,
        flow_scale=flow_scale_for(height, width),
    )


def header_for(video: FrameSource, plan: EncodePlan, settings: EncodeSettings) -> Header:
    """The file's header: the video's format and what the decoder needs to rebuild the networks."""
    return Header(
        video=VideoInfo(
            width=video.width,
            height=video.height,
            fps_num=video.fps.numerator,
            fps_den=video.fps.denominator,
            frame_count=video.frame_count,
            pixel_format=int(PixelFormat.YUV420P),
            matrix=video.matrix,
            full_range=video.full_range,
        ),
        gop_length=max(plan.rung.gop, max(g.count for g in plan.gops)),
        gop_count=len(plan.gops),
        keyframe_codec=int(plan.keyframe_codec),
        keyframe_period=plan.keyframe_period,
        flow_scale=plan.flow_scale,
        flow=plan.flow_arch,
        residual=plan.residual_arch,
        quant=QuantSpec(weight_bits=plan.rung.weight_bits, per_channel=settings.per_channel),
    )
