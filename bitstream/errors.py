"""The one error type the .nrf reader raises, so callers can catch every malformed input at once (and,
within it, a file that is no .nrf at all)."""

from __future__ import annotations


class BitstreamError(ValueError):
    """A .nrf file (or a part of one) is malformed, truncated, corrupted or unsupported.

    The message always says what is wrong and where (section, GOP, byte offset), so a user can
    tell a truncated download from a bit flip from a file written by a newer version.
    """


class NotAnNrfFile(BitstreamError):
    """The input does not begin as an .nrf file does: not a damaged .nrf but some other file (a video
    given where an .nrf was meant), which a caller may say more about."""

    def __init__(self, name: str, magic: bytes, expected: bytes) -> None:
        super().__init__(f"{name}: not an .nrf file (magic {magic!r}, expected {expected!r})")
        self.name = name
