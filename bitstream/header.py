"""The .nrf header: the video's format and the decoder's architecture, as typed records.

Everything a decoder needs to rebuild the networks is here, one field per dataclass attribute;
`docs/bitstream.md` lists the same fields in the same order.
"""

from __future__ import annotations

import dataclasses
import enum

from .records import VARINT, nested, wire

FORMAT_MAJOR = 4  # 4.0: one front section (FRNT), the networks' architecture only in files that have networks
FORMAT_MINOR = 2  # 4.1: a run of AV1 keyframes may be a KPAK (OBUs without header bytes); 4.2: a KHDR
# 3.1: empty networks blocks; 3.2: AUDI sections (the input's audio); 3.3: keyframe runs (KRUN);
# 3.4: runs of AV1 keyframes as their OBUs alone (KSTR). Read, and written on request (major=3).
NEWEST_MINOR = {3: 4, FORMAT_MAJOR: FORMAT_MINOR}  # per major this code reads: the newest minor it knows
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
class StreamInfo:
    """The header's first part, the same in both majors: the video and how its GOPs are coded."""

    video: VideoInfo = nested(VideoInfo)
    gop_length: int = wire(VARINT, 1, MAX_GOP_LENGTH)
    gop_count: int = wire(VARINT, 1, MAX_FRAMES)
    keyframe_codec: int = wire(VARINT, 0, max(KeyframeCodec))
    keyframe_period: int = wire(
        VARINT, 1, 65535, doc="keyframe i is intra when i % period == 0, else predicted within its intra group"
    )

    def __post_init__(self) -> None:
        if self.gop_count > self.video.frame_count:
            raise ValueError(f"{self.gop_count} GOPs for {self.video.frame_count} frames")


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """The decoder's networks: what a file whose GOPs render frames needs beyond StreamInfo."""

    flow_scale: float = wire("f", 2.0**-8, 4096.0, doc="pixels per unit of flow-network output")
    flow: FieldArch = nested(FieldArch)
    residual: FieldArch = nested(FieldArch)
    quant: QuantSpec = nested(QuantSpec)


@dataclasses.dataclass(frozen=True)
class Header(NetworkSpec, StreamInfo):
    """The whole fixed header of a .nrf file: StreamInfo's fields, then NetworkSpec's (3.x's HEAD)."""

    # not a wire field: False when a 4.x file stores no architecture (every GOP one frame, nothing
    # rendered); the NetworkSpec fields then hold NO_NETWORKS's placeholders
    networks: bool = True


@dataclasses.dataclass(frozen=True)
class FrontHead(StreamInfo):
    """The header as a 4.x FRNT section stores it: a NetworkSpec follows only when `networks`."""

    networks: bool = wire(VARINT, 0, 1, doc="1: a NetworkSpec follows")


# what a Header read from a file without networks holds in their place; never rendered with
_NO_FIELD = FieldArch(width=1, hidden_layers=0, shared_hidden=False, freqs_t=0, freqs_y=0, freqs_x=0, out_channels=1)
NO_NETWORKS = NetworkSpec(flow_scale=1.0, flow=_NO_FIELD, residual=_NO_FIELD, quant=QuantSpec(8, False))


def _values(record: StreamInfo | NetworkSpec, cls: type) -> dict:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(cls)}


def split_header(header: Header, networks: bool) -> tuple[FrontHead, NetworkSpec | None]:
    """The 4.x records of `header`; its networks' part only when `networks`."""
    spec = NetworkSpec(**_values(header, NetworkSpec))
    return FrontHead(**_values(header, StreamInfo), networks=networks), spec if networks else None


def join_header(head: FrontHead, spec: NetworkSpec | None) -> Header:
    """The Header of a 4.x file: its networks' part, or NO_NETWORKS's placeholders where it has none."""
    return Header(**_values(head, StreamInfo), **_values(spec or NO_NETWORKS, NetworkSpec), networks=spec is not None)
