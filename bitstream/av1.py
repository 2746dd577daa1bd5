"""The little of AV1's syntax the format relies on: OBU boundaries, and which OBU shows a picture.

A keyframe stream run (KSTR, format 3.4) stores its AV1 keyframes as one run of OBUs without the
container's per-keyframe counts and lengths: the OBUs' own size fields give their boundaries, and
a keyframe (one temporal unit, temporal delimiter dropped) ends with the OBU that shows its picture.
A packed run (KPAK, format 4.1) also leaves out each OBU's header byte, which the first bit of its
payload implies for the two kinds of OBU SVT-AV1 puts in a keyframe, and codes a frame shown again
as its index alone (pack_obus).
"""

from __future__ import annotations

from collections.abc import Sequence

OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, OBU_FRAME_HEADER, OBU_TILE_GROUP, OBU_FRAME = 1, 2, 3, 4, 6
MAX_LEB128_BYTES = 8  # the AV1 specification's limit for leb128()


def obu_type(unit: bytes) -> int:
    return (unit[0] >> 3) & 0x0F


def read_leb128(data: bytes, cursor: int, pos: int) -> tuple[int, int]:
    """(the leb128() value at `cursor`, the cursor after it) for the OBU at byte `pos`; ValueError where
    the field is cut short or longer than AV1 allows."""
    value = 0
    for count in range(MAX_LEB128_BYTES):
        if cursor >= len(data):
            break
        byte = data[cursor]
        cursor += 1
        value |= (byte & 0x7F) << (7 * count)
        if not byte & 0x80:
            return value, cursor
    raise ValueError(f"AV1 OBU at byte {pos}: size field cut short or too long")


def read_size(data: bytes, cursor: int, pos: int) -> tuple[int, int]:
    """As read_leb128, for a size: ValueError also where it runs past the end of `data`."""
    size, cursor = read_leb128(data, cursor, pos)
    if cursor + size > len(data):
        raise ValueError(f"AV1 OBU at byte {pos}: {size} bytes run past the end ({len(data) - cursor} left)")
    return size, cursor


def leb128(value: int) -> bytes:
    """The shortest leb128() of `value`, as SVT-AV1 writes OBU sizes."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def split_obus(data: bytes) -> list[bytes]:
    """OBUs of an AV1 low-overhead bitstream, each with its header and size field.

    Raises ValueError on an OBU without a size field, a size field longer than AV1 allows, or an
    OBU that runs past the end of `data`.
    """
    units, pos = [], 0
    while pos < len(data):
        header = data[pos]
        if not header & 0x02:
            raise ValueError(f"AV1 OBU at byte {pos} has no size field")
        size, cursor = read_size(data, pos + 1 + ((header >> 2) & 1), pos)
        units.append(data[pos : cursor + size])
        pos = cursor + size
    return units


def implied_header(payload: bytes) -> int:
    """The header byte a packed OBU gets back: a frame header (type 3) where the payload's first bit,
    show_existing_frame, is set (a frame OBU never shows an existing frame), else a frame OBU (type 6);
    no extension, a size field."""
    return (OBU_FRAME_HEADER if payload[0] & 0x80 else OBU_FRAME) << 3 | 0x02


# A frame shown again, as SVT-AV1 writes it: a frame header OBU of one byte, show_existing_frame = 1,
# frame_to_show_map_idx (3 bits), then the trailing bits. A KPAK codes it as the index alone.
SHOWN_AGAIN = tuple(bytes([OBU_FRAME_HEADER << 3 | 0x02, 1, 0x88 | index << 4]) for index in range(8))


def pack_obus(units: Sequence[bytes]) -> bytes | None:
    """The OBUs as a KPAK stores them, each as one leb128 code: below 8, a frame shown again
    (SHOWN_AGAIN[code]); else the payload's size plus 7, then the payload, without its header byte.
    None where one would not come back byte for byte: an empty payload, another header than its
    payload implies, or a size field longer than the shortest."""
    packed = []
    for unit in units:
        if unit in SHOWN_AGAIN:
            packed.append(bytes([SHOWN_AGAIN.index(unit)]))
            continue
        try:
            size, cursor = read_size(unit, 1, 0)
        except ValueError:  # no size field after the header byte
            return None
        payload = unit[cursor:]
        if not payload or len(payload) != size or unit[0] != implied_header(payload):
            return None
        if unit[1:cursor] != leb128(size):
            return None
        packed.append(leb128(size + len(SHOWN_AGAIN) - 1) + payload)
    return b"".join(packed)


def unpack_obus(data: bytes) -> list[bytes]:
    """A KPAK's OBUs, each with its header byte and size field again. Raises ValueError where a code
    is cut short or its payload runs past the end."""
    units, pos = [], 0
    while pos < len(data):
        code, cursor = read_leb128(data, pos, pos)
        if code < len(SHOWN_AGAIN):
            units.append(SHOWN_AGAIN[code])
            pos = cursor
            continue
        size = code - len(SHOWN_AGAIN) + 1
        if cursor + size > len(data):
            raise ValueError(f"packed AV1 OBU at byte {pos}: {size} bytes run past the end ({len(data) - cursor} left)")
        payload = data[cursor : cursor + size]
        units.append(bytes([implied_header(payload)]) + leb128(size) + payload)
        pos = cursor + size
    return units


def _first_payload_byte(unit: bytes) -> int | None:
    """The OBU's first payload byte (its size field skipped), None for an empty payload."""
    cursor = 1 + ((unit[0] >> 2) & 1)
    while unit[cursor] & 0x80:
        cursor += 1
    cursor += 1
    return unit[cursor] if cursor < len(unit) else None


def shows_picture(unit: bytes) -> bool:
    """Whether the OBU ends a temporal unit in a KSTR: a frame OBU whose header's show_frame bit is
    set, or a frame-header OBU whose show_existing_frame bit is (the frame header's first bits are
    show_existing_frame, frame_type (2) and show_frame)."""
    kind = obu_type(unit)
    if kind not in (OBU_FRAME, OBU_FRAME_HEADER):
        return False
    first = _first_payload_byte(unit)
    if first is None:
        return False
    show_existing, show_frame = first >> 7, (first >> 4) & 1
    return bool(show_existing) if kind == OBU_FRAME_HEADER else bool(show_frame and not show_existing)


def group_temporal_units(obus: Sequence[bytes]) -> list[list[bytes]]:
    """OBUs (split_obus, unpack_obus) grouped into temporal units, each ending with the OBU that shows
    its picture. Raises ValueError where the last ones show no picture."""
    units: list[list[bytes]] = [[]]
    for obu in obus:
        units[-1].append(obu)
        if shows_picture(obu):
            units.append([])
    if units[-1]:
        raise ValueError(f"{len(units[-1])} AV1 OBUs after the last shown picture")
    return units[:-1]
