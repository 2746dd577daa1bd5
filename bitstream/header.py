"""The .nrf header: the video's format and the decoder's architecture, as typed records.

Everything a decoder needs to rebuild the networks is here, one field per dataclass attribute;
`docs/bitstream.md` lists the same fields in the same order.
"""

from __future__ import annotations

import dataclasses
import enum

from .records import VARINT, nested, wire

FORMAT_MAJOR = 3
# 3.1: empty networks blocks; 3.2: AUDI sections (the input's audio); 3.3: keyframe runs (KRUN);
# 3.4: runs of AV1 keyframes as their OBUs alone (KSTR)
FORMAT_MINOR = 4
MAGIC = b"NRFF"

MAX_DIMENSION = 16384
MAX_FRAMES = 10_000_000
MAX_GOP_LENGTH = 1024
MAX_WIDTH = 1024
MAX_FREQS = 20


class PixelFormat(enum.IntEnum):
    YUV420P = 0  # 8-bit planar 4:2:0, chroma planes ceil(w/2) x ceil(h/2)


class Matrix(enum.IntEnum):
    BT601 = 0
    BT709 = 1


class KeyframeCodec(enum.IntEnum):
    HEVC = 0  # HEVC intra picture, NAL units (x265 on the encoder side)
    AV1 = 1  # AV1 intra picture, OBUs (SVT-AV1 on the encoder side, dav1d decodes)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """Geometry, timing and colour of the coded video."""

    width: int = wire(VARINT, 1, MAX_DIMENSION)
    height: int = wire(VARINT, 1, MAX_DIMENSION)
    fps_num: int = wire(VARINT, 1, 2**31 - 1)
    fps_den: int = wire(VARINT, 1, 2**31 - 1)
    frame_count: int = wire(VARINT, 1, MAX_FRAMES)
    pixel_format: int = wire(VARINT, 0, max(PixelFormat), default=int(PixelFormat.YUV420P))
    matrix: int = wire(VARINT, 0, max(Matrix), default=int(Matrix.BT601))
    full_range: bool = wire(VARINT, 0, 1, default=False)

    @property
    def chroma_size(self) -> tuple[int, int]:
        """(height, width) of each 4:2:0 chroma plane."""
        return (self.height + 1) // 2, (self.width + 1) // 2


@dataclasses.dataclass(frozen=True)
class FieldArch:
    """One coordinate network: positional encoding of (t, y, x), then an MLP with Swish.

    Linear(emb -> width), Swish, then `hidden_layers` hidden Linear(width -> width) + Swish
    (one weight matrix applied repeatedly when `shared_hidden`), then Linear(width -> out).
    """

    width: int = wire(VARINT, 1, MAX_WIDTH)
    hidden_layers: int = wire(VARINT, 0, 8)
    shared_hidden: bool = wire(VARINT, 0, 1)
    freqs_t: int = wire(VARINT, 0, MAX_FREQS)
    freqs_y: int = wire(VARINT, 0, MAX_FREQS)
    freqs_x: int = wire(VARINT, 0, MAX_FREQS)
    out_channels: int = wire(VARINT, 1, 16)

    @property
    def embedding_size(self) -> int:
        return 3 + 2 * (self.freqs_t + self.freqs_y + self.freqs_x)


@dataclasses.dataclass(frozen=True)
class QuantSpec:
    """How the weights were quantized (informative: each tensor carries its own steps)."""

    weight_bits: int = wire(VARINT, 2, 16)
    per_channel: bool = wire(VARINT, 0, 1)


@dataclasses.dataclass(frozen=True)
class Header:
    """The whole fixed header of a .nrf file."""

    video: VideoInfo = nested(VideoInfo)
    gop_length: int = wire(VARINT, 1, MAX_GOP_LENGTH)
    gop_count: int = wire(VARINT, 1, MAX_FRAMES)
    keyframe_codec: int = wire(VARINT, 0, max(KeyframeCodec))
    keyframe_period: int = wire(
        VARINT, 1, 65535, doc="keyframe i is intra when i % period == 0, else predicted within its intra group"
    )
    flow_scale: float = wire("f", 2.0**-8, 4096.0, doc="pixels per unit of flow-network output")
    flow: FieldArch = nested(FieldArch)
    residual: FieldArch = nested(FieldArch)
    quant: QuantSpec = nested(QuantSpec)

    def __post_init__(self) -> None:
        if self.gop_count > self.video.frame_count:
            raise ValueError(f"{self.gop_count} GOPs for {self.video.frame_count} frames")
