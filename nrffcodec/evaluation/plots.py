"""rd.png and rd.svg: PSNR-RGB and PSNR-YUV420 against bpp, one curve per codec (matplotlib, Agg).

The top row has a linear rate axis, the bottom row the same curves on a log rate axis (where BD-rate
is measured: equal horizontal gaps are equal rate ratios). Each anchor's legend entry carries
nrff's BD-rate against it in that panel's metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

PANELS = (("psnr_rgb", "PSNR-RGB (dB)"), ("psnr_yuv", "PSNR-YUV420 (dB, 6:1:1)"))
STYLE = {
    "nrff": dict(color="tab:red", marker="o"),
    "x264": dict(color="tab:blue", marker="s"),
    "x265": dict(color="tab:green", marker="^"),
    "svtav1": dict(color="tab:purple", marker="D"),
}
NRFF_FLOOR = dict(color="tab:orange", marker="v", linestyle="--")
SVT_SHADES = ("tab:purple", "tab:brown", "tab:pink", "tab:gray")


def title_of(clip) -> str:
    v = clip.video
    first, end = clip.frames
    return f"{clip.name}: {v.width}x{v.height}, frames {first}-{end - 1} ({v.frame_count})"


def curve_label(label: str, rows: Sequence[dict], metric: str, bd: Sequence[dict]) -> str:
    """'x264 medium (nrff -12.3%)': the codec, its preset where the label lacks it, nrff's BD-rate against it."""
    if label.startswith("nrff"):
        return f"{label} {rows[0]['preset']}"
    text = label if " p" in label else f"{label} {rows[0]['preset']}"
    row = next((r for r in bd if r["test"] == "nrff" and r["anchor"] == label), None)
    if row is None:
        return text
    return text + (f" (nrff {row[metric]:+.1f}%)" if row[metric] is not None else " (nrff: no overlap)")


def style_of(label: str, codec: str, seen_svt: list[str]) -> dict:
    if label == "nrff gop1":
        return NRFF_FLOOR
    if codec != "svtav1":
        return STYLE.get(codec, dict(marker="x"))
    if label not in seen_svt:
        seen_svt.append(label)
    return dict(STYLE["svtav1"], color=SVT_SHADES[seen_svt.index(label) % len(SVT_SHADES)])


def _two_and_five(value: float, _position: int) -> str:
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return f"{value:g}" if round(mantissa, 6) in (2.0, 5.0) else ""


def plot_rd(points: Sequence[dict], clip, png: Path, svg: Path, bd: Sequence[dict] = ()) -> None:
    """Two metrics side by side, linear and log rate; nrff points are labelled q<N>."""
    curves: dict[str, list[dict]] = {}
    for p in points:
        curves.setdefault(p.get("label") or p["codec"], []).append(p)
    figure = Figure(figsize=(11, 8.6), layout="constrained")  # no pyplot: files only, never a window
    axes = figure.subplots(2, len(PANELS))
    for row, scale in enumerate(("linear", "log")):
        seen_svt: list[str] = []
        for axis, (metric, label) in zip(axes[row], PANELS):
            for name, rows in curves.items():
                rows = sorted(rows, key=lambda r: r["bpp"])
                axis.plot(
                    [r["bpp"] for r in rows],
                    [r[metric] for r in rows],
                    label=curve_label(name, rows, metric, bd),
                    **style_of(name, rows[0]["codec"], seen_svt),
                )
                if name == "nrff":
                    for r in rows:
                        axis.annotate(
                            f"q{r['setting']}",
                            (r["bpp"], r[metric]),
                            textcoords="offset points",
                            xytext=(4, -10),
                            fontsize=7,
                        )
            axis.set_xscale(scale)
            if scale == "log":  # plain numbers at 1, 2 and 5 of each decade
                axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.xaxis.set_minor_formatter(FuncFormatter(_two_and_five))
            axis.set_xlabel(f"bits per pixel ({scale} scale; stream bytes x 8 / pixels)")
            axis.set_ylabel(label)
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(loc="lower right", fontsize=8, title="BD-rate of nrff against each" if row == 0 else None)
    figure.suptitle(title_of(clip))
    figure.savefig(png, dpi=110)
    figure.savefig(svg, metadata={"Date": None})  # no timestamp: the same results give the same file
