"""compare.png: one frame of the source, of nrff and of each baseline at the point nearest in bytes.

nrff's point is its median in bytes; the frame is the one nearest the middle of the clip that nrff's
fields rendered (not a keyframe), so the picture shows the fields' work. Below each frame, a 2x
crop of the source's busiest region (most luma gradient energy). Each caption gives the point's
bytes for the clip, the frame's PSNR-RGB and the clip's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bitstream import BitstreamError, NrfFile

from ..core.colour import yuv420_to_rgb8
from ..core.quality import psnr, rgb_mse
from ..core.video import Video
from ..media.files import atomic_output
from .baselines import Codec
from .plots import title_of

CROP_STEP = 8


def rendered_frame(nrf_bytes: bytes, frame_count: int) -> int:
    """The frame nearest the middle that is not a keyframe (the middle one when every frame is)."""
    try:
        keys = {e.first_frame + e.key_offset for e in NrfFile(nrf_bytes).index}
    except BitstreamError:
        keys = set()
    order = sorted(range(frame_count), key=lambda t: (abs(t - frame_count // 2), t))
    return next((t for t in order if t not in keys), order[0])


def busiest_window(luma: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """Top-left corner of the height x width window of most gradient energy, on a CROP_STEP grid."""
    plane = luma.astype(np.float64)
    energy = np.zeros_like(plane)
    energy[:, 1:] += np.abs(np.diff(plane, axis=1))
    energy[1:, :] += np.abs(np.diff(plane, axis=0))
    table = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, corner = -1.0, (0, 0)
    for top in range(0, luma.shape[0] - height + 1, CROP_STEP):
        for left in range(0, luma.shape[1] - width + 1, CROP_STEP):
            total = (
                table[top + height, left + width]
                - table[top, left + width]
                - table[top + height, left]
                + table[top, left]
            )
            if total > best:
                best, corner = total, (top, left)
    return corner


def nearest_in_bytes(points: Sequence[dict], target: int) -> dict:
    return min(points, key=lambda p: (abs(p["bytes"] - target), p["bytes"]))


def write_compare(
    points: Sequence[dict], clip, out_dir: Path, png: Path, codecs: Mapping[str, Codec], log: Callable[[str], None]
) -> bool:
    """Draw compare.png from the points' stored streams; False (and a log line) when nrff has none."""
    video: Video = clip.video
    stored = [p for p in points if p.get("stream") and (out_dir / p["stream"]).exists()]
    nrff = sorted((p for p in stored if (p.get("label") or p["codec"]) == "nrff"), key=lambda p: p["bytes"])
    if not nrff:
        log("compare.png skipped: no nrff point with a stored stream (points from before streams were kept)")
        return False
    chosen = [nrff[len(nrff) // 2]]
    for label in codecs:
        rows = [p for p in stored if (p.get("label") or p["codec"]) == label]
        if label != "nrff" and rows:
            chosen.append(nearest_in_bytes(rows, chosen[0]["bytes"]))
    t = rendered_frame((out_dir / chosen[0]["stream"]).read_bytes(), video.frame_count)
    height, width = max(8, video.height // 2), max(8, video.width // 2)
    top, left = busiest_window(video.y[t], height, width)
    panels = [("source", video.planes(t), "")]
    for point in chosen:
        label = point.get("label") or point["codec"]
        decoded = codecs[label].decode((out_dir / point["stream"]).read_bytes(), video)
        frame_psnr = psnr(rgb_mse(video.planes(t), decoded.planes(t), video.matrix, video.full_range))
        fell_back = label == "nrff" and (point.get("detail") or {}).get("gop_length") == 1
        panels.append(
            (
                f"{label} {point['setting_name']} {point['setting']}" + (" (GOP 1: AV1 alone)" if fell_back else ""),
                decoded.planes(t),
                f"{point['bytes']:,} B, frame {frame_psnr:.2f} dB\n(clip PSNR-RGB {point['psnr_rgb']:.2f} dB)",
            )
        )
    aspect = video.height / video.width
    figure = Figure(figsize=(2.9 * len(panels), 2.9 * aspect * 2 + 0.9), layout="constrained")
    axes = figure.subplots(2, len(panels), squeeze=False)
    for column, (name, planes, caption) in enumerate(panels):
        rgb = yuv420_to_rgb8(*(p[None] for p in planes), video.matrix, video.full_range)[0]
        crop = rgb[top : top + height, left : left + width].repeat(2, axis=0).repeat(2, axis=1)
        for row, image in enumerate((rgb, crop)):
            axis = axes[row][column]
            axis.imshow(image, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[0][column].set_title(name, fontsize=9)
        axes[1][column].set_xlabel(caption, fontsize=8)
    axes[1][0].set_xlabel(f"2x crop: {width}x{height} at ({left}, {top})", fontsize=8)
    figure.suptitle(f"{title_of(clip)}: frame {video.first_frame + t}, each codec at the point nearest nrff in bytes")
    with atomic_output(png) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    return True
