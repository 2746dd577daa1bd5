"""The `nrff` command: a thin click layer over nrffcodec's library functions."""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import click

from bitstream import KeyframeCodec

from . import __version__
from .api import EncodeReport, decode_file, encode
from .errors import USER_ERRORS, InputError
from .info import inspect_file
from .io import output_kind, parse_frame_range, written_outputs
from .settings import DEFAULT_QUALITY, QUALITY_MAX, QUALITY_MIN, EncodeSettings
from .train import PRESETS

EXIT_BAD_INPUT = 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def friendly_errors(command: Callable) -> Callable:
    """Turn user errors into one line on stderr and exit code 2; anything else into one line, exit 1."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        earlier = len(written_outputs())  # outputs of earlier commands in this process (tests, scripts)
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            click.echo(f"nrff: error: {_one_line(exc)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            output = kwargs.get("output_path")  # the signal can land after it was renamed into place
            written = output is not None and Path(output) in written_outputs()[earlier:]
            click.echo(f"nrff: interrupted after writing {output}" if written
                       else "nrff: interrupted (no output written)", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the promise is "never a traceback"
            if os.environ.get("NRFF_DEBUG"):
                traceback.print_exc()
            click.echo(f"nrff: internal error: {type(exc).__name__}: {_one_line(exc)} "
                       f"(set NRFF_DEBUG=1 for details)", err=True)
            sys.exit(1)
    return wrapper


class Bar:
    """A tqdm bar per GOP with ETA, silent under -q; usable as an nrffcodec progress callback."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.quiet, self.desc, self._bar = quiet, desc, None

    def __call__(self, done: int, total: int, info: str) -> None:
        if self.quiet:
            return
        if self._bar is None:
            from tqdm import tqdm
            self._bar = tqdm(total=total, desc=self.desc, unit="GOP", file=sys.stderr, dynamic_ncols=True)
        elif total != self._bar.total:  # the GOP-length pilot's GOPs, then the encode's
            self._bar.reset(total=total)
        self._bar.set_postfix_str(info, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nrff")
def cli() -> None:
    """nrff: a neural video codec (Neural Residual Flow Fields) with a real bitstream."""


def summary_lines(report: EncodeReport, path: str) -> list[str]:
    q = report.quality
    share = lambda n: f"{n:,} B ({100.0 * n / report.bytes:.1f}%)"  # noqa: E731
    return [
        f"wrote {path}: {report.bytes:,} bytes, {report.bpp:.4f} bpp, {report.frames} frames "
        f"{report.width}x{report.height}, {report.gops} GOP{'s' * (report.gops != 1)} "
        f"(length {report.gop_length})",
        f"PSNR-RGB {q.psnr_rgb:.2f} dB, PSNR-YUV420 {q.psnr_yuv:.2f} dB "
        f"(Y {q.psnr_y:.2f}, U {q.psnr_u:.2f}, V {q.psnr_v:.2f}) measured on the decoded file",
        f"keyframes {share(report.keyframe_bytes)}, networks {share(report.network_bytes)}, "
        f"container {share(report.container_bytes)}",
        f"time {report.seconds:.1f} s (training {report.train_seconds:.1f} s on {report.device}), "
        f"{report.seconds / report.frames:.2f} s/frame",
    ]


@cli.command("encode")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--quality", type=click.IntRange(QUALITY_MIN, QUALITY_MAX), default=DEFAULT_QUALITY, show_default=True,
              help=f"Rate knob {QUALITY_MIN}..{QUALITY_MAX}: higher = bigger file, better picture.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="medium", show_default=True,
              help="Encode time vs quality.")
@click.option("--gop", type=click.IntRange(1, 512),
              help="Frames per GOP (default: chosen per clip by a pilot encode among 32, 16, 8, 4, 2, "
                   "up to the quality's longest).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda (auto = CUDA when present).")
@click.option("--frames", "frames_text", metavar="START:END", help="Encode frames [START, END) only.")
@click.option("--jobs", type=click.IntRange(1, 256), help="GOPs trained at once (default: CPU cores; 1 on a GPU).")
@click.option("--weight-bits", type=click.IntRange(2, 16), help="Override the quality's weight bits.")
@click.option("--keyframe-codec", type=click.Choice(["av1", "hevc"]), default="av1", show_default=True,
              help="Codec for keyframes (SVT-AV1 or x265).")
