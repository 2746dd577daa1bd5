"""rd.png and rd.svg: PSNR-RGB and PSNR-YUV420 against bpp, one curve per codec (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

PANELS = (("psnr_rgb", "PSNR-RGB (dB)"), ("psnr_yuv", "PSNR-YUV420 (dB, 6:1:1)"))
STYLE = {
    "nrff": dict(color="tab:red", marker="o"),
    "x264": dict(color="tab:blue", marker="s"),
    "x265": dict(color="tab:green", marker="^"),
}


def title_of(clip) -> str:
    v = clip.video
    first, end = clip.frames
    return f"{clip.name}: {v.width}x{v.height}, frames {first}-{end - 1} ({v.frame_count})"


def plot_rd(points: Sequence[dict], clip, png: Path, svg: Path) -> None:
    """Two panels side by side; the legend names codec and preset; nrff points are labelled q<N>."""
    curves: dict[str, list[dict]] = {}
    for p in points:
        curves.setdefault(p["codec"], []).append(p)
    figure = Figure(figsize=(11, 4.6), layout="constrained")  # no pyplot: files only, never a window
    axes = figure.subplots(1, len(PANELS))
    for axis, (metric, label) in zip(axes, PANELS):
        for codec, rows in curves.items():
            rows = sorted(rows, key=lambda r: r["bpp"])
            axis.plot(
                [r["bpp"] for r in rows],
                [r[metric] for r in rows],
                label=f"{codec} {rows[0]['preset']}",
                **STYLE.get(codec, dict(marker="x")),
            )
            if codec == "nrff":
                for r in rows:
                    axis.annotate(
                        f"q{r['setting']}",
                        (r["bpp"], r[metric]),
                        textcoords="offset points",
                        xytext=(4, -10),
                        fontsize=7,
                    )
        axis.set_xlabel("bits per pixel (stream bytes x 8 / pixels)")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="best")
    figure.suptitle(title_of(clip))
    figure.savefig(png, dpi=120)
    figure.savefig(svg, metadata={"Date": None})  # no timestamp: the same results give the same file
