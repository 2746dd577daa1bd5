"""Stretches of the keyframe chain coded side by side, one worker process each (decision 0070).

Each worker reads the source with a reader of its own, forward only, and takes the next stretch
in the chain's order as it comes free, so the source is decoded at most once per worker and no
frame travels between processes. Coded stretches (compressed bytes) and a tick per picture come
back on a queue; the parent keeps each stretch as it arrives. A stretch is its own stream and
SVT-AV1's bytes do not depend on its thread count, so the chain is the same however many workers
coded it.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import queue
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core import keyframes as keyframe_codecs
from ..core.gop import Gop
from ..core.video import FrameSource, SegmentReader, Video
from ..errors import ResourceError
from .runner import leave_interrupts_to_the_parent, process_context

WAIT_SECONDS = 0.5  # how often the parent looks for a worker that died without a word


class CodesStretch(Protocol):
    def __call__(self, reader: SegmentReader, *, stretch: Sequence[Gop], on_picture: Callable[[], None]) -> Any: ...


Stretches = Sequence[tuple[int, tuple[Gop, ...]]]  # (index in the chain, its GOPs) of each stretch to code


@runtime_checkable
class StretchRunner(Protocol):
    """Codes stretches elsewhere (app.cluster.RayRunner on a Ray cluster): `keep(index, coded)` as each
    arrives, `on_picture` once for each of its pictures."""

    def code_stretches(
        self,
        video: FrameSource,
        todo: Stretches,
        code: CodesStretch,
        keep: Callable[[int, Any], None],
        on_picture: Callable[[], None],
    ) -> None: ...


@dataclasses.dataclass(frozen=True)
class StretchPictures:
    """A stretch's keyframe pictures and nothing else, as a reader for `code`: what a task on another
    machine needs to code the stretch, without the source."""

    pictures: Video  # one frame per GOP of the stretch, in order
    keys: tuple[int, ...]  # the source frame of each

    def frames(self, start: int, end: int) -> Video:
        position = self.keys.index(start)
        if self.keys[position : position + end - start] != tuple(range(start, end)):
            raise ValueError(f"frames {start}-{end - 1} are not all keyframes of this stretch")
        return self.pictures.frames(position, position + end - start)


def stretch_pictures(reader: SegmentReader, stretch: Sequence[Gop]) -> StretchPictures:
    """The keyframe pictures of `stretch`, read from `reader` in order into arrays of the stretch's size."""
    first = reader.frames(stretch[0].key, stretch[0].key + 1)
    planes = [np.empty((len(stretch), *getattr(first, name).shape[1:]), np.uint8) for name in ("y", "u", "v")]
    for position, gop in enumerate(stretch):
        frame = first if position == 0 else reader.frames(gop.key, gop.key + 1)
        for plane, name in zip(planes, ("y", "u", "v")):
            plane[position] = getattr(frame, name)[0]
    pictures = dataclasses.replace(first, y=planes[0], u=planes[1], v=planes[2], notes=[])
    return StretchPictures(pictures, tuple(gop.key for gop in stretch))


def _work(video: FrameSource, stretches: Any, code: CodesStretch, threads: int, messages: Any) -> None:
    leave_interrupts_to_the_parent()
    keyframe_codecs.KEYFRAME_THREADS = threads  # this process's share of the machine
    try:
        reader = video.reader()
        # stretches are dealt in the chain's order, so each worker's next one lies ahead of its reader
        for index, stretch in iter(stretches.get, None):
            part = code(reader, stretch=stretch, on_picture=lambda: messages.put(("picture", None)))
            messages.put(("stretch", (index, part)))
    except Exception as exc:  # noqa: BLE001 - the parent raises it, as one process would have
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an error that cannot travel is sent as its text
            exc = RuntimeError(f"keyframe worker: {type(exc).__name__}: {exc}")
        messages.put(("error", exc))
    messages.put(("done", None))


# What one SVT-AV1 encoder coding every frame takes, in a process: measured 64 MiB more at 384x288,
# 236 MiB at 1280x720 and 578 MiB at 1920x1080 (preset 0; decision 0070). Generous, as a bound.
ENCODER_BYTES = 64 << 20
ENCODER_BYTES_PER_PIXEL = 320


def workers_that_fit(workers: int, height: int, width: int, available: int | None) -> int:
    """`workers`, or fewer where their encoders would not fit in `available` bytes (at least one)."""
    if available is None:
        return workers
    each = ENCODER_BYTES + ENCODER_BYTES_PER_PIXEL * height * width
    return max(1, min(workers, available // each))


def default_chain_jobs(jobs: int | None) -> int:
    """--jobs, else one process per KEYFRAME_THREADS cores: on a machine one encoder's threads fill,
    processes side by side measured no faster (decision 0070), and each holds an encoder's memory."""
    return jobs or max(1, (os.cpu_count() or 1) // keyframe_codecs.KEYFRAME_THREADS)


def code_in_workers(
    video: FrameSource,
    todo: Stretches,
    workers: int,
    code: CodesStretch,
    keep: Callable[[int, Any], None],
    on_picture: Callable[[], None],
) -> None:
    """Code the stretches `todo` ((index, GOPs) each) in `workers` processes; `keep(index, coded)` as each ends."""
    context = process_context("cpu")  # the workers code on the CPU, but never fork a process that used CUDA
    messages, stretches = context.Queue(), context.Queue()
    for item in [*todo, *[None] * workers]:  # each worker stops at a None
        stretches.put(item)
    # the machine's cores shared out, never more per encoder than one encoder alone would take
    threads = max(1, min(keyframe_codecs.KEYFRAME_THREADS, (os.cpu_count() or 1) // workers))
    processes = [
        context.Process(target=_work, args=(video, stretches, code, threads, messages), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    kept = set()
    try:
        running = len(processes)
        while running:
            died = next((p.exitcode for p in processes if p.exitcode not in (None, 0)), None)
            if died is not None:
                raise ResourceError(
                    f"a process coding keyframes died (exit code {died}): if the machine ran out of memory, "
                    "give a smaller --jobs"
                )
            try:
                kind, item = messages.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                continue
            if kind == "picture":
                on_picture()
            elif kind == "stretch":
                keep(*item)
                kept.add(item[0])
            elif kind == "error":
                raise item
            else:
                running -= 1
        if kept != {index for index, _ in todo}:
            raise RuntimeError("a process coding keyframes ended without coding its stretches")
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        messages.close()
        stretches.close()
