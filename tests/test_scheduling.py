"""The process's CPU scheduling after SVT-AV1 has run in it (core.scheduling, decision 0056)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

from nrffcodec.core import scheduling
from nrffcodec.core.ffmpeg import encode_pictures
from nrffcodec.core.scheduling import thread_scheduling
from nrffcodec.core.video import Planes

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="no POSIX scheduling calls here")
REAL_TIME = {os.SCHED_FIFO, os.SCHED_RR} if hasattr(os, "SCHED_FIFO") else set()


def policies() -> dict[int, tuple[int, int]]:
    """Every thread of this process that still runs: (policy, static priority)."""
    out = {}
    for tid in map(int, os.listdir("/proc/self/task")):
        with contextlib.suppress(OSError):  # ended meanwhile
            out[tid] = thread_scheduling(tid)
    return out


def policy_of_a_new_thread() -> tuple[int, int]:
    seen: list[tuple[int, int]] = []
    thread = threading.Thread(target=lambda: seen.append(thread_scheduling(0)))
    thread.start()
    thread.join()
    return seen[0]


def test_svt_av1_leaves_no_thread_real_time() -> None:
    """Run as root, SVT-AV1 makes the thread that opens it SCHED_FIFO 99; threads and worker processes
    started afterwards would inherit that."""
    before = thread_scheduling(0)
    picture = (np.full((64, 64), 128, np.uint8), np.full((32, 32), 128, np.uint8), np.full((32, 32), 128, np.uint8))
    options = {"preset": "8", "crf": "50", "svtav1-params": "lp=2"}
    while_coding: list[dict[int, tuple[int, int]]] = []

    def pictures() -> Iterator[Planes]:  # read after the encoder opened: its threads exist by then
        for _ in range(2):
            while_coding.append(policies())
            yield picture

    packets = encode_pictures("libsvtav1", pictures(), 64, 64, options, Fraction(1, 25), False)
    assert packets and len(while_coding[0]) > len(policies()), "the encoder's threads were seen"
    assert all(value == before for value in while_coding[0].values()), "its threads code at the caller's priority"
    assert thread_scheduling(0) == before
    assert policy_of_a_new_thread() == before
    assert not [tid for tid, (policy, _) in policies().items() if policy in REAL_TIME and before[0] not in REAL_TIME]


class RaisedThread:
    """A thread that makes itself SCHED_FIFO 1 and waits to be told to end."""

    def __init__(self) -> None:
        self.started, self.stop = threading.Event(), threading.Event()
        self.tid = 0
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        self.started.wait(10)

    def run(self) -> None:
        self.tid = threading.get_native_id()
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        self.started.set()
        self.stop.wait(10)

    def end(self) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def may_raise() -> None:
    """Skips where this process may not raise its scheduling (then no library can raise it either)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        pytest.skip("this process may not raise its scheduling")
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@pytest.mark.usefixtures("may_raise")
def test_restore_puts_back_the_caller_and_threads_started_since() -> None:
    saved = scheduling.current_scheduling()
    assert saved is not None
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    raised = RaisedThread()
    try:
        scheduling.restore_scheduling(saved)
        assert thread_scheduling(0) == thread_scheduling(raised.tid) == (saved.policy, saved.priority)
    finally:
        raised.end()
        os.sched_setscheduler(0, saved.policy, os.sched_param(saved.priority))


@pytest.mark.usefixtures("may_raise")
def test_threads_present_before_are_left_alone() -> None:
    """A thread raised before the block (by whoever owns it) is not the block's doing."""
    raised = RaisedThread()
    try:
        saved = scheduling.current_scheduling()
        with scheduling.scheduling_kept():
            pass
        assert saved is not None and raised.tid in saved.threads
        assert os.sched_getscheduler(raised.tid) == os.SCHED_FIFO
    finally:
        raised.end()


def test_without_the_calls_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "_supported", lambda: False)
    assert scheduling.current_scheduling() is None
    with scheduling.scheduling_kept():
        pass
