"""Command-line values parsed into the library's types."""

from __future__ import annotations

from ..errors import InputError


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
