"""The one error type the .nrf reader raises, so callers can catch every malformed input at once."""

from __future__ import annotations


class BitstreamError(ValueError):
    """A .nrf file (or a part of one) is malformed, truncated, corrupted or unsupported.

    The message always says what is wrong and where (section, GOP, byte offset), so a user can
    tell a truncated download from a bit flip from a file written by a newer version.
    """
