"""`nrff --version`: nrff's version and those of what decides its output, without importing torch."""

from __future__ import annotations

import platform

import click

from ..version import __version__


def _installed(package: str) -> str:
    from importlib import metadata  # here: it costs more to import than the rest of --help

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_lines() -> list[str]:
    """nrff, the .nrf format it writes, torch (from its package metadata), FFmpeg (through PyAV) and Python."""
    import av

    from bitstream import FORMAT_MAJOR, FORMAT_MINOR

    return [
        f"nrff {__version__}",
        f".nrf format {FORMAT_MAJOR}.{FORMAT_MINOR}",
        f"torch {_installed('torch')}",
        f"FFmpeg {av.ffmpeg_version_info} (PyAV {av.__version__})",
        f"Python {platform.python_version()}",
    ]


def show_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """The --version option's callback: print and exit before any command runs."""
    if not value or ctx.resilient_parsing:
        return
    click.echo("\n".join(version_lines()))
    ctx.exit()


version_option = click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_versions,
    help="Show nrff's, the .nrf format's, torch's and FFmpeg's versions and exit.",
)
