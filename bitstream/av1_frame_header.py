"""AV1's uncompressed frame header (spec 5.9), walked over a FieldSource (bitstream/av1_syntax.py).

The walk reads no value it does not need to find the next field; the model codes every field's
bits, so a header comes back bit for bit whatever its values mean.
"""

from __future__ import annotations

import dataclasses

from .av1_syntax import (
    ALL_FRAMES,
    INTRA_ONLY_FRAME,
    KEY_FRAME,
    SELECT,
    SWITCH_FRAME,
    FieldSource,
    ReferenceSlots,
    SequenceHeader,
    Unsupported,
    relative_distance,
    tile_log2,
)

_GM_TRANSLATION, _GM_ROTZOOM, _GM_AFFINE = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class FrameSummary:
    """What a frame header changes in the reference slots, and whether it shows an existing frame."""

    show_existing_frame: bool
    show_frame: bool
    frame_to_show: int
    frame_type: int
    order_hint: int
    refresh_frame_flags: int


def apply(summary: FrameSummary, slots: ReferenceSlots) -> None:
    """Update the slots as decoding the frame does (AV1 spec 7.20, 7.21)."""
    if summary.show_existing_frame:
        if summary.frame_type == KEY_FRAME:  # a key frame shown again refreshes every slot with itself
            slots.refresh(ALL_FRAMES, slots.order_hints[summary.frame_to_show], KEY_FRAME)
        return
    slots.refresh(summary.refresh_frame_flags, summary.order_hint, summary.frame_type)


def frame_header(src: FieldSource, seq: SequenceHeader, slots: ReferenceSlots) -> FrameSummary:
    """Walk one uncompressed_header(); raises Unsupported outside the covered syntax (module doc)."""
    if src.f("show_existing_frame", 1):
        index = src.f("frame_to_show_map_idx", 3)
        kind = slots.frame_types[index]
        if kind is None:
            raise Unsupported("AV1 frame shows a slot no frame of the run filled")
        return FrameSummary(True, True, index, kind, slots.order_hints[index] or 0, 0)
    frame_type = src.f("frame_type", 2)
    intra = frame_type in (KEY_FRAME, INTRA_ONLY_FRAME)
    show = src.f("show_frame", 1)
    if not show:
        src.f("showable_frame", 1)
    shown_key = frame_type == KEY_FRAME and show
    error_resilient = 1 if frame_type == SWITCH_FRAME or shown_key else src.f("error_resilient_mode", 1)
    if shown_key:
        slots.order_hints, slots.frame_types = [None] * 8, [None] * 8
    disable_cdf_update = src.f("disable_cdf_update", 1)
    screen = seq.force_screen_content_tools
    if screen == SELECT:
        screen = src.f("allow_screen_content_tools", 1)
    force_integer_mv = 0
    if screen:
        force_integer_mv = src.f("force_integer_mv", 1) if seq.force_integer_mv == SELECT else seq.force_integer_mv
    if intra:
        force_integer_mv = 1
    override = 1 if frame_type == SWITCH_FRAME else src.f("frame_size_override_flag", 1)
    order_hint = src.f("order_hint", seq.order_hint_bits)
    if not (intra or error_resilient):  # else PRIMARY_REF_NONE
        src.f("primary_ref_frame", 3)
    refresh = ALL_FRAMES if frame_type == SWITCH_FRAME or shown_key else src.f("refresh_frame_flags", 8)
    if (not intra or refresh != ALL_FRAMES) and error_resilient:
        for i in range(8):
            slots.order_hints[i] = src.f("ref_order_hint", seq.order_hint_bits)
    refs: list[int] = []
    allow_intrabc, high_precision_mv = 0, 0
    if intra:
        mi = _frame_size(src, seq, override)
        if screen:
            allow_intrabc = src.f("allow_intrabc", 1)
    else:
        if src.f("frame_refs_short_signaling", 1):
            raise Unsupported("AV1 frame header: short reference signalling")
        refs = [src.f("ref_frame_idx", 3) for _ in range(7)]
        if override and not error_resilient:
            raise Unsupported("AV1 frame header: frame size from the references")
        mi = _frame_size(src, seq, override)
        if not force_integer_mv:
            high_precision_mv = src.f("allow_high_precision_mv", 1)
        if not src.f("is_filter_switchable", 1):
            src.f("interpolation_filter", 2)
        src.f("is_motion_mode_switchable", 1)
        if not error_resilient and seq.enable_ref_frame_mvs:
            src.f("use_ref_frame_mvs", 1)
    if not disable_cdf_update:
        src.f("disable_frame_end_update_cdf", 1)
    _tile_info(src, seq, mi)
    lossless = _quantization_and_deltas(src, seq, allow_intrabc)
    if not (lossless or allow_intrabc):
        _loop_filter(src)
        if seq.enable_cdef:
            _cdef(src)
        if seq.enable_restoration:
            _restoration(src, seq)
    if not lossless:
        src.f("tx_mode_select", 1)
    reference_select = 0 if intra else src.f("reference_select", 1)
    if reference_select and _skip_mode_allowed(refs, order_hint, seq, slots):
        src.f("skip_mode_present", 1)
    if not (intra or error_resilient) and seq.enable_warped_motion:
        src.f("allow_warped_motion", 1)
    src.f("reduced_tx_set", 1)
    if not intra:
        _global_motion(src, high_precision_mv)
    return FrameSummary(False, bool(show), 0, frame_type, order_hint, refresh)


