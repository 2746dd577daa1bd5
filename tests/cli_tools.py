"""Running the nrff command in-process and checking its one-line errors."""

from __future__ import annotations

from click.testing import CliRunner, Result

from nrffcodec.app.cli import cli


def run(*args: object, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def one_line_error(result: Result) -> str:
    """The single `nrff: error:` line of a run that exited with code 2."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nrff: error:"), result.stderr
    return lines[0]
