"""What `nrff info` shows: header, GOP table and a byte breakdown that adds up to the file size."""

from __future__ import annotations

import os

from bitstream import NrfFile, audio_streams, describe

from ..core.fields import parameter_count, parameter_shapes


def inspect_file(path: str | os.PathLike | bytes) -> dict:
    """Parse every chunk of a .nrf (CRCs checked) and summarise where its bytes go."""
    nrf = NrfFile(path)
    header = nrf.header
    shapes = [parameter_shapes(header.flow), parameter_shapes(header.residual)]
    gops, models = [], {}
    channel_tensors = 0  # tensors stored with a step per output channel
    totals = {"keyframes": sum(len(p) for p in nrf.parameter_sets), "networks": 0, "container": 0}
    weight_bits = [0.0, 0.0]
    for i, entry in enumerate(nrf.index):
        chunk = nrf.read_gop(i, shapes)
        nets = []
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
                "bytes": entry.length,
                "keyframe_bytes": chunk.keyframe_size,
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
    return {
        "file": nrf.name,
        "version": f"{nrf.version[0]}.{nrf.version[1]}",
        "header": describe(header),
        "bpp": 8.0 * (nrf.file_size - nrf.audio_bytes) / (info.width * info.height * info.frame_count),  # video
        "parameters_per_gop": {"flow": counts[0], "residual": counts[1]},
        "bits_per_weight": {
            name: round(bits / max(1, counts[n] * len(nrf.index)), 3)
            for n, (name, bits) in enumerate(zip(("flow", "residual"), weight_bits))
        },
        "entropy_models": models,
        "tensors_with_channel_steps": [channel_tensors, sum(map(len, shapes)) * len(nrf.index)],
        "sections": [{"name": name, "offset": off, "bytes": size} for name, off, size in nrf.sections],
        "gops": gops,
        "audio": audio,
        "bytes": totals,
        "frames": frame_sources(gops),
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
        f"yuv420p, {'BT.709' if v['matrix'] else 'BT.601'} {'full' if v['full_range'] else 'limited'} range"
    )
    for name in ("flow", "residual"):
        a = h[name]
        lines.append(
            f"{name} network: width {a['width']}, {a['hidden_layers']} hidden "
            f"({'shared' if a['shared_hidden'] else 'separate'}), frequencies t/y/x "
            f"{a['freqs_t']}/{a['freqs_y']}/{a['freqs_x']}, {info['parameters_per_gop'][name]} weights/GOP, "
            f"{info['bits_per_weight'][name]} bits/weight"
        )
    channel, tensors = info["tensors_with_channel_steps"]
    steps = (
        "per channel"
        if h["quant"]["per_channel"]
        else (f"per tensor, {channel} of {tensors} tensors per output channel" if channel else "per tensor")
    )
    lines.append(
        f"quantizer: {h['quant']['weight_bits']} bits, {steps}"
        f"; flow scale {h['flow_scale']} px; entropy models chosen: "
        + ", ".join(f"{k} x{n}" for k, n in sorted(info["entropy_models"].items()))
    )
    f = info["frames"]
    lines.append(
        f"frames: {f['rendered_by_fields']} rendered by the fields, {f['coded_by_keyframe_codec']} coded by the "
        "keyframe codec" + (" (fallback: every frame a keyframe, no networks)" if f["fallback"] else "")
    )
    lines.append("GOP  frames     key  bytes  keyframe  networks  bits/w flow  bits/w residual")
    for g in info["gops"]:
        lines.append(
            f"{g['gop']:>3}  {g['first_frame']:>4}-{g['first_frame'] + g['frames'] - 1:<5} {g['keyframe']:>4} "
            f"{g['bytes']:>6} {g['keyframe_bytes']:>9} {g['network_bytes']:>9} "
            f"{g['flow']['bits_per_weight']:>12} {g['residual']['bits_per_weight']:>16}"
        )
    for i, a in enumerate(info["audio"]):
        lines.append(
            f"audio {i}: {a['codec']}, {a['sample_rate']} Hz, {a['layout'] or 'channels'} ({a['channels']}), "
            f"{a['seconds']:.2f} s, {a['packets']} packets (kept as the input had them)"
        )
    b = info["bytes"]
    lines.append(
        f"bytes: keyframes {b['keyframes']:,} + networks {b['networks']:,} + audio {b['audio']:,} "
        f"+ container {b['container']:,} = {b['total']:,}"
    )
    return lines
