"""`nrff sweep`: rate-distortion curves of nrff and the classical codecs on the same frames."""

from __future__ import annotations

from pathlib import Path

import click

from ..settings import PRESETS
from .exits import friendly_errors, say
from .options import input_format, input_format_options, parse_frame_range
from .progress import PointBars


@click.command("sweep")
@click.argument("input_path", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    metavar="DIR",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for results.json/.csv, rd.png/.svg and the reusable points.",
)
@click.option(
    "--qualities",
    "qualities_text",
    default="1,3,5,7",
    show_default=True,
    help="nrff --quality values, comma-separated (none: baselines only).",
)
@click.option(
    "--baselines",
    "baselines_text",
    default="x264,x265,svtav1",
    show_default=True,
    help="Classical codecs to compare with: x264, x265, svtav1 (none: nrff only).",
)
@click.option("--preset", type=click.Choice(list(PRESETS)), default="medium", show_default=True, help="nrff's preset.")
@click.option(
    "--baseline-preset",
    "baseline_presets",
    metavar="[CODEC=]PRESET",
    multiple=True,
    help="A baseline's preset, e.g. svtav1=4 (repeat for several curves); a bare PRESET is x264's and x265's "
    "(default: medium; SVT-AV1 at nrff's own keyframe preset: 3 with --preset fast, 0 medium, -1 slow).",
)
@click.option(
    "--crfs",
    "crfs_text",
    metavar="LIST",
    help="Baseline CRFs, comma-separated (default: chosen to cover nrff's bpp and PSNR range).",
)
@click.option("--frames", "frames_text", metavar="START:END", help="Use frames [START, END) only, for every codec.")
@input_format_options
@click.option("--device", default="auto", show_default=True, help="nrff's device: auto, cpu or cuda.")
@click.option("--jobs", type=click.IntRange(1, 256), help="GOPs trained at once (default: CPU cores; 1 on a GPU).")
@click.option("--iterations", type=click.IntRange(1), hidden=True, help="Override nrff's preset iterations.")
@click.option("--force", is_flag=True, help="Redo points already in DIR instead of reusing them.")
@click.option("--ray", "ray_address", metavar="ADDRESS", help="Train nrff's GOPs on a Ray cluster (as encode --ray).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary (errors only).")
@friendly_errors
def sweep_cmd(
    input_path: Path,
    out_dir: Path,
    qualities_text: str,
    baselines_text: str,
    preset: str,
    baseline_presets: tuple[str, ...],
    crfs_text: str | None,
    frames_text: str | None,
    framerate_text: str | None,
    size_text: str | None,
    pixel_format: str | None,
    device: str,
    jobs: int | None,
    iterations: int | None,
    force: bool,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Rate-distortion curves of nrff against x264/x265/SVT-AV1 on the same frames of IN, with BD-rates."""
    from ..decoder import available_memory
    from ..evaluation.anchors import parse_presets
    from ..evaluation.sweep import Clip, SweepOptions, format_bd, parse_list, run_sweep
    from ..media.reader import read_video
    from .cluster import ray_runner
    from .resources import sweep_fits

    options = SweepOptions(
        qualities=parse_list(qualities_text, "--qualities"),
        baselines=parse_list(baselines_text, "--baselines", str),
        preset=preset,
        baseline_presets=parse_presets(baseline_presets),
        crfs=parse_list(crfs_text, "--crfs"),
        device=device,
        iterations=iterations,
        jobs=jobs,
        force=force,
    )
    form = input_format(framerate_text, size_text, pixel_format)
    video = read_video(input_path, parse_frame_range(frames_text), form, sweep_fits(available_memory()))
    for note in video.notes:
        say(quiet, f"note: {note}")
    bars = PointBars(quiet)
    try:
        result = run_sweep(
            Clip.of(input_path.stem, video),
            out_dir,
            options,
            log=bars.log,
            progress=bars,
            gop_runner=ray_runner(ray_address, quiet),
        )
    finally:
        bars.close()
    if not quiet:
        for row in result.bd_rate:
            click.echo(format_bd(row))
        click.echo(
            f"wrote {out_dir}/results.json, results.csv, rd.png, rd.svg, compare.png ({len(result.points)} points)"
        )
