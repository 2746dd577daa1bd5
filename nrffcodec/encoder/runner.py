"""Where GOPs train: the runner protocol and its local backend (one process per GOP at a time).

A backend takes every GOP's task and returns their results in task order; `on_result` sees each
result the moment it exists (the work folder keeps it, the progress bar counts it), and
`on_steps`, when given, the training steps of each task as they are done (train_gop's `on_steps`
reports them every few tenths of a second; from another process they travel back on a queue).
Seeding is per GOP, so no backend changes a byte of the file.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import itertools
import multiprocessing
import multiprocessing.queues
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

import torch

from ..errors import ResourceError
from .progress import REPORT_SECONDS, OnSteps
from .train import GopResult, GopTask, train_gop, train_with_fallback

OnResult = Callable[[int, GopResult], None]  # (position in the task list, result)
Log = Callable[[str], None]
CUDA_JOBS = 1  # GOPs trained side by side on one GPU: one process keeps it busy (docs/decisions/)


class Runner(Protocol):
    """Trains GOP tasks somewhere; each result goes to `on_result` with its position in the task list
    as soon as it is trained, and is not kept.

    `tasks` may be a generator that reads the GOPs' frames as it goes: a backend takes the next
    task only when it has room for it (a bounded number in flight), so memory does not grow with
    the clip. `on_steps(position, steps)` hears each GOP's training steps as they happen.
    """

    def run(self, tasks: Iterable[GopTask], on_result: OnResult, log: Log, on_steps: OnSteps | None = None) -> None: ...


def in_flight_limit(workers: int) -> int:
    """Tasks built ahead of the workers: one each in training, one each waiting, so none idles."""
    return 2 * workers


def default_jobs(jobs: int | None, device: str, tasks: int) -> int:
    """--jobs, else one process per CPU core (CUDA_JOBS on a GPU); never more than there are GOPs."""
    limit = os.cpu_count() or 1
    return jobs or min(limit if device == "cpu" else min(limit, CUDA_JOBS), tasks)


# What one process training a GOP holds at its peak: measured 334-356 MiB at 384x288 and 449-689 MiB
# at 1280x720 for GOPs of 8-32 frames (decision 0072). Generous, as a bound.
TRAINING_BYTES = 384 << 20
TRAINING_BYTES_PER_PIXEL = 16  # per pixel of each frame of the GOP
REFERENCES = 3  # the decoded keyframes a GOP's task carries besides its frames


def jobs_that_fit(jobs: int, height: int, width: int, gop_length: int, available: int | None) -> int:
    """`jobs` training processes, or fewer where they would not fit in `available` bytes (at least one).
    Each process counts what it holds and what the parent holds for it: the tasks in flight for one
    process (in_flight_limit), each its frames and references in 8-bit 4:2:0."""
    if available is None:
        return jobs
    tasks_held = in_flight_limit(1) * (gop_length + REFERENCES) * height * width * 3 // 2
    each = TRAINING_BYTES + TRAINING_BYTES_PER_PIXEL * height * width * gop_length + tasks_held
    return max(1, min(jobs, available // each))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """torch on one thread for the block: a CPU GOP trains the same on every machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


Reports = multiprocessing.queues.SimpleQueue  # (position, steps done) or (position, a log line)
_reports: Reports | None = None  # in a worker process: where its step counts and log lines go


def process_context(device: str) -> multiprocessing.context.BaseContext:
    """How worker processes start: fork like torch's DataLoader workers; spawn where fork is absent,
    for CUDA, and whenever this process has used CUDA: a child forked from it cannot touch torch's
    CUDA state, even to train on CPU."""
    forkable = device == "cpu" and not torch.cuda.is_initialized()
    return multiprocessing.get_context(
        "fork" if forkable and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )


def leave_interrupts_to_the_parent() -> None:
    """In a worker: Ctrl-C reaches the parent, which stops its workers; terminate() ends this one mid-task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_init(reports: Reports | None = None) -> None:
    global _reports
    _reports = reports
    torch.set_num_threads(1)
    leave_interrupts_to_the_parent()


def _train_in_worker(position: int, task: GopTask) -> GopResult:
    """train_gop with the CUDA out-of-memory fallback; steps and log lines go back to the parent."""
    reports = _reports
    if reports is None:
        return train_with_fallback(task, train_gop, lambda text: print(text, file=sys.stderr))
    train = functools.partial(train_gop, on_steps=lambda count: reports.put((position, count)))
    return train_with_fallback(task, train, lambda text: reports.put((position, text)))


def _drain(reports: Reports, on_steps: OnSteps | None, log: Log) -> None:
    while not reports.empty():
        position, item = reports.get()
        if isinstance(item, str):
            log(item)
        elif on_steps is not None:
            on_steps(position, item)


def result_of(future: concurrent.futures.Future) -> GopResult:
    """A worker's GOP, or one line where its process died (killed for memory, most likely)."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise ResourceError(
            "a process training GOPs died: if the machine ran out of memory, give a smaller --jobs "
            "(with --workdir, the GOPs already trained are kept)"
        ) from None


class LocalRunner:
    """GOPs trained in this process (`jobs` 1) or in a pool of `jobs` worker processes."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def run(self, tasks: Iterable[GopTask], on_result: OnResult, log: Log, on_steps: OnSteps | None = None) -> None:
        pending = iter(tasks)
        head = list(itertools.islice(pending, 2))  # is there more than one? (one trains in this process)
        if not head:
            return
        tasks = itertools.chain(head, pending)
        if self.jobs <= 1 or len(head) == 1:
            with single_thread() if head[0].device == "cpu" else contextlib.nullcontext():
                for position, task in enumerate(tasks):
                    report = functools.partial(on_steps, position) if on_steps else None
                    on_result(position, train_with_fallback(task, functools.partial(train_gop, on_steps=report), log))
        else:
            self._run_pool(head[0].device, tasks, on_result, log, on_steps)

    def _run_pool(
        self,
        device: str,
        tasks: Iterator[GopTask],
        on_result: OnResult,
        log: Log,
        on_steps: OnSteps | None,
    ) -> None:
        context = process_context(device)
        earlier = set(multiprocessing.active_children())
        numbered = enumerate(tasks)
        # a first batch decides how many workers to start: never more than there are tasks
        batch = list(itertools.islice(numbered, in_flight_limit(self.jobs)))
        workers = min(self.jobs, len(batch))
        reports = context.SimpleQueue()
        with concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_init, initargs=(reports,)
        ) as pool:
            try:
                futures = {pool.submit(_train_in_worker, position, task): position for position, task in batch}
                del batch
                while futures:
                    finished, _ = concurrent.futures.wait(futures, REPORT_SECONDS, concurrent.futures.FIRST_COMPLETED)
                    _drain(reports, on_steps, log)
                    for future in sorted(finished, key=futures.get):
                        on_result(futures.pop(future), result_of(future))
                    for position, task in itertools.islice(numbered, in_flight_limit(workers) - len(futures)):
                        futures[pool.submit(_train_in_worker, position, task)] = position
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                # shutdown() alone would wait for the GOPs still training: end this pool's workers
                for process in set(multiprocessing.active_children()) - earlier:
                    process.terminate()
                raise
        _drain(reports, on_steps, log)  # what the workers said last, now that they have exited
        reports.close()
