"""Command-line values parsed into the library's types."""

from __future__ import annotations

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
