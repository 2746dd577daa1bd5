"""What the encoder keeps on disk until the file is written, so that its memory does not grow with
the clip's length (decision 0076): the coded keyframes (KeyframeSpool) and the trained GOPs
(ResultSpool), each in an unnamed temporary file and read back one at a time, as the training's
reference walk, the floor check and the writer ask for them.
"""

from __future__ import annotations

import io
import pickle
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from bitstream import Keyframe

from ..core.lazy import MadeOnRequest
from ..errors import OutputError
from .train import GopResult


class SpoolFile:
    """Blobs appended to an unnamed temporary file in `folder`, gone when the spool is collected or
    the process ends, and read back by where they went. Without a folder (an encode to bytes, the
    pilot's window: short, and held whole anyway) the blobs stay in memory and no disk is needed."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._file: BinaryIO = io.BytesIO()
        if folder is not None:
            try:
                self._file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115  # open as long as it is read
            except OSError as exc:
                raise self._error(exc) from None
        weakref.finalize(self, self._file.close)  # closed with the spool, not left to the interpreter's exit
        self._lock = threading.Lock()  # the training's task feeder and the main thread both read
        self._end = 0

    def append(self, data: bytes) -> int:
        """Where `data` went. Raises OutputError (one line) where the disk is full."""
        with self._lock:
            try:
                self._file.seek(self._end)
                self._file.write(data)
            except OSError as exc:
                raise self._error(exc) from None
            offset, self._end = self._end, self._end + len(data)
        return offset

    def _error(self, exc: OSError) -> OutputError:
        return OutputError(f"cannot keep the encode's work on disk in {self._folder}: {exc.strerror or exc}")

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            self._file.seek(offset)
            return self._file.read(length)


def shared_ids(units: Iterable[bytes], kept: list[bytes]) -> list[int]:
    """The indices of `units` in `kept`, each unit not there yet appended first (first-use order)."""
    ids = []
    for unit in units:
        if unit not in kept:
            kept.append(unit)
        ids.append(kept.index(unit))
    return ids


class KeyframeSpool:
    """The stretches of one chain, added as they are coded (in any order), then `joined` in the chain's
    order with each parameter set stored once, as keyframes.join_stretches does in memory."""

    def __init__(self, count: int, folder: Path | None = None) -> None:
        self._file = SpoolFile(folder)
        # per GOP: offset in the file, its slices' lengths, the stretch it came with, ids into that
        # stretch's parameter sets; the pictures themselves stay on disk
        self._where: list[tuple[int, tuple[int, ...], int, tuple[int, ...]] | None] = [None] * count
        self._stretch_sets: dict[int, list[bytes]] = {}

    def add(self, stretch: int, first_gop: int, parameter_sets: Sequence[bytes], records: Sequence[Keyframe]) -> None:
        """Keep stretch number `stretch`, whose records are GOPs `first_gop` onwards."""
        used: list[bytes] = []  # this stretch's parameter sets in the order its records first use them
        for index, keyframe in enumerate(records, first_gop):
            ids = shared_ids((parameter_sets[i] for i in keyframe.parameter_set_ids), used)
            offset = self._file.append(b"".join(keyframe.slices))
            self._where[index] = (offset, tuple(len(s) for s in keyframe.slices), stretch, tuple(ids))
        self._stretch_sets[stretch] = used

    def joined(self) -> tuple[tuple[bytes, ...], SpooledRecords]:
        """Every parameter set once, in the order the chain first uses them, and the records by GOP."""
        missing = [i for i, where in enumerate(self._where) if where is None]
        if missing:
            raise ValueError(f"keyframes of GOPs {missing[:5]} were never added")
        parameter_sets: list[bytes] = []
        ids_of: dict[int, list[int]] = {}
        for stretch in sorted(self._stretch_sets):
            ids_of[stretch] = shared_ids(self._stretch_sets[stretch], parameter_sets)
        return tuple(parameter_sets), SpooledRecords(self, ids_of)

    def read(self, index: int, ids_of: dict[int, list[int]]) -> Keyframe:
        where = self._where[index]
        assert where is not None, "joined() checked every GOP"
        offset, lengths, stretch, local_ids = where
        data = self._file.read(offset, sum(lengths))
        slices, start = [], 0
        for length in lengths:
            slices.append(data[start : start + length])
            start += length
        return Keyframe([ids_of[stretch][i] for i in local_ids], slices)

    def __len__(self) -> int:
        return len(self._where)


class SpooledRecords(MadeOnRequest[Keyframe]):
    """A chain's records by GOP index, each read from the spool when asked for (never cached)."""

    def __init__(self, spool: KeyframeSpool, ids_of: dict[int, list[int]]) -> None:
        self._spool = spool
        self._ids_of = ids_of

    def __len__(self) -> int:
        return len(self._spool)

    def make(self, index: int) -> Keyframe:
        return self._spool.read(index, self._ids_of)


class ResultSpool(Mapping[int, GopResult]):
    """Trained GOPs by GOP index, each kept on disk as it arrives and read back when asked for. The file
    is this process's own, written by `add` alone, so pickle is safe to read it with."""

    def __init__(self, folder: Path | None = None) -> None:
        self._file = SpoolFile(folder)
        self._where: dict[int, tuple[int, int]] = {}

    def add(self, result: GopResult) -> None:
        """Keep `result`, in place of any earlier result of its GOP."""
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        self._where[result.index] = (self._file.append(data), len(data))

    def __getitem__(self, index: int) -> GopResult:
        return pickle.loads(self._file.read(*self._where[index]))

    def __iter__(self) -> Iterator[int]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)
