"""The process's CPU scheduling, kept as it was around a library that changes it.

SVT-AV1, when its process may raise priorities (root, as in most containers), switches the thread
that opens an encoder to real-time SCHED_FIFO at priority 99 and starts its own threads so. Every
thread and process started from that thread afterwards inherits it: nrff's training workers would
run as real-time tasks that starve the rest of the machine, the encoder's own progress reports
included (docs/decisions/0056). Linux only; elsewhere these are no-ops.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

_TASKS = "/proc/self/task"  # one entry per thread of this process


@dataclasses.dataclass(frozen=True)
class Scheduling:
    """A thread's scheduling policy and static priority, and the process's threads at that moment."""

    policy: int
    priority: int
    threads: frozenset[int]


def _supported() -> bool:
    return hasattr(os, "sched_setscheduler") and os.path.isdir(_TASKS)


def _threads() -> frozenset[int]:
    return frozenset(int(tid) for tid in os.listdir(_TASKS))


def thread_scheduling(tid: int) -> tuple[int, int]:
    """(policy, static priority) of thread `tid` of this process (0: the calling thread)."""
    return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority


def current_scheduling() -> Scheduling | None:
    """The calling thread's scheduling now; None where the platform cannot restore it."""
    if not _supported():
        return None
    return Scheduling(*thread_scheduling(0), _threads())


def restore_scheduling(saved: Scheduling | None) -> None:
    """Put the calling thread, and every thread started since `saved`, back to its scheduling.

    A thread may end while this runs, and a process without the right to change a thread's
    scheduling could not have raised it either: both are passed over.
    """
    if saved is None:
        return
    param = os.sched_param(saved.priority)
    for tid in [0, *(_threads() - saved.threads)]:  # 0: the calling thread
        with contextlib.suppress(OSError):
            if thread_scheduling(tid) != (saved.policy, saved.priority):
                os.sched_setscheduler(tid, saved.policy, param)


@contextlib.contextmanager
def scheduling_kept() -> Iterator[None]:
    """A block after which the calling thread, and the threads the block started, schedule as before it.

    SVT-AV1 raises them while an encoder opens, so the block is the opening (core.ffmpeg.open_encoder):
    the encoder's threads then code at the caller's priority.
    """
    saved = current_scheduling()
    try:
        yield
    finally:
        restore_scheduling(saved)
