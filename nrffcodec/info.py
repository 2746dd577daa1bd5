"""What `nrff info` shows: header, GOP table and a byte breakdown that adds up to the file size."""
from __future__ import annotations

import os

from bitstream import NrfFile, describe

from .fields import parameter_count, parameter_shapes


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
            nets.append({"tensors": [t.model for t in infos],
                         "bits_per_weight": round(bits / max(1, sum(t.elements for t in infos)), 3)})
        gops.append({"gop": i, "first_frame": entry.first_frame, "frames": entry.frame_count,
                     "keyframe": entry.first_frame + entry.key_offset, "bytes": entry.length,
                     "keyframe_bytes": chunk.keyframe_size, "network_bytes": chunk.weights_size,
                     "flow": nets[0], "residual": nets[1]})
        totals["keyframes"] += chunk.keyframe_size
        totals["networks"] += chunk.weights_size
    totals["container"] = nrf.file_size - totals["keyframes"] - totals["networks"]
    totals["total"] = nrf.file_size
    counts = [parameter_count(header.flow), parameter_count(header.residual)]
    info = header.video
    return {
        "file": nrf.name,
        "version": f"{nrf.version[0]}.{nrf.version[1]}",
        "header": describe(header),
        "bpp": 8.0 * nrf.file_size / (info.width * info.height * info.frame_count),
        "parameters_per_gop": {"flow": counts[0], "residual": counts[1]},
        "bits_per_weight": {name: round(bits / max(1, counts[n] * len(nrf.index)), 3)
                            for n, (name, bits) in enumerate(zip(("flow", "residual"), weight_bits))},
        "entropy_models": models,
        "tensors_with_channel_steps": [channel_tensors, sum(map(len, shapes)) * len(nrf.index)],
        "sections": [{"name": name, "offset": off, "bytes": size} for name, off, size in nrf.sections],
        "gops": gops,
        "bytes": totals,
    }
