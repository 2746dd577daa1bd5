"""The `nrff` command: a thin click layer over nrffcodec's library functions."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import click

from ..errors import InputError, OutputError
from ..media.files import is_stdio, refuse_existing
from ..settings import (
    DEFAULT_QUALITY,
    KEYFRAME_QP_MAX,
    KEYFRAME_QP_MIN,
    PRESETS,
    QUALITY_MAX,
    QUALITY_MIN,
    EncodeSettings,
)
from .exits import OneLineUsageGroup, friendly_errors, say, terminated
from .options import input_format, input_format_options, parse_bitrate, parse_frame_range
from .progress import Bar, stage_bars
from .summary import summary_lines
from .sweep_cmd import sweep_cmd
from .versions import version_option


@click.group("nrff", cls=OneLineUsageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@version_option
def cli() -> None:
    """nrff: a neural video codec (Neural Residual Flow Fields) with a real bitstream."""


overwrite_option = click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it exists.")


# names an encode's output must not have: nrff decode writes these, and a player would not open an .nrf
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".y4m", ".yuv"})


@cli.command("encode")
@click.argument("input_path", metavar="IN", type=click.Path(allow_dash=True, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(path_type=Path))
@click.option(
    "--quality",
    type=click.IntRange(QUALITY_MIN, QUALITY_MAX),
    default=DEFAULT_QUALITY,
    show_default=True,
    help=f"Rate knob {QUALITY_MIN}..{QUALITY_MAX}: higher = bigger file, better picture.",
)
@click.option(
    "--preset", type=click.Choice(list(PRESETS)), default="medium", show_default=True, help="Encode time vs quality."
)
@click.option(
    "--gop",
    type=click.IntRange(1, 512),
    help="Frames per GOP (default: chosen per clip by a pilot encode among 32, 16, 8, 4, 2, "
    "up to the quality's longest).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda (auto = CUDA when present).")
@click.option("--frames", "frames_text", metavar="START:END", help="Encode frames [START, END) only.")
@input_format_options
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    help="GOPs trained at once (default: CPU cores; 1 on a GPU), and stretches of keyframes coded at once "
    "(default: one per 8 cores).",
)
@click.option(
    "--keyframe-qp",
    type=click.IntRange(KEYFRAME_QP_MIN, KEYFRAME_QP_MAX),
    help="Override the quality's keyframe QP (AV1 scale, lower = bigger file; x265 keyframes map it to "
    "theirs): rate control finer than --quality's steps.",
)
@click.option(
    "--bitrate",
    "bitrate_text",
    metavar="RATE",
    help="Aim at this video bitrate in bits/s (500k, 1.5M; audio not counted): the best keyframe QP whose "
    "file fits it, found by several encodes, the pilot's GOP length held after the first.",
)
@click.option(
    "--min-psnr",
    type=float,
    metavar="DB",
    help="Aim at this PSNR-YUV (6:1:1, as the summary measures it): the smallest file that reaches it, "
    "found as --bitrate's is.",
)
@click.option(
    "--min-psnr-rgb",
    type=float,
    metavar="DB",
    help="As --min-psnr, for PSNR-RGB (the mean of per-frame PSNRs, as neural video papers report it).",
)
@click.option("--weight-bits", type=click.IntRange(2, 16), help="Override the quality's weight bits.")
@click.option(
    "--keyframe-codec",
    type=click.Choice(["av1", "hevc"]),
    default="av1",
    show_default=True,
    help="Codec for keyframes (SVT-AV1 or x265).",
)
@click.option(
    "--keyframe-period",
    type=click.IntRange(1, 65535),
    default=16,
    show_default=True,
    help="Every Nth keyframe is intra, the others are predicted from the previous keyframe "
    "(1: all intra, any GOP decodes alone).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option("--iterations", type=click.IntRange(1), hidden=True, help="Override the preset's iterations.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep finished GOPs in this folder; the same command run again resumes from them.",
)
@click.option("--no-audio", is_flag=True, help="Drop the input's audio (kept as it is by default).")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Train GOPs and code keyframes on a Ray cluster: auto (the one `ray start` made here), HOST:PORT, "
    "or local (docs/cluster.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--stats",
    "stats_path",
    metavar="FILE.csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write per-frame statistics (GOP, keyframe or fields, bytes, PSNR Y/U/V/YUV/RGB) as CSV "
    "(the file is decoded once more for them).",
)
@overwrite_option
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def encode_cmd(
    input_path: Path,
    output_path: Path,
    quality: int,
    preset: str,
    gop: int | None,
    device: str,
    frames_text: str | None,
    framerate_text: str | None,
    size_text: str | None,
    pixel_format: str | None,
    jobs: int | None,
    keyframe_qp: int | None,
    bitrate_text: str | None,
    min_psnr: float | None,
    min_psnr_rgb: float | None,
    weight_bits: int | None,
    keyframe_codec: str,
    keyframe_period: int,
    seed: int,
    iterations: int | None,
    workdir: Path | None,
    no_audio: bool,
    ray_address: str | None,
    as_json: bool,
    stats_path: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Encode video IN (- reads a pipe, e.g. y4m; a folder of numbered images, e.g. frame_000000.png; a
    raw .yuv file) to the .nrf file OUT (its audio streams kept as they are)."""
    from bitstream import KeyframeCodec

    if is_stdio(output_path):
        raise OutputError("encode writes a file: give OUT.nrf, not -")
    refuse_existing(input_path, output_path, overwrite)
    if output_path.suffix.lower() in VIDEO_SUFFIXES:
        raise OutputError(
            f"encode writes an .nrf file, which players do not open: name it {output_path.with_suffix('.nrf')} "
            f"(nrff decode writes {output_path.suffix} files)"
        )
    if stats_path is not None:
        refuse_existing(input_path, stats_path, overwrite)
        if stats_path.resolve() == output_path.resolve():
            raise OutputError("--stats must name another file than OUT")
    form = input_format(framerate_text, size_text, pixel_format)
    settings = EncodeSettings(
        quality=quality,
        preset=preset,
        gop=gop,
        device=device,
        frames=parse_frame_range(frames_text),
        jobs=jobs,
        keyframe_qp=keyframe_qp,
        bitrate=parse_bitrate(bitrate_text),
        min_psnr=min_psnr,
        min_psnr_rgb=min_psnr_rgb,
        weight_bits=weight_bits,
        seed=seed,
        iterations=iterations,
        keyframe_codec=KeyframeCodec[keyframe_codec.upper()],
        keyframe_period=keyframe_period,
    )
    from .cluster import ray_runner
    from .jobs import encode

    runner = ray_runner(ray_address, quiet)
    bar = Bar(quiet, "training")
    try:
        report = encode(
            input_path,
            output_path,
            settings,
            progress=bar,
            log=bar.log,
            workdir=workdir,
            runner=runner,
            audio=not no_audio,
            stages=stage_bars(quiet),
            form=form,
            stats=stats_path,
        )
    finally:
        bar.close()
    for note in report.notes:
        say(quiet, f"note: {note}")
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif not quiet:
        for line in summary_lines(report, str(output_path)):
            click.echo(line, err=True)


