"""Output safety: fail before the work when an output cannot be written, write atomically, never over the input."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from ..core.units import human_bytes
from ..errors import OutputError

STDIO = "-"  # as an input, standard input; as an output, standard output (like FFmpeg's "pipe:")


def is_stdio(path: str | os.PathLike) -> bool:
    return str(path) == STDIO


def refuse_existing(src: str | os.PathLike, path: str | os.PathLike, overwrite: bool) -> None:
    """An output that exists is replaced only when the user said so (-y/--overwrite), and never
    when it is the input; video goes to stdout ('-') only through a pipe or into a file, never
    onto a terminal."""
    refuse_overwrite(src, path)
    if is_stdio(path):
        if sys.stdout.isatty():
            raise OutputError("stdout is a terminal: pipe it (nrff decode IN - | ffplay -) or give OUT a file name")
    elif not overwrite and (Path(path).exists() or Path(path).is_symlink()):
        raise OutputError(f"output {path} exists: add -y (--overwrite) to replace it")


def refuse_overwrite(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """An output must never replace its own input (same path, hard link or symlink)."""
    if is_stdio(src) or is_stdio(dst):
        return
    src, dst = Path(src), Path(dst)
    try:
        same = dst.exists() and src.exists() and os.path.samefile(src, dst)
    except OSError:
        same = False
    if same or src.resolve() == dst.resolve():
        raise OutputError(f"refusing to overwrite the input {src}")


def _folder(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def check_output(path: str | os.PathLike, needed_bytes: int = 0) -> None:
    """Fail before any work when `path` cannot be written: no folder, no write access, too little space.

    Write access is tried with a nameless temporary file rather than os.access, which says yes
    to root on a read-only file system; nothing is created under the output's own name.
    """
    if is_stdio(path):
        return
    target = Path(path)
    parent = _folder(target)
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    try:
        with tempfile.TemporaryFile(dir=parent, prefix=f".{target.name}.", suffix=".probe"):
            pass
        free = shutil.disk_usage(parent).free
    except OSError as exc:
        raise OutputError(f"output folder is not writable: {parent} ({exc.strerror or exc})") from None
    if needed_bytes > free:
        raise OutputError(
            f"not enough disk space in {parent} for {target.name}: about "
            f"{human_bytes(needed_bytes)} needed, {human_bytes(free)} free"
        )


_written: list[Path] = []


def written_outputs() -> tuple[Path, ...]:
    """Outputs this process has renamed into place, so that an interrupt can say what was written."""
    return tuple(_written)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM landing inside the block takes effect as the block ends, so that renaming an
    output and recording it happen together or not at all. Outside the main thread, where Python
    cannot set handlers, and for a signal whose handler Python did not set, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    deferred = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in deferred}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])  # now the handler restored above runs


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only when the block succeeds.

    Whatever stops the block (an error, Ctrl-C, SIGTERM through the CLI) removes the temporary
    file, so the output's name only ever holds a complete file; a failing write is an OutputError.
    """
    target = Path(path)
    parent = _folder(target)
    check_output(target)
    try:
        with _temporary_beside(target, parent, is_dir) as tmp:
            yield tmp
            old = None  # a folder output's previous contents, moved aside and then removed
            try:
                with interrupts_deferred():  # an interrupt here would leave the output written but unrecorded
                    if is_dir and target.is_dir():
                        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
                        os.replace(target, old / "x")
                    os.replace(tmp, target)
                    _written.append(target)
            finally:
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _temporary_beside(target: Path, parent: Path, is_dir: bool) -> Iterator[Path]:
    """A temporary file or folder next to `target`, removed unless it was renamed away."""
    umask = os.umask(0)
    os.umask(umask)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would surprise; honour the umask like mkdir
    else:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise; honour the umask like open()
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def starts_with(path: str | os.PathLike, magic: bytes) -> bool:
    """Whether the file at `path` begins with `magic` (False where it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False
