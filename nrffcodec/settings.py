"""What an encode can be told, as plain data: the --quality ladder, the presets' training schedules
and EncodeSettings. Nothing here imports torch or the encoder; measurements behind the numbers
are in docs/decisions/.
"""

from __future__ import annotations

import dataclasses
import math

from bitstream import KeyframeCodec

from .errors import InputError


def hevc_qp_for(av1_qp: float) -> float:
    """The x265 QP giving an SVT-AV1 keyframe QP's bytes on carphone keyframes (one map for every use)."""
    return 0.45 * av1_qp + 10.5


def rd_lambda(keyframe_qp: float) -> float:
    """Distortion (8-bit RGB squared error summed over pixels) worth one bit at an AV1 keyframe QP.

    The H.26x lambda-QP law 2^(QP / 3) at the HEVC QP equivalent to the AV1 one.
    """
    return 2.0 ** (hevc_qp_for(keyframe_qp) / 3.0)


@dataclasses.dataclass(frozen=True)
class Rung:
    """One --quality value: longest GOP, keyframe QP (AV1 scale), network widths, weight bits."""

    gop: int
    keyframe_qp: int
    flow_width: int
    residual_width: int
    weight_bits: int = 8

    def keyframe_qp_for(self, codec: KeyframeCodec) -> int:
        """The QP in the keyframe codec's own scale."""
        return self.keyframe_qp if codec == KeyframeCodec.AV1 else round(hevc_qp_for(self.keyframe_qp))


# Long GOPs with small networks at low rates, shorter GOPs with wider networks at high rates; the
# GOP is an upper bound that the pilot searches below (docs/decisions/, "quality ladder").
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
# The AV1 keyframe QP scale --keyframe-qp takes: SVT-AV1 reads a CRF of 0 as "not given".
KEYFRAME_QP_MIN, KEYFRAME_QP_MAX = 1, 63
DEFAULT_QUALITY = 4
# Short GOPs code few frames, so full-width networks cost as much as the frames they save:
# (shortest GOP, width divisor), longest first, never narrower than quality 1's networks.
NARROWING = ((8, 1), (4, 2), (1, 4))
NARROW_MIN = {"flow_width": QUALITY_LADDER[1].flow_width, "residual_width": QUALITY_LADDER[1].residual_width}
# The GOP lengths the pilot may choose, longest first (ties go to the longer, cheaper GOP). Length 1
# trains nothing: every frame is coded by the keyframe codec, the floor under the fields.
GOP_CANDIDATES = (32, 16, 8, 4, 2, 1)


def candidates_up_to(longest: int) -> tuple[int, ...]:
    """The candidate lengths a rung whose GOP is `longest` may choose from (at least `longest`)."""
    return tuple(g for g in GOP_CANDIDATES if g <= longest) or (longest,)


REFERENCE_PIXELS = 176 * 144
MAX_PIXEL_SCALE = 16.0


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Steps and batch of the two training phases.

    Float steps are `base_steps + steps_per_frame * frames`: a network needs a minimum number of
    steps whatever its GOP's length, and longer GOPs need more samples to cover their frames.
    """

    base_steps: int
    steps_per_frame: int
    batch_blocks: int = 1024  # 2x2 pixel blocks per step (4 network evaluations each)
    qat_fraction: float = 0.2  # quantization-aware steps, as a fraction of the float steps
    lr: float = 1e-2
    qat_lr: float = 1e-3
    warmup: float = 0.1
    fixed_steps: int | None = None  # overrides steps_per_frame (tests, experiments)

    def steps(self, frames: int, pixels: int = REFERENCE_PIXELS) -> tuple[int, int]:
        """(float steps, quantization-aware steps) for a GOP predicting `frames` frames of `pixels` each.

        Frames larger than QCIF get proportionally more steps (up to 16x), so that every pixel is
        sampled about as often as in a QCIF frame.
        """
        if self.fixed_steps is not None:
            total = self.fixed_steps
        else:
            scale = min(MAX_PIXEL_SCALE, max(1.0, pixels / REFERENCE_PIXELS))
            total = round((self.base_steps + self.steps_per_frame * frames) * scale)
        return total, max(1, round(total * self.qat_fraction))


PRESETS: dict[str, Schedule] = {
    "fast": Schedule(base_steps=600, steps_per_frame=25),
    "medium": Schedule(base_steps=3000, steps_per_frame=100),
    "slow": Schedule(base_steps=8000, steps_per_frame=250),
}


@dataclasses.dataclass(frozen=True)
class QuantConfig:
    """How a tensor's weights are rounded: bits, steps per output channel, step as a fraction of the RMS."""

    bits: int = 8
    per_channel: bool = False
    step_ratio: float | None = None  # step = step_ratio * RMS; None = min-max

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1


