"""The lines `nrff encode` prints when it is done: the file, its quality, where its bytes went, its times."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.gop import gop_sizes

if TYPE_CHECKING:  # the encoder imports torch, which `nrff --help` need not load
    from ..encoder.report import EncodeReport

PILOT_SHOWN_S = 0.1  # a pilot that took less (--gop given) goes unmentioned


def summary_lines(report: EncodeReport, path: str) -> list[str]:
    q = report.quality

    def share(n: int) -> str:
        return f"{n:,} B ({100.0 * n / report.bytes:.1f}%)"

    pilot = f"pilot {report.pilot_seconds:.1f} s, " if report.pilot_seconds >= PILOT_SHOWN_S else ""
    audio_bytes = getattr(report, "audio_bytes", 0)  # app.jobs.FileReport: the file's audio sections
    size = (
        f"{report.bytes + audio_bytes:,} bytes = video {report.bytes:,} + audio {audio_bytes:,} "
        f"({', '.join(report.audio)}), {report.bpp:.4f} bpp (video only)"
        if audio_bytes
        else f"{report.bytes:,} bytes, {report.bpp:.4f} bpp (no audio)"
    )
    lines = [
        f"wrote {path}: {size}, {report.frames} frames "
        f"{report.width}x{report.height}, {report.gops} GOP{'s' * (report.gops != 1)} "
        f"of {gop_sizes(report.frames, report.gops)}",
        f"PSNR-RGB {q.psnr_rgb:.2f} dB, PSNR-YUV420 {q.psnr_yuv:.2f} dB "
        f"(Y {q.psnr_y:.2f}, U {q.psnr_u:.2f}, V {q.psnr_v:.2f}) measured on the decoded file",
        f"keyframes {share(report.keyframe_bytes)} at QP {report.keyframe_qp}, networks {share(report.network_bytes)}, "
        f"container {share(report.container_bytes)}",
        f"time {report.seconds:.1f} s ({pilot}training {report.train_seconds:.1f} s on {report.device}), "
        f"{report.seconds / report.frames:.2f} s/frame",
    ]
    if report.rate_trials:
        rgb = report.min_psnr_rgb is not None  # each trial's PSNR is given in the goal's metric
        if report.target_bytes is not None:
            goal = f"--bitrate: at most {report.target_bytes:,} B of video"
        elif rgb:
            goal = f"--min-psnr-rgb: at least {report.min_psnr_rgb:g} dB PSNR-RGB"
        else:
            goal = f"--min-psnr: at least {report.min_psnr:g} dB PSNR-YUV"
        tried = ", ".join(
            f"{qp}: {size:,} B {rgb_db if rgb else yuv_db:.2f} dB" for qp, size, yuv_db, rgb_db in report.rate_trials
        )
        lines.append(f"{goal}; {len(report.rate_trials)} encodes (--keyframe-qp): {tried}")
    return lines
