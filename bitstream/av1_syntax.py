"""AV1's sequence header and uncompressed frame header, walked field by field (AV1 spec 5.5, 5.9).

One walk serves both directions: `frame_header` asks a FieldSource for each field in the order
the specification reads it, and the source either reads the bits from an OBU (the writer) or
decodes them from the header model (the reader, bitstream/av1_headers.py). What the walk needs
besides the fields is the sequence header and the order hints the reference slots hold.

Only the syntax SVT-AV1 writes for keyframe runs is covered: one tile, no segmentation, no
frame ids, no decoder model, no film grain, no superres, no short reference signalling. Anything
else raises Unsupported, and the writer then keeps the run as it was (a KPAK).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

KEY_FRAME, INTER_FRAME, INTRA_ONLY_FRAME, SWITCH_FRAME = 0, 1, 2, 3
ALL_FRAMES = 0xFF
SELECT = 2  # seq_force_screen_content_tools / seq_force_integer_mv: chosen per frame


class Unsupported(ValueError):
    """AV1 syntax outside what the header model covers."""


class FieldSource(Protocol):
    def f(self, name: str, bits: int) -> int:
        """The next field, `bits` wide, named as in the AV1 specification."""


class BitReader:
    """Bits of a byte string, most significant first; a FieldSource over an OBU's payload."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def f(self, name: str, bits: int) -> int:
        value = 0
        for _ in range(bits):
            index = self.position >> 3
            if index >= len(self.data):
                raise Unsupported(f"AV1 header runs past its OBU at {name}")
            value = value << 1 | (self.data[index] >> (7 - (self.position & 7))) & 1
            self.position += 1
        return value


class BitWriter:
    """Bits appended most significant first."""

    def __init__(self) -> None:
        self.value, self.bits = 0, 0

    def put(self, value: int, bits: int) -> None:
        self.value, self.bits = self.value << bits | value, self.bits + bits

    def aligned_bytes(self) -> bytes:
        """The bits written, zero-padded to whole bytes (AV1's byte_alignment)."""
        pad = -self.bits % 8
        return (self.value << pad).to_bytes((self.bits + pad) // 8, "big")


@dataclasses.dataclass(frozen=True)
class SequenceHeader:
    """The sequence header fields that shape a frame header's syntax."""

    order_hint_bits: int
    frame_width_bits: int
    frame_height_bits: int
    max_width: int
    max_height: int
    use_128x128_superblock: bool
    force_screen_content_tools: int
    force_integer_mv: int
    enable_ref_frame_mvs: bool
    enable_warped_motion: bool
    enable_superres: bool
    enable_cdef: bool
    enable_restoration: bool
    planes: int
    separate_uv_delta_q: bool
    chroma_subsampled: bool  # subsampling_x and subsampling_y


def parse_sequence_header(payload: bytes) -> SequenceHeader:
    """A sequence header OBU's payload (AV1 spec 5.5), for profile 0 or 1 at 8 or 10 bits without
    timing or decoder model information, one operating point and film grain off."""
    r = BitReader(payload)
    profile = r.f("seq_profile", 3)
    if profile > 1:
        raise Unsupported(f"AV1 sequence header: profile {profile}")
    r.f("still_picture", 1)
    if r.f("reduced_still_picture_header", 1) or r.f("timing_info_present_flag", 1):
        raise Unsupported("AV1 sequence header: reduced still picture or timing information")
    delay = r.f("initial_display_delay_present_flag", 1)
    if r.f("operating_points_cnt_minus_1", 5) or r.f("operating_point_idc", 12):
        raise Unsupported("AV1 sequence header: more than one operating point")
    if r.f("seq_level_idx", 5) > 7:
        r.f("seq_tier", 1)
    if delay and r.f("initial_display_delay_present_for_this_op", 1):
        r.f("initial_display_delay_minus_1", 4)
    width_bits, height_bits = r.f("frame_width_bits_minus_1", 4) + 1, r.f("frame_height_bits_minus_1", 4) + 1
    max_width = r.f("max_frame_width_minus_1", width_bits) + 1
    max_height = r.f("max_frame_height_minus_1", height_bits) + 1
    if r.f("frame_id_numbers_present_flag", 1):
        raise Unsupported("AV1 sequence header: frame ids")
    use_128 = bool(r.f("use_128x128_superblock", 1))
    for name in ("filter_intra", "intra_edge_filter", "interintra_compound", "masked_compound"):
        r.f(f"enable_{name}", 1)
    warped, _dual = r.f("enable_warped_motion", 1), r.f("enable_dual_filter", 1)
    if not r.f("enable_order_hint", 1):
        raise Unsupported("AV1 sequence header: no order hints")
    r.f("enable_jnt_comp", 1)
    ref_mvs = r.f("enable_ref_frame_mvs", 1)
    screen = SELECT if r.f("seq_choose_screen_content_tools", 1) else r.f("seq_force_screen_content_tools", 1)
    integer_mv = SELECT
    if screen > 0:
        integer_mv = SELECT if r.f("seq_choose_integer_mv", 1) else r.f("seq_force_integer_mv", 1)
    hint_bits = r.f("order_hint_bits_minus_1", 3) + 1
    superres, cdef, restoration = r.f("enable_superres", 1), r.f("enable_cdef", 1), r.f("enable_restoration", 1)
    r.f("high_bitdepth", 1)
    mono = profile != 1 and r.f("mono_chrome", 1)
    if r.f("color_description_present_flag", 1):
        primaries, transfer, matrix = (r.f(name, 8) for name in ("color_primaries", "transfer", "matrix"))
    else:
        primaries, transfer, matrix = 2, 2, 2
    subsampled = profile == 0
    if mono:
        raise Unsupported("AV1 sequence header: monochrome")
    if (primaries, transfer, matrix) == (1, 13, 0):  # sRGB: 4:4:4, no colour range bit
        subsampled = False
    else:
        r.f("color_range", 1)
        if profile == 0:
            r.f("chroma_sample_position", 2)
    separate_uv = r.f("separate_uv_delta_q", 1)
    if r.f("film_grain_params_present", 1):
        raise Unsupported("AV1 sequence header: film grain")
    return SequenceHeader(
        hint_bits, width_bits, height_bits, max_width, max_height, use_128, screen, integer_mv, bool(ref_mvs),
        bool(warped), bool(superres), bool(cdef), bool(restoration), 3, bool(separate_uv), subsampled,
    )  # fmt: skip


@dataclasses.dataclass
class ReferenceSlots:
    """The order hint and frame type each of AV1's eight reference slots holds; None before a
    frame of the run has filled it."""

    order_hints: list[int | None] = dataclasses.field(default_factory=lambda: [None] * 8)
    frame_types: list[int | None] = dataclasses.field(default_factory=lambda: [None] * 8)

    def refresh(self, flags: int, order_hint: int, frame_type: int) -> None:
        for slot in range(8):
            if flags >> slot & 1:
                self.order_hints[slot], self.frame_types[slot] = order_hint, frame_type


def relative_distance(a: int, b: int, hint_bits: int) -> int:
    diff, m = a - b, 1 << (hint_bits - 1)
    return (diff & (m - 1)) - (diff & m)


def tile_log2(block: int, target: int) -> int:
    k = 0
    while block << k < target:
        k += 1
    return k
