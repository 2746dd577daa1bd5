"""GOPs trained on a Ray cluster (`nrff encode --ray ADDRESS`): the encoder's Runner, on Ray tasks.

One Ray task per GOP asks for one CPU (one GPU when the encode trains on CUDA); its inputs go
through the object store (ray.put), so workers need no shared disk. The keyframe chain's
stretches are Ray tasks too (StretchRunner), their pictures sent the same way. A task whose
worker process or node dies is retried by Ray (MAX_RETRIES, bounded); the result is the same
bytes wherever it runs, since every GOP is seeded by its index and trains on one thread, and a
stretch is its own stream, the same on any number of threads. Results reach
`on_result` as they arrive (the work folder keeps them, the progress bar counts them), so a GOP
that fails every retry ends the encode with one error naming it, once the GOPs in flight are done
and kept.

Ray is imported here and in ray_join only, when --ray is given: a plain encode never loads it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..core import keyframes as keyframe_codecs
from ..core.gop import Gop
from ..core.video import FrameSource
from ..decoder import available_memory
from ..encoder.progress import REPORT_SECONDS, OnSteps
from ..encoder.runner import Log, OnResult, in_flight_limit, single_thread
from ..encoder.stretch_workers import CodesStretch, Stretches, StretchPictures, stretch_pictures
from ..encoder.train import GopResult, GopTask, train_gop, train_with_fallback
from ..errors import ResourceError
from .exits import say
from .ray_join import connect, first_line

MAX_RETRIES = 3  # a GOP's task is run at most 1 + MAX_RETRIES times when its worker or node dies
# Test hook, for the fault tests only: "GOP:MARKER" makes the worker that first trains GOP `GOP`, or
# codes the stretch of keyframes that starts at it (while the file MARKER does not exist), create
# MARKER and kill itself, as a crash mid-task would; "GOP:always" kills every worker that runs it.
CRASH_ENV = "NRFF_TEST_CRASH_GOP"
KEPT = "; with --workdir, the {} already {} are kept for the next run"


def _crash_on_first_attempt(gop_index: int) -> None:
    hook = os.environ.get(CRASH_ENV)
    if not hook:
        return
    index, marker = hook.split(":", 1)
    if int(index) != gop_index:
        return
    if marker != "always":
        if Path(marker).exists():
            return
        Path(marker).write_text(str(os.getpid()))
    os._exit(1)  # a worker dying mid-GOP, without any cleanup


def train_on_worker(task: GopTask) -> GopResult:
    """One GOP on a Ray worker: one torch thread on a CPU, as LocalRunner's workers (same bytes)."""
    _crash_on_first_attempt(task.gop.index)

    def log(text: str) -> None:
        print(text, file=sys.stderr)  # the worker's stderr: Ray keeps it in the node's logs

    if task.device == "cpu":
        with single_thread():
            return train_with_fallback(task, train_gop, log)
    return train_with_fallback(task, train_gop, log)


def code_stretch_on_worker(
    pictures: StretchPictures, stretch: tuple[Gop, ...], code: CodesStretch, threads: int, ticks: Any
) -> Any:
    """One stretch of the keyframe chain on a Ray worker: its encoder on the `threads` CPUs the task
    asks for (SVT-AV1's bytes do not depend on its threads, decision 0070). Each picture the
    encoder takes is put on the `ticks` queue as (first GOP of the stretch, its position in it)."""
    _crash_on_first_attempt(stretch[0].index)
    keyframe_codecs.KEYFRAME_THREADS = threads
    from ray.exceptions import RayError

    taken = itertools.count()

    def tick() -> None:
        with contextlib.suppress(RayError):  # only the bar loses: the driver counts them when it is back
            ticks.put_nowait((stretch[0].index, next(taken)))

    return code(pictures, stretch=stretch, on_picture=tick)


