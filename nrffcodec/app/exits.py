"""How every command ends: one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import USER_ERRORS
from ..media.files import written_outputs

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for cat | head
EXIT_BAD_INPUT = 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def friendly_errors(command: Callable) -> Callable:
    """Turn user errors into one line on stderr and exit code 2; anything else into one line, exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        earlier = len(written_outputs())  # outputs of earlier commands in this process (tests, scripts)
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            click.echo(f"nrff: error: {_one_line(exc)}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            output = kwargs.get("output_path")  # the signal can land after it was renamed into place
            written = output is not None and Path(output) in written_outputs()[earlier:]
            click.echo(
                f"nrff: interrupted after writing {output}" if written else "nrff: interrupted (no output written)",
                err=True,
            )
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:
            # the reader of stdout went away (`nrff info F | head -1`): stop quietly, as cat does;
            # stdout to /dev/null so that the interpreter's flush at exit adds no second error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:  # noqa: BLE001 - the promise is "never a traceback"
            if os.environ.get("NRFF_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"nrff: internal error: {type(exc).__name__}: {_one_line(exc)} (set NRFF_DEBUG=1 for details)", err=True
            )
            sys.exit(1)

    return wrapper


def terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwind like Ctrl-C: temporary outputs are removed, the exit code is 130


class OneLineUsageError(click.UsageError):
    """A usage error click found (a bad option value, a missing argument), printed in nrff's one-line style."""

    def show(self, file: Any = None) -> None:
        click.echo(f"nrff: error: {self.message}", err=True)


@contextlib.contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # `nrff` alone prints the help
    except click.UsageError as exc:
        if isinstance(exc, OneLineUsageError):
            raise
        text = _one_line(exc.format_message()).rstrip(".")
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
        raise OneLineUsageError(text[:1].lower() + text[1:] + where, exc.ctx) from None


class OneLineUsageGroup(click.Group):
    """The command group: click's own usage errors read like nrff's other errors, exit code 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


def say(quiet: bool, text: str) -> None:
    """A message on stderr, unless -q."""
    if not quiet:
        click.echo(text, err=True)
