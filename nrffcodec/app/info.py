"""What `nrff info` shows: header, GOP table and a byte breakdown that adds up to the file size."""

from __future__ import annotations

import enum
import os

from bitstream import KeyframeCodec, Matrix, NrfFile, PixelFormat, audio_streams, describe
from bitstream.av1 import SHOWN_AGAIN

from ..core.colour import colour_name
from ..core.fields import network_shapes, parameter_count

# header fields stored as numbers that mean names: --json gives the names (as the CLI spells them)
ENUM_FIELDS: dict[tuple[str, ...], type[enum.IntEnum]] = {
    ("video", "pixel_format"): PixelFormat,
    ("video", "matrix"): Matrix,
    ("keyframe_codec",): KeyframeCodec,
}
KEYFRAME_CODERS = {"av1": "AV1 (SVT-AV1; decoded by dav1d)", "hevc": "HEVC (x265; decoded by FFmpeg)"}


def shows_again(slices: list[bytes]) -> bool:
    """Whether a keyframe only shows again a picture that an earlier keyframe coded (AV1's frame shown
    again, as SVT-AV1 writes it)."""
    return len(slices) == 1 and slices[0] in SHOWN_AGAIN


def named_enums(header: dict) -> dict:
    """describe(header) with ENUM_FIELDS as lower-case names (yuv420p, bt601, av1) instead of numbers."""
    for path, kind in ENUM_FIELDS.items():
        record = header
        for key in path[:-1]:
            record = record[key]
        record[path[-1]] = kind(record[path[-1]]).name.lower()
    return header


def inspect_file(path: str | os.PathLike | bytes | NrfFile) -> dict:
    """Parse every chunk of a .nrf (CRCs checked) and summarise where its bytes go."""
    nrf = path if isinstance(path, NrfFile) else NrfFile(path)
    header = nrf.header
    shapes = network_shapes(header)
    gops, models = [], {}
    channel_tensors = stored_tensors = 0  # tensors stored with a step per output channel; tensors stored
    parameter_sets = sum(len(p) for p in nrf.parameter_sets)  # in PSET, shared by every keyframe
    totals = {"keyframes": parameter_sets, "networks": 0, "container": 0}
    weight_bits = [0.0, 0.0]
    for i, entry in enumerate(nrf.index):
        chunk = nrf.read_gop(i, shapes)
        nets = []
        if chunk.weights_size:  # a GOP of one frame stores no networks block (placeholders read as zeros)
            stored_tensors += sum(map(len, chunk.networks))
        for n, (infos, tensors) in enumerate(zip(chunk.coding, chunk.networks)):
            channel_tensors += sum(t.steps.size > 1 for t in tensors)
            bits = sum(t.payload_bits + t.header_bits for t in infos)
            weight_bits[n] += bits
            for t in infos:
                models[t.model] = models.get(t.model, 0) + 1
            nets.append(
                {
                    "tensors": [t.model for t in infos],
                    "bits_per_weight": round(bits / max(1, sum(t.elements for t in infos)), 3),
                }
            )
        gops.append(
            {
                "gop": i,
                "first_frame": entry.first_frame,
                "frames": entry.frame_count,
                "keyframe": entry.first_frame + entry.key_offset,
                "keyframe_intra": i % header.keyframe_period == 0,
                "bytes": entry.length if entry.run == 1 else chunk.keyframe_size,  # in a keyframe run: its record
                "keyframe_bytes": chunk.keyframe_size,
                "keyframe_shows_again": shows_again(chunk.keyframe.slices),
                "network_bytes": chunk.weights_size,
                "flow": nets[0],
                "residual": nets[1],
            }
        )
        totals["keyframes"] += chunk.keyframe_size
        totals["networks"] += chunk.weights_size
    audio = [
        {
            "codec": s.codec,
            "sample_rate": s.params.sample_rate,
            "channels": s.params.channels,
            "layout": s.layout,
            "seconds": round(s.seconds, 3),
            "packets": len(s.packets),
        }
        for s in audio_streams(nrf)
    ]
    totals["audio"] = nrf.audio_bytes  # AUDI sections; video bytes (what bitrates count) are the total less these
    totals["container"] = nrf.file_size - totals["keyframes"] - totals["networks"] - totals["audio"]
    totals["total"] = nrf.file_size
    counts = [parameter_count(header.flow), parameter_count(header.residual)]
    info = header.video
    described = named_enums(describe(header))
    if not header.networks:  # a 4.x file of one-frame GOPs stores no architecture: none is shown
        for name in ("flow_scale", "flow", "residual", "quant"):
            del described[name]
        counts = [0, 0]
    return {
        "file": nrf.name,
        "version": f"{nrf.version[0]}.{nrf.version[1]}",
        "header": described | {"networks": header.networks},
        "bpp": 8.0 * (nrf.file_size - nrf.audio_bytes) / (info.width * info.height * info.frame_count),  # video
        "parameters_per_gop": {"flow": counts[0], "residual": counts[1]},
        "bits_per_weight": {
            name: round(bits / max(1, counts[n] * len(nrf.index)), 3)
            for n, (name, bits) in enumerate(zip(("flow", "residual"), weight_bits))
        },
        "entropy_models": models,
        "tensors_with_channel_steps": [channel_tensors, stored_tensors],
        "sections": [{"name": name, "offset": off, "bytes": size} for name, off, size in nrf.sections],
        "gops": gops,
        "audio": audio,
        "bytes": totals,
        "frames": frame_sources(gops),
        "keyframe_parameter_set_bytes": parameter_sets,
    }


