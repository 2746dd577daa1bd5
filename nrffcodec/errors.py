"""Errors a user can cause (bad input, bad options); the CLI prints them as one line, exit code 2."""

from __future__ import annotations

from bitstream import BitstreamError


class NrffError(Exception):
    """Base for every error that is the input's or the user's, not a bug."""


class InputError(NrffError):
    """The input video or an option cannot be used."""


class OutputError(NrffError):
    """The output cannot be written."""


class ResourceError(NrffError):
    """The machine lacks what the job needs (GPU memory); the message names the setting to lower."""


USER_ERRORS = (NrffError, BitstreamError)