def stretch_threads(cluster_cpus: int, node_cpus: int, stretches: int) -> int:
    """CPUs each stretch task asks for: one, or more where the cluster has more CPUs than stretches,
    up to what one encoder takes alone (KEYFRAME_THREADS' 8) and what the largest node has."""
    return max(1, min(8, node_cpus, cluster_cpus // max(1, stretches)))


def stretches_held(stretch_bytes: int, available: int | None) -> int:
    """Stretches whose pictures the driver may hold in flight: half of `available` memory (at least one)."""
    return max(1, available // 2 // max(1, stretch_bytes)) if available is not None else 1 << 30


class RayRunner:
    """The encoder's Runner on a Ray cluster: one task per GOP, a bounded number in flight."""

    def __init__(self, address: str, gpu_fraction: float = 1.0) -> None:
        self.address = address
        self.gpu_fraction = gpu_fraction
        self._ray = connect(address)

    def describe(self) -> str:
        resources = self._ray.cluster_resources()
        nodes = sum(1 for node in self._ray.nodes() if node.get("Alive"))
        return f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs on {nodes} node{'s' * (nodes != 1)}"

    def slots(self, device: str) -> int:
        """GOPs the cluster can train at once: its CPUs, or its GPUs over the fraction one GOP asks for."""
        resources = self._ray.cluster_resources()
        if device == "cpu":
            return max(1, int(resources.get("CPU", 1)))
        return max(1, int(resources.get("GPU", 0) / self.gpu_fraction))

    def _remote(self, function: Any, device: str, cpus: int = 1) -> Any:
        env = {CRASH_ENV: os.environ[CRASH_ENV]} if os.environ.get(CRASH_ENV) else {}
        resources = {"num_cpus": cpus} if device == "cpu" else {"num_cpus": cpus, "num_gpus": self.gpu_fraction}
        return self._ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False, **resources)(function).options(
            runtime_env={"env_vars": env} if env else None
        )

    def _outcome(self, ref: Any, name: str, kept: str) -> Any:
        """What task `ref` returned, or a ResourceError naming `name` where it failed (`kept`: what is saved)."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task itself raised: the same on every retry
            return ResourceError(f"{name} failed on the Ray cluster: {first_line(exc.cause)}{kept}")
        except ray.exceptions.RayError as exc:  # its worker or node died every time
            reason = first_line(exc)
            return ResourceError(f"{name} failed on the Ray cluster after {MAX_RETRIES} retries ({reason}){kept}")

    def _run_tasks(
        self,
        items: Iterable[Any],
        submit: Callable[[Any], tuple[Any, Any]],
        finish: Callable[[Any, Any], None],
        name: Callable[[Any], str],
        kept: str,
        limit: int,
        waiting: Callable[[], None] = lambda: None,
    ) -> None:
        """Each of `items` as a task, `submit(item)` -> (object ref, key), at most `limit` in flight;
        `finish(key, result)` as each succeeds, `waiting()` every REPORT_SECONDS meanwhile. After a
        failure no more are submitted, those in flight finish, and the first failure is raised
        (`name(key)` names the task, `kept` what is saved)."""
        ray = self._ray
        in_flight: dict[Any, Any] = {}
        failures: list[ResourceError] = []

        def collect() -> None:
            ready: list[Any] = []
            while not ready:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=REPORT_SECONDS)
                waiting()
            for ref in ready:
                key = in_flight.pop(ref)
                outcome = self._outcome(ref, name(key), kept)
                if isinstance(outcome, ResourceError):
                    failures.append(outcome)
                else:
                    finish(key, outcome)

        try:
            for item in items:
                while len(in_flight) >= limit and not failures:
                    collect()
                if failures:
                    break  # submit no more; the tasks in flight finish and are kept
                ref, key = submit(item)
                in_flight[ref] = key
            while in_flight:
                collect()
        except BaseException:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        if failures:
            raise failures[0]

    def code_stretches(
        self,
        video: FrameSource,
        todo: Stretches,
        code: CodesStretch,
        keep: Callable[[int, Any], None],
        on_picture: Callable[[], None],
    ) -> None:
        """The chain's stretches as Ray tasks (StretchRunner): the driver reads each one's pictures in
        order and sends them through the object store, as many in flight as the cluster's CPUs take
        and half the driver's memory holds; a task takes more than one CPU where the cluster has
        more CPUs than stretches (stretch_threads). The file is the same as a local encode's."""
        ray = self._ray
        from ray.util.queue import Queue

        node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1)
        threads = stretch_threads(self.slots("cpu"), node_cpus, len(todo))
        remote = self._remote(code_stretch_on_worker, "cpu", threads)
        code_ref = ray.put(code)  # the plan once, not with every task
        longest = max(len(stretch) for _, stretch in todo) * video.height * video.width * 3 // 2
        limit = min(in_flight_limit(max(1, self.slots("cpu") // threads)), stretches_held(longest, available_memory()))
        reader = video.reader()
        ticks = Queue(actor_options={"num_cpus": 0})  # the tasks' pictures, as they take them
        counted: set[tuple[int, int]] = set()  # a retried task sends its pictures again: each counts once

        def count(tick: tuple[int, int]) -> None:
            if tick not in counted:
                counted.add(tick)
                on_picture()

        queue_lost = False

        def drain() -> None:
            nonlocal queue_lost
            if queue_lost:
                return
            try:
                taken = ticks.get_nowait_batch(ticks.qsize())
            except ray.exceptions.RayError:  # the bar then moves as stretches come back (finish)
                queue_lost = True
                return
            for tick in taken:
                count(tick)

        def submit(item: tuple[int, tuple[Gop, ...]]) -> tuple[Any, tuple[int, tuple[Gop, ...]]]:
            pictures = ray.put(stretch_pictures(reader, item[1]))
            return remote.remote(pictures, item[1], code_ref, threads, ticks), item

        def finish(item: tuple[int, tuple[Gop, ...]], coded: Any) -> None:
            drain()  # the task put its last ticks before it returned
            keep(item[0], coded)
            for position in range(len(item[1])):  # were any lost, the bar still ends full
                count((item[1][0].index, position))

        def name(item: tuple[int, tuple[Gop, ...]]) -> str:
            return f"the keyframes of GOPs {item[1][0].index}-{item[1][-1].index}"

        try:
            kept = KEPT.format("stretches of keyframes", "coded")
            self._run_tasks(todo, submit, finish, name, kept, limit, drain)
        finally:
            if not queue_lost:
                ticks.shutdown(force=True)

    def run(self, tasks: Iterable[GopTask], on_result: OnResult, log: Log, on_steps: OnSteps | None = None) -> None:
        """As LocalRunner.run; `on_steps` is not called: the steps of a GOP count when its result arrives."""
        ray = self._ray
        pending = iter(tasks)
        first = next(pending, None)
        if first is None:
            return
        remote = self._remote(train_on_worker, first.device)

        def submit(item: tuple[int, GopTask]) -> tuple[Any, tuple[int, int]]:
            position, task = item
            # the task's arrays go to the object store once; the worker reads them from there
            return remote.remote(ray.put(task)), (position, task.gop.index)

        def finish(key: tuple[int, int], result: GopResult) -> None:
            on_result(key[0], result)

        self._run_tasks(
            enumerate(itertools.chain([first], pending)),
            submit,
            finish,
            lambda key: f"GOP {key[1]}",
            KEPT.format("GOPs", "trained"),
            in_flight_limit(self.slots(first.device)),
        )


def ray_runner(address: str | None, quiet: bool) -> RayRunner | None:
    """--ray ADDRESS: GOPs train, and stretches of keyframes are coded, on that Ray cluster (Ray is
    imported only then); None without it."""
    if not address:
        return None
    runner = RayRunner(address)
    say(quiet, f"nrff: GOPs and keyframes on the Ray cluster at {address}: {runner.describe()}")
    return runner