def _frame_size(src: FieldSource, seq: SequenceHeader, override: int) -> tuple[int, int]:
    """frame_size() and render_size(): the frame's MiCols and MiRows."""
    width, height = seq.max_width, seq.max_height
    if override:
        width = src.f("frame_width_minus_1", seq.frame_width_bits) + 1
        height = src.f("frame_height_minus_1", seq.frame_height_bits) + 1
    if seq.enable_superres and src.f("use_superres", 1):
        raise Unsupported("AV1 frame header: superres")
    if src.f("render_and_frame_size_different", 1):
        src.f("render_width_minus_1", 16)
        src.f("render_height_minus_1", 16)
    return 2 * ((width + 7) >> 3), 2 * ((height + 7) >> 3)


def _tile_info(src: FieldSource, seq: SequenceHeader, mi: tuple[int, int]) -> None:
    shift = 5 if seq.use_128x128_superblock else 4
    sb_cols, sb_rows = (mi[0] + (1 << shift) - 1) >> shift, (mi[1] + (1 << shift) - 1) >> shift
    sb_size = shift + 2
    min_cols = tile_log2(4096 >> sb_size, sb_cols)
    max_cols, max_rows = tile_log2(1, min(sb_cols, 64)), tile_log2(1, min(sb_rows, 64))
    min_tiles = max(min_cols, tile_log2((4096 * 2304) >> (2 * sb_size), sb_rows * sb_cols))
    if not src.f("uniform_tile_spacing_flag", 1):
        raise Unsupported("AV1 frame header: tiles not uniformly spaced")
    cols_log2 = min_cols
    while cols_log2 < max_cols and src.f("increment_tile_cols_log2", 1):
        cols_log2 += 1
    rows_log2 = max(min_tiles - cols_log2, 0)
    while rows_log2 < max_rows and src.f("increment_tile_rows_log2", 1):
        rows_log2 += 1
    if cols_log2 or rows_log2:
        raise Unsupported("AV1 frame header: more than one tile")


def _delta_q(src: FieldSource, name: str) -> int:
    return src.f(name, 7) if src.f(f"{name}.delta_coded", 1) else 0


def _quantization_and_deltas(src: FieldSource, seq: SequenceHeader, allow_intrabc: int) -> bool:
    """quantization_params, segmentation_params, delta_q_params, delta_lf_params; whether the frame is
    coded losslessly (which drops the loop filter, CDEF and restoration syntax)."""
    base_q_idx = src.f("base_q_idx", 8)
    deltas = [_delta_q(src, "delta_q_y_dc")]
    diff_uv = src.f("diff_uv_delta", 1) if seq.separate_uv_delta_q else 0
    deltas += [_delta_q(src, "delta_q_u_dc"), _delta_q(src, "delta_q_u_ac")]
    if diff_uv:
        deltas += [_delta_q(src, "delta_q_v_dc"), _delta_q(src, "delta_q_v_ac")]
    if src.f("using_qmatrix", 1):
        src.f("qm_y", 4)
        src.f("qm_u", 4)
        if seq.separate_uv_delta_q:
            src.f("qm_v", 4)
    if src.f("segmentation_enabled", 1):
        raise Unsupported("AV1 frame header: segmentation")
    if base_q_idx and src.f("delta_q_present", 1):
        src.f("delta_q_res", 2)
        if not allow_intrabc and src.f("delta_lf_present", 1):
            src.f("delta_lf_res", 2)
            src.f("delta_lf_multi", 1)
    return base_q_idx == 0 and not any(deltas)