@click.option("--keyframe-period", type=click.IntRange(1, 65535), default=16, show_default=True,
              help="Every Nth keyframe is intra, the others are predicted from the previous keyframe "
                   "(1: all intra, any GOP decodes alone).")
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option("--iterations", type=click.IntRange(1), hidden=True, help="Override the preset's iterations.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep finished GOPs in this folder; the same command run again resumes from them.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def encode_cmd(input_path: Path, output_path: Path, quality: int, preset: str, gop: int | None, device: str,
               frames_text: str | None, jobs: int | None, weight_bits: int | None, keyframe_codec: str,
               keyframe_period: int, seed: int, iterations: int | None, workdir: Path | None, as_json: bool,
               quiet: bool) -> None:
    """Encode video IN to the .nrf file OUT."""
    settings = EncodeSettings(quality=quality, preset=preset, gop=gop, device=device,
                              frames=parse_frame_range(frames_text), jobs=jobs, weight_bits=weight_bits, seed=seed,
                              iterations=iterations, keyframe_codec=KeyframeCodec[keyframe_codec.upper()],
                              keyframe_period=keyframe_period)
    bar = Bar(quiet, "training")
    try:
        report = encode(input_path, output_path, settings, progress=bar,
                        log=lambda text: _say(quiet, f"nrff: {text}"), workdir=workdir)
    finally:
        bar.close()
    for note in report.notes:
        _say(quiet, f"note: {note}")
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif not quiet:
        for line in summary_lines(report, str(output_path)):
            click.echo(line, err=True)


@cli.command("decode")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--frames", "frames_text", metavar="START:END", help="Decode frames [START, END) only.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def decode_cmd(input_path: Path, output_path: Path, frames_text: str | None, device: str, quiet: bool) -> None:
    """Decode the .nrf file IN to OUT: .mp4 (H.264), .mkv (FFV1 lossless), .y4m, or a folder of PNGs."""
    started = time.perf_counter()
    bar = Bar(quiet, "decoding")
    try:
        video = decode_file(input_path, output_path, parse_frame_range(frames_text), device, progress=bar)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    last = video.first_frame + video.frame_count - 1
    _say(quiet, f"wrote {output_path} ({output_kind(output_path)}): frames {video.first_frame}..{last}"
                f", {video.width}x{video.height} @ {float(video.fps):.3f} fps, "
                f"{seconds:.1f} s ({video.frame_count / max(seconds, 1e-9):.1f} frames/s)")