# The options that set the keyframe QP, each by itself: the settings they fill.
RATE_OPTIONS = {
    "--keyframe-qp": "keyframe_qp",
    "--bitrate": "bitrate",
    "--min-psnr": "min_psnr",
    "--min-psnr-rgb": "min_psnr_rgb",
}
# Those of them that are goals the keyframe QP is searched for (encoder.rate), not a QP.
SEARCHED_GOALS = tuple(name for option, name in RATE_OPTIONS.items() if option != "--keyframe-qp")


@dataclasses.dataclass(frozen=True)
class EncodeSettings:
    """Everything `nrff encode` can be told. `iterations` overrides the preset (tests, experiments)."""

    quality: int = DEFAULT_QUALITY
    preset: str = "medium"
    gop: int | None = None  # None: chosen per clip by a pilot, up to the quality's GOP length
    device: str = "auto"
    frames: tuple[int, int | None] | None = None
    seed: int = 0
    jobs: int | None = None
    iterations: int | None = None
    weight_bits: int | None = None
    keyframe_qp: int | None = None
    bitrate: float | None = None  # bits per second of video: the keyframe QP is searched for it (encoder.rate)
    min_psnr: float | None = None  # PSNR-YUV (6:1:1) in dB: the keyframe QP is searched for it (encoder.rate)
    min_psnr_rgb: float | None = None  # PSNR-RGB (mean over frames) in dB: the same search
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
        if self.keyframe_qp is not None and not KEYFRAME_QP_MIN <= self.keyframe_qp <= KEYFRAME_QP_MAX:
            raise InputError(f"--keyframe-qp must be {KEYFRAME_QP_MIN}..{KEYFRAME_QP_MAX}, got {self.keyframe_qp}")
        if self.bitrate is not None and not (math.isfinite(self.bitrate) and self.bitrate > 0):
            raise InputError(f"--bitrate must be a positive number of bits per second, got {self.bitrate}")
        for option in ("--min-psnr", "--min-psnr-rgb"):
            floor = getattr(self, RATE_OPTIONS[option])
            if floor is not None and not (math.isfinite(floor) and 0 < floor < 100):
                raise InputError(f"{option} must be a PSNR in dB between 0 and 100, got {floor}")
        rate = [name for name, value in RATE_OPTIONS.items() if getattr(self, value) is not None]
        if len(rate) > 1:
            raise InputError(f"{' and '.join(rate)} each set the rate: give one of them")
        if not 1 <= self.keyframe_period <= 65535:
            raise InputError(f"--keyframe-period must be 1..65535, got {self.keyframe_period}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError("iterations must be positive")

    @property
    def searches_keyframe_qp(self) -> bool:
        """--bitrate, --min-psnr or --min-psnr-rgb: the keyframe QP is found by trial encodes (encoder.rate)."""
        return any(getattr(self, name) is not None for name in SEARCHED_GOALS)

    @property
    def quant_config(self) -> QuantConfig:
        return QuantConfig(self.rung.weight_bits, self.per_channel, self.step_ratio)

    @property
    def gop_candidates(self) -> tuple[int, ...]:
        """The GOP lengths the encoder may use: --gop alone, else the pilot's candidates for this quality."""
        return (self.gop,) if self.gop is not None else candidates_up_to(self.rung.gop)

    def rung_for_length(self, length: int) -> Rung:
        """The rung at GOP length `length`: short GOPs get narrower networks (NARROWING).

        Widths given on the command line are kept as they are.
        """
        rung = dataclasses.replace(self.rung, gop=length)
        divisor = next(d for shortest, d in NARROWING if length >= shortest)
        if divisor == 1:
            return rung
        narrowed = {
            name: max(least, getattr(rung, name) // divisor)
            for name, least in NARROW_MIN.items()
            if getattr(self, name) is None
        }
        return dataclasses.replace(rung, **narrowed)

    @property
    def rd_lambda(self) -> float:
        return rd_lambda(self.rung.keyframe_qp)

    @property
    def rung(self) -> Rung:
        rung = QUALITY_LADDER[self.quality]
        overrides = {
            name: getattr(self, name)
            for name in ("gop", "keyframe_qp", "flow_width", "residual_width", "weight_bits")
            if getattr(self, name) is not None
        }
        return dataclasses.replace(rung, **overrides)