def frame_sources(gops: list[dict]) -> dict:
    """How many frames the fields render and how many the keyframe codec codes (all of them at GOP length 1)."""
    keyframes = len(gops)
    return {
        "rendered_by_fields": sum(g["frames"] for g in gops) - keyframes,
        "coded_by_keyframe_codec": keyframes,
        "fallback": all(g["frames"] == 1 for g in gops),  # GOP length 1: the keyframe codec alone
    }


def info_lines(info: dict) -> list[str]:
    """inspect_file's summary as the text `nrff info` prints."""
    lines: list[str] = []
    h = info["header"]
    v = h["video"]
    lines.append(
        f"{info['file']}: nrf version {info['version']}, {info['bytes']['total']:,} bytes, {info['bpp']:.4f} bpp"
        + (" (video only)" if info["bytes"]["audio"] else "")
    )
    lines.append(
        f"video: {v['width']}x{v['height']}, {v['frame_count']} frames, {v['fps_num']}/{v['fps_den']} fps, "
        f"{v['pixel_format']}, {colour_name(Matrix[v['matrix'].upper()], v['full_range'])}"
    )
    period = h["keyframe_period"]
    lines.append(
        f"keyframes: {KEYFRAME_CODERS.get(h['keyframe_codec'], h['keyframe_codec'])}, one per GOP "
        f"({h['gop_count']} GOP{'s' * (h['gop_count'] != 1)}); "
        + ("all intra" if period == 1 else f"every {period}th intra (period {period}), the others predicted")
    )
    if not h["networks"]:
        lines.append("networks: none stored (every GOP is one frame, its keyframe)")
    for name in ("flow", "residual") if h["networks"] else ():
        a = h[name]
        lines.append(
            f"{name} network: width {a['width']}, {a['hidden_layers']} hidden "
            f"({'shared' if a['shared_hidden'] else 'separate'}), frequencies t/y/x "
            f"{a['freqs_t']}/{a['freqs_y']}/{a['freqs_x']}, {info['parameters_per_gop'][name]} weights/GOP, "
            f"{info['bits_per_weight'][name]} bits/weight"
        )
    channel, tensors = info["tensors_with_channel_steps"]
    if h["networks"]:
        steps = (
            "per channel"
            if h["quant"]["per_channel"]
            else (f"per tensor, {channel} of {tensors} tensors per output channel" if channel else "per tensor")
        )
        lines.append(
            f"quantizer: {h['quant']['weight_bits']} bits, {steps}"
            f"; flow scale {h['flow_scale']} px; entropy models chosen: "
            + (", ".join(f"{k} x{n}" for k, n in sorted(info["entropy_models"].items())) or "none (no networks stored)")
        )
    f = info["frames"]
    lines.append(
        f"frames: {f['rendered_by_fields']} rendered by the fields, {f['coded_by_keyframe_codec']} coded by the "
        "keyframe codec" + (" (fallback: every frame a keyframe, no networks)" if f["fallback"] else "")
    )
    lines.append("GOP  frames     key    bytes  keyframe  networks  bits/w flow  bits/w residual")
    for g in info["gops"]:
        lines.append(
            f"{g['gop']:>3}  {g['first_frame']:>4}-{g['first_frame'] + g['frames'] - 1:<5} {g['keyframe']:>4} "
            f"{'I' if g['keyframe_intra'] else 'P'} "
            f"{g['bytes']:>6} {g['keyframe_bytes']:>9} {g['network_bytes']:>9} "
            f"{g['flow']['bits_per_weight']:>12} {g['residual']['bits_per_weight']:>16}"
        )
    shown_again = sum(g["keyframe_shows_again"] for g in info["gops"])
    lines.append(
        "key = the GOP's keyframe (frame number; I intra, P predicted from earlier keyframes); "
        "keyframe, networks = their bytes in the GOP's chunk"
        + (f"; {shown_again} keyframes show again a picture an earlier one coded" if shown_again else "")
    )
    for i, a in enumerate(info["audio"]):
        lines.append(
            f"audio {i}: {a['codec']}, {a['sample_rate']} Hz, {a['layout'] or 'channels'} ({a['channels']}), "
            f"{a['seconds']:.2f} s, {a['packets']} packets (kept as the input had them)"
        )
    b = info["bytes"]
    pset = info["keyframe_parameter_set_bytes"]
    lines.append(
        f"PSET: {pset:,} bytes of the keyframe codec's parameter sets, shared by every keyframe: "
        f"keyframes {b['keyframes']:,} = {b['keyframes'] - pset:,} in the GOPs + {pset:,}"
    )
    lines.append(
        f"bytes: keyframes {b['keyframes']:,} + networks {b['networks']:,} + audio {b['audio']:,} "
        f"+ container {b['container']:,} = {b['total']:,}"
    )
    return lines
