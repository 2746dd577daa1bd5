"""Typed encoder settings and the --quality ladder that turns one number into a codec configuration."""
from __future__ import annotations

import dataclasses
import math

import torch

from bitstream import FieldArch, KeyframeCodec

from .errors import InputError
from .fields import default_freqs
from .gopsearch import candidates_up_to, rd_lambda
from .quant import QuantConfig
from .train import PRESETS


@dataclasses.dataclass(frozen=True)
class Rung:
    """One --quality value: longest GOP, keyframe QP (AV1 scale), network widths, weight bits.

    Without --gop the encoder picks the GOP length per clip among gopsearch's candidates up to `gop`.
    """

    gop: int
    keyframe_qp: int
    flow_width: int
    residual_width: int
    weight_bits: int = 8

    def keyframe_qp_for(self, codec: KeyframeCodec) -> int:
        """The QP in the keyframe codec's own scale: x265's QP that gave AV1's bytes on carphone keyframes."""
        return self.keyframe_qp if codec == KeyframeCodec.AV1 else round(0.45 * self.keyframe_qp + 10.5)


# Picked by measurement on ../shared/clips (docs/results.md): long GOPs with small networks pay at
# low rates (one keyframe serves 32 frames), shorter GOPs with wider networks at high rates. The
# GOP is an upper bound (gopsearch picks per clip), so rungs 6-8 step the keyframe QP down: with
# 5's QP and widths, 7 would write 5's very file wherever 5's pilot picks GOP 8 (bikes' did).
# Rung 3 spends on the networks rather than the keyframes (QP 49 with 16/32 instead of QP 46 with 12/20):
# +0.32 dB at equal bytes on bikes at GOP 8, level on carphone; BD-rate -2.7% / -5.9% / -5.5% on bikes /
# carphone / vtest (docs/ablations.md, "Quality 3").
QUALITY_LADDER: dict[int, Rung] = {
    1: Rung(32, 58, 8, 12),
    2: Rung(32, 52, 12, 20),
    3: Rung(32, 49, 16, 32),
    4: Rung(32, 40, 24, 48),
    5: Rung(32, 34, 32, 64),
    6: Rung(16, 31, 32, 64),
    7: Rung(16, 28, 32, 64),
    8: Rung(8, 24, 32, 64),
}
QUALITY_MIN, QUALITY_MAX = min(QUALITY_LADDER), max(QUALITY_LADDER)
# GOPs shorter than 8 frames get networks half the rung's width, GOPs of 3 or fewer a quarter (a network
# there costs as much as a predicted keyframe of the chain for one or two frames: bikes GOP 2 at quality 7,
# 16/32 wide: 39.54 dB for 0.292 bpp, 8/12 wide: 37.62 dB for 0.211, 0.9 dB below x264 either way) ...
NARROWING = ((8, 1), (4, 2), (1, 4))  # (shortest GOP, width divisor), longest first
NARROW_MIN = {"flow_width": QUALITY_LADDER[1].flow_width,  # ... but not below quality 1's
              "residual_width": QUALITY_LADDER[1].residual_width}
DEFAULT_QUALITY = 4


@dataclasses.dataclass(frozen=True)
class EncodeSettings:
    """Everything `nrff encode` can be told. `iterations` overrides the preset (tests, experiments)."""

    quality: int = DEFAULT_QUALITY
    preset: str = "medium"
    gop: int | None = None  # None: chosen per clip by a pilot (gopsearch), up to the quality's GOP length
    device: str = "auto"
    frames: tuple[int, int | None] | None = None
    seed: int = 0
    jobs: int | None = None
    iterations: int | None = None
    weight_bits: int | None = None
    keyframe_qp: int | None = None
    flow_width: int | None = None
    residual_width: int | None = None
    per_channel: bool = False
    step_ratio: float | None = 0.5
    keyframe_codec: KeyframeCodec = KeyframeCodec.AV1
    keyframe_period: int = 16

    def __post_init__(self) -> None:
        if self.quality not in QUALITY_LADDER:
            raise InputError(f"--quality must be {QUALITY_MIN}..{QUALITY_MAX}, got {self.quality}")
        if self.preset not in PRESETS:
            raise InputError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.gop is not None and not 1 <= self.gop <= 512:
            raise InputError(f"--gop must be 1..512, got {self.gop}")
        if self.jobs is not None and self.jobs < 1:
            raise InputError(f"--jobs must be at least 1, got {self.jobs}")
        if self.weight_bits is not None and not 2 <= self.weight_bits <= 16:
            raise InputError(f"--weight-bits must be 2..16, got {self.weight_bits}")
        if not 1 <= self.keyframe_period <= 65535:
            raise InputError(f"--keyframe-period must be 1..65535, got {self.keyframe_period}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError("iterations must be positive")

    @property
    def quant_config(self) -> QuantConfig:
        return QuantConfig(self.rung.weight_bits, self.per_channel, self.step_ratio)

    @property
    def gop_candidates(self) -> tuple[int, ...]:
        """The GOP lengths the encoder may use: --gop alone, else the pilot's candidates for this quality."""
        return (self.gop,) if self.gop is not None else candidates_up_to(self.rung.gop)

    def rung_for_length(self, length: int) -> Rung:
        """The rung at GOP length `length`: short GOPs get narrower networks (NARROWING).

        A GOP of 4 codes 3 frames, so the rung's networks would cost as much as those of a GOP of 8
        for fewer frames; halved (not below quality 1's) they let bikes gain ~0.4 dB over its curve
        (docs/ablations.md). Widths given on the command line are kept as they are.
        """
        rung = dataclasses.replace(self.rung, gop=length)
        divisor = next(d for shortest, d in NARROWING if length >= shortest)
        if divisor == 1:
            return rung
        narrowed = {name: max(least, getattr(rung, name) // divisor) for name, least in NARROW_MIN.items()
                    if getattr(self, name) is None}
        return dataclasses.replace(rung, **narrowed)

    @property
    def rd_lambda(self) -> float:
        return rd_lambda(self.rung.keyframe_qp)

    @property
    def rung(self) -> Rung:
        rung = QUALITY_LADDER[self.quality]
        overrides = {name: getattr(self, name) for name in ("gop", "keyframe_qp", "flow_width", "residual_width",
                                                            "weight_bits") if getattr(self, name) is not None}
        return dataclasses.replace(rung, **overrides)


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when a GPU is present, else 'cpu'; refuses 'cuda' without one."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {name!r}")
    return name


def field_archs(rung: Rung, height: int, width: int, gop_frames: int) -> tuple[FieldArch, FieldArch]:
    """(flow, residual) architectures: NRFF's encoding with floor(log2(axis)) frequencies per axis."""
    freqs = dict(freqs_t=default_freqs(gop_frames), freqs_y=default_freqs(height), freqs_x=default_freqs(width))
    flow = FieldArch(width=rung.flow_width, hidden_layers=2, shared_hidden=True, out_channels=4, **freqs)
    residual = FieldArch(width=rung.residual_width, hidden_layers=2, shared_hidden=True, out_channels=4, **freqs)
    return flow, residual


def flow_scale_for(height: int, width: int) -> float:
    """Pixels per unit of flow output: a power of two near a sixteenth of the larger side."""
    return float(2.0 ** max(0, round(math.log2(max(height, width) / 16))))