def _loop_filter(src: FieldSource) -> None:
    levels = [src.f("loop_filter_level", 6) for _ in range(2)]
    if any(levels):
        src.f("loop_filter_level_u", 6)
        src.f("loop_filter_level_v", 6)
    src.f("loop_filter_sharpness", 3)
    if src.f("loop_filter_delta_enabled", 1) and src.f("loop_filter_delta_update", 1):
        for _ in range(10):  # eight reference deltas, two mode deltas
            if src.f("update_delta", 1):
                src.f("loop_filter_delta", 7)


def _cdef(src: FieldSource) -> None:
    src.f("cdef_damping_minus_3", 2)
    for _ in range(1 << src.f("cdef_bits", 2)):
        src.f("cdef_y_pri_strength", 4)
        src.f("cdef_y_sec_strength", 2)
        src.f("cdef_uv_pri_strength", 4)
        src.f("cdef_uv_sec_strength", 2)


def _restoration(src: FieldSource, seq: SequenceHeader) -> None:
    types = [src.f("lr_type", 2) for _ in range(seq.planes)]
    if any(types):
        shift = src.f("lr_unit_shift", 1)
        if shift and not seq.use_128x128_superblock:
            src.f("lr_unit_extra_shift", 1)
        if seq.chroma_subsampled and any(types[1:]):
            src.f("lr_uv_shift", 1)


def _skip_mode_allowed(refs: list[int], order_hint: int, seq: SequenceHeader, slots: ReferenceSlots) -> bool:
    """AV1 spec 5.9.22: whether skip_mode_present is read, from the order hints the references hold."""
    hints = [slots.order_hints[r] for r in refs]
    if any(hint is None for hint in hints):
        raise Unsupported("AV1 frame header: a reference slot no frame of the run filled")
    bits = seq.order_hint_bits
    forward = backward = None
    for hint in hints:
        distance = relative_distance(hint, order_hint, bits)
        if distance < 0 and (forward is None or relative_distance(hint, forward, bits) > 0):
            forward = hint
        elif distance > 0 and (backward is None or relative_distance(hint, backward, bits) < 0):
            backward = hint
    if forward is None:
        return False
    if backward is not None:
        return True
    return any(relative_distance(hint, forward, bits) < 0 for hint in hints)


def _subexp(src: FieldSource, symbols: int) -> None:
    """decode_subexp(numSyms): the bits only, since the model codes them whatever they mean."""
    i, mk, k = 0, 0, 3
    while True:
        b2 = k + i - 1 if i else k
        a = 1 << b2
        if symbols <= mk + 3 * a:
            _ns(src, symbols - mk)
            return
        if not src.f("subexp_more_bits", 1):
            src.f("subexp_bits", b2)
            return
        i, mk = i + 1, mk + a


def _ns(src: FieldSource, n: int) -> None:
    w = n.bit_length()
    m = (1 << w) - n
    if src.f("subexp_final_bits", w - 1) >= m:
        src.f("subexp_extra_bit", 1)


def _global_motion(src: FieldSource, high_precision_mv: int) -> None:
    for _ in range(7):
        kind = 0
        if src.f("is_global", 1):
            if src.f("is_rot_zoom", 1):
                kind = _GM_ROTZOOM
            else:
                kind = _GM_TRANSLATION if src.f("is_translation", 1) else _GM_AFFINE
        params = {_GM_ROTZOOM: [2, 3], _GM_AFFINE: [2, 3, 4, 5]}.get(kind, [])
        params += [0, 1] if kind else []
        for index in params:
            abs_bits = 12
            if index < 2:
                abs_bits = 9 - (1 - high_precision_mv) if kind == _GM_TRANSLATION else 12
            _subexp(src, 2 * (1 << abs_bits) + 1)