@cli.command("decode")
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(allow_dash=True, path_type=Path))
@click.option("--frames", "frames_text", metavar="START:END", help="Decode frames [START, END) only.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option(
    "--fps",
    "fps_text",
    metavar="RATE",
    help="Decode at another frame rate: 60, 30000/1001, or a factor of the file's rate like 2x or 1.5x.",
)
@overwrite_option
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def decode_cmd(
    input_path: Path,
    output_path: Path,
    frames_text: str | None,
    device: str,
    fps_text: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Decode the .nrf file IN to OUT: .mp4 (H.264), .mkv (FFV1 lossless), .y4m, .yuv (raw yuv420p), a
    folder of PNGs, - (y4m on stdout).

    Audio kept in IN goes into .mp4 and .mkv, cut to the frames decoded."""
    from ..media.writer import output_kind, refuse_replacing_other_files
    from .jobs import decode_file

    refuse_existing(input_path, output_path, overwrite)
    if output_kind(output_path) == "png":
        refuse_replacing_other_files(output_path)  # before the decode, not after it
    frames = parse_frame_range(frames_text)
    started = time.perf_counter()
    bar = Bar(quiet, "decoding", unit="GOP")
    try:
        video = decode_file(input_path, output_path, frames, device, progress=bar, fps=fps_text)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    for note in video.notes:
        say(quiet, f"note: {note}")
    end = video.first_frame + video.frame_count
    if frames and frames[1] is not None and frames[1] > end:
        say(quiet, f"note: --frames end {frames[1]} is past the file's {end} frames: decoded {frames[0]}:{end}")
    where = "stdout" if is_stdio(output_path) else output_path
    say(
        quiet,
        f"wrote {where} ({output_kind(output_path)}): frames {video.first_frame}..{end - 1}"
        f", {video.width}x{video.height} @ {float(video.fps):.3f} fps, "
        f"{seconds:.1f} s ({video.frame_count / max(seconds, 1e-9):.1f} frames/s)",
    )


@cli.command("info")
@click.argument("input_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def info_cmd(input_path: Path, as_json: bool) -> None:
    """Show a .nrf file's header, GOP table and byte breakdown (every CRC is checked)."""
    from .info import info_lines, inspect_file
    from .jobs import open_nrf

    if not input_path.exists():
        raise InputError(f"input not found: {input_path}")
    info = inspect_file(open_nrf(input_path))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for line in info_lines(info):
        click.echo(line)


cli.add_command(sweep_cmd)


def main() -> None:
    # Before torch loads OpenMP: spinning worker threads starve when another process shares the
    # cores (docs/decisions/); a value the user set wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    signal.signal(signal.SIGTERM, terminated)
    cli(prog_name="nrff")


if __name__ == "__main__":
    main()