@cli.command("info")
@click.argument("input_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def info_cmd(input_path: Path, as_json: bool) -> None:
    """Show a .nrf file's header, GOP table and byte breakdown (every CRC is checked)."""
    if not input_path.exists():
        raise InputError(f"input not found: {input_path}")
    info = inspect_file(input_path)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    h = info["header"]
    v = h["video"]
    click.echo(f"{info['file']}: nrf version {info['version']}, {info['bytes']['total']:,} bytes, "
               f"{info['bpp']:.4f} bpp")
    click.echo(f"video: {v['width']}x{v['height']}, {v['frame_count']} frames, {v['fps_num']}/{v['fps_den']} fps, "
               f"yuv420p, {'BT.709' if v['matrix'] else 'BT.601'} {'full' if v['full_range'] else 'limited'} range")
    for name in ("flow", "residual"):
        a = h[name]
        click.echo(f"{name} network: width {a['width']}, {a['hidden_layers']} hidden "
                   f"({'shared' if a['shared_hidden'] else 'separate'}), frequencies t/y/x "
                   f"{a['freqs_t']}/{a['freqs_y']}/{a['freqs_x']}, {info['parameters_per_gop'][name]} weights/GOP, "
                   f"{info['bits_per_weight'][name]} bits/weight")
    channel, tensors = info["tensors_with_channel_steps"]
    steps = "per channel" if h["quant"]["per_channel"] else (
        f"per tensor, {channel} of {tensors} tensors per output channel" if channel else "per tensor")
    click.echo(f"quantizer: {h['quant']['weight_bits']} bits, {steps}"
               f"; flow scale {h['flow_scale']} px; entropy models chosen: "
               + ", ".join(f"{k} x{n}" for k, n in sorted(info["entropy_models"].items())))
    click.echo("GOP  frames     key  bytes  keyframe  networks  bits/w flow  bits/w residual")
    for g in info["gops"]:
        click.echo(f"{g['gop']:>3}  {g['first_frame']:>4}-{g['first_frame'] + g['frames'] - 1:<5} {g['keyframe']:>4} "
                   f"{g['bytes']:>6} {g['keyframe_bytes']:>9} {g['network_bytes']:>9} "
                   f"{g['flow']['bits_per_weight']:>12} {g['residual']['bits_per_weight']:>16}")
    b = info["bytes"]
    click.echo(f"bytes: keyframes {b['keyframes']:,} + networks {b['networks']:,} + container {b['container']:,} "
               f"= {b['total']:,}")


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwind like Ctrl-C: temporary outputs are removed, the exit code is 130


X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


class _PointBars:
    """A fresh training bar for each nrff point of a sweep (each encode reports from done=0)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int, info: str) -> None:
        if done == 0:
            self.close()
            self.bar = Bar(self.quiet, "training")
        self.bar(done, total, info)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@cli.command("sweep")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", metavar="DIR", required=True, type=click.Path(path_type=Path),
              help="Folder for results.json/.csv, rd.png/.svg and the reusable points.")
@click.option("--qualities", "qualities_text", default="1,3,5,7", show_default=True,
              help="nrff --quality values, comma-separated (none: baselines only).")
@click.option("--baselines", "baselines_text", default="x264,x265", show_default=True,
              help="Classical codecs to compare with (none: nrff only).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="medium", show_default=True,
              help="nrff's preset.")
@click.option("--baseline-preset", type=click.Choice(X26X_PRESETS), default="medium", show_default=True,
              help="x264/x265 preset.")
@click.option("--crfs", "crfs_text", metavar="LIST",
              help="Baseline CRFs, comma-separated (default: chosen to cover nrff's bpp and PSNR range).")
@click.option("--frames", "frames_text", metavar="START:END", help="Use frames [START, END) only, for every codec.")
@click.option("--device", default="auto", show_default=True, help="nrff's device: auto, cpu or cuda.")
@click.option("--jobs", type=click.IntRange(1, 256), help="GOPs trained at once (default: CPU cores; 1 on a GPU).")
@click.option("--iterations", type=click.IntRange(1), hidden=True, help="Override nrff's preset iterations.")
@click.option("--force", is_flag=True, help="Redo points already in DIR instead of reusing them.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def sweep_cmd(input_path: Path, out_dir: Path, qualities_text: str, baselines_text: str, preset: str,
              baseline_preset: str, crfs_text: str | None, frames_text: str | None, device: str, jobs: int | None,
              iterations: int | None, force: bool, quiet: bool) -> None:
    """Rate-distortion curves of nrff against x264/x265 on the same frames of IN, with BD-rates."""
    from .io import read_video
    from .sweep import Clip, SweepOptions, format_bd, parse_list, run_sweep

    options = SweepOptions(qualities=parse_list(qualities_text, "--qualities"),
                           baselines=parse_list(baselines_text, "--baselines", str),
                           preset=preset, baseline_preset=baseline_preset, crfs=parse_list(crfs_text, "--crfs"),
                           device=device, iterations=iterations, jobs=jobs, force=force)
    video = read_video(input_path, parse_frame_range(frames_text))
    for note in video.notes:
        _say(quiet, f"note: {note}")
    bars = _PointBars(quiet)
    try:
        result = run_sweep(Clip.of(input_path.stem, video), out_dir, options,
                           log=lambda text: _say(quiet, f"nrff: {text}"), progress=bars)
    finally:
        bars.close()
    if not quiet:
        for row in result.bd_rate:
            click.echo(format_bd(row))
        click.echo(f"wrote {out_dir}/results.json, results.csv, rd.png, rd.svg ({len(result.points)} points)")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    cli(prog_name="nrff")


if __name__ == "__main__":
    main()
