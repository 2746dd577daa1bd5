"""Command-line values parsed into the library's types."""

from __future__ import annotations

import re
from collections.abc import Callable

import click

from ..core.retime import parse_rate
from ..errors import InputError
from ..media.raw import InputFormat, parse_size


def parse_frame_range(text: str | None) -> tuple[int, int | None] | None:
    """'START:END' (either side may be empty) -> (start, end); None -> None."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start = int(parts[0]) if parts[0] else 0
        end = int(parts[1]) if parts[1] else None
    except ValueError:
        raise InputError(f"--frames must look like START:END (e.g. 0:32), got {text!r}") from None
    if start < 0 or (end is not None and end <= start):
        raise InputError(f"--frames {text}: need 0 <= START < END")
    return start, end


BITRATE = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[kKmMgG]?)(?:bps|b/s|bit/s)?")
BITRATE_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_bitrate(text: str | None) -> float | None:
    """'500k', '1.5M', '800kbps', '64000' -> bits per second (SI prefixes, as FFmpeg's -b:v); None -> None."""
    if text is None:
        return None
    match = BITRATE.fullmatch(text.strip())
    rate = float(match["number"]) * BITRATE_UNITS[match["unit"].lower()] if match else 0.0
    if rate <= 0:
        raise InputError(f"--bitrate must be bits per second like 500k, 1.5M or 64000, got {text!r}")
    return rate


def input_format_options(command: Callable) -> Callable:
    """--framerate, --size and --pixel-format: what a command's input does not say of itself."""
    options = (
        click.option(
            "--framerate",
            "framerate_text",
            metavar="RATE",
            help="The input's frame rate, replacing what it says: 60, 29.97, 30000/1001 (images and raw "
            "files say none: 25).",
        ),
        click.option(
            "--size",
            "size_text",
            metavar="WxH",
            help="Read IN as raw frames of this size (a .yuv file: default from its name, like "
            "clip_1920x1080_50fps.yuv).",
        ),
        click.option(
            "--pixel-format",
            metavar="FMT",
            help="A raw input's samples, as FFmpeg names them (default: yuv420p, or as its name says: "
            "10bit, 422, 444).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def input_format(framerate_text: str | None, size_text: str | None, pixel_format: str | None) -> InputFormat:
    """The input format options parsed (one-line InputError for a bad value)."""
    return InputFormat(
        framerate=None if framerate_text is None else parse_rate(framerate_text, "--framerate", factors=False).value,
        size=None if size_text is None else parse_size(size_text),
        pixel_format=pixel_format,
    )
