"""GOPs trained on a Ray cluster (`nrff encode --ray ADDRESS`): the encoder's Runner, on Ray tasks.

One Ray task per GOP asks for one CPU (one GPU when the encode trains on CUDA); its inputs go
through the object store (ray.put), so workers need no shared disk. A task whose worker process
or node dies is retried by Ray (MAX_RETRIES, bounded); the result is the same integers wherever
it runs, since every GOP is seeded by its index and trains on one thread. Results reach
`on_result` as they arrive (the work folder keeps them, the progress bar counts them), so a GOP
that fails every retry ends the encode with one error naming it, once the GOPs in flight are done
and kept.

Ray is imported here only, when --ray is given: a plain encode never loads it.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..encoder.progress import OnSteps
from ..encoder.runner import Log, OnResult, in_flight_limit, single_thread
from ..encoder.train import GopResult, GopTask, train_gop, train_with_fallback
from ..errors import InputError, ResourceError
from .exits import say

MAX_RETRIES = 3  # a GOP's task is run at most 1 + MAX_RETRIES times when its worker or node dies
# Test hook, for the fault tests only: "GOP:MARKER" makes the worker that first trains GOP `GOP`
# (while the file MARKER does not exist) create MARKER and kill itself, as a crash mid-GOP would;
# "GOP:always" kills every worker that trains it.
CRASH_ENV = "NRFF_TEST_CRASH_GOP"


InFlight = dict[Any, tuple[int, int]]  # Ray object ref -> (position in the task list, GOP index)
REACH_SECONDS = 10  # a head that does not accept a TCP connection in this long is taken as down
KEPT = "; with --workdir, the GOPs already trained are kept for the next run"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'nrff[ray]'") from None
    return ray


def check_reachable(address: str) -> None:
    """Refuse at once a HOST:PORT nothing listens on: ray.init would retry it for minutes."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return  # auto, local, or a form Ray itself will judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_SECONDS).close()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
        raise InputError(
            f"cannot reach the Ray cluster at {address!r} ({reason}): is `ray start --head` running there?"
        ) from None


def connect(address: str) -> Any:
    """Join the Ray cluster at `address` (`auto`, HOST:PORT, `ray://HOST:PORT`) or start one in this
    process (`local`); returns the ray module."""
    check_reachable(address)
    ray = _ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot join the Ray cluster at {address!r}: {_first_line(exc)}") from None
    return ray


def _crash_on_first_attempt(task: GopTask) -> None:
    hook = os.environ.get(CRASH_ENV)
    if not hook:
        return
    index, marker = hook.split(":", 1)
    if int(index) != task.gop.index:
        return
    if marker != "always":
        if Path(marker).exists():
            return
        Path(marker).write_text(str(os.getpid()))
    os._exit(1)  # a worker dying mid-GOP, without any cleanup


def train_on_worker(task: GopTask) -> GopResult:
    """One GOP on a Ray worker: one torch thread on a CPU, as LocalRunner's workers (same bytes)."""
    _crash_on_first_attempt(task)

    def log(text: str) -> None:
        print(text, file=sys.stderr)  # the worker's stderr: Ray keeps it in the node's logs

    if task.device == "cpu":
        with single_thread():
            return train_with_fallback(task, train_gop, log)
    return train_with_fallback(task, train_gop, log)


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

    def _remote(self, device: str) -> Any:
        env = {CRASH_ENV: os.environ[CRASH_ENV]} if os.environ.get(CRASH_ENV) else {}
        resources = {"num_cpus": 1} if device == "cpu" else {"num_cpus": 1, "num_gpus": self.gpu_fraction}
        return self._ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False, **resources)(train_on_worker).options(
            runtime_env={"env_vars": env} if env else None
        )

    def run(
        self, tasks: Iterable[GopTask], on_result: OnResult, log: Log, on_steps: OnSteps | None = None
    ) -> list[GopResult]:
        """As LocalRunner.run; `on_steps` is not called: the steps of a GOP count when its result arrives."""
        ray = self._ray
        pending = iter(tasks)
        first = next(pending, None)
        if first is None:
            return []
        remote = self._remote(first.device)
        limit = in_flight_limit(self.slots(first.device))
        in_flight: InFlight = {}
        results: dict[int, GopResult] = {}
        failures: list[ResourceError] = []
        try:
            for position, task in enumerate(itertools.chain([first], pending)):
                while len(in_flight) >= limit and not failures:
                    failures += self._collect(in_flight, results, on_result)
                if failures:
                    break  # submit no more; the GOPs in flight finish and are kept (on_result)
                # the task's arrays go to the object store once; the worker reads them from there
                in_flight[remote.remote(ray.put(task))] = (position, task.gop.index)
            while in_flight:
                failures += self._collect(in_flight, results, on_result)
        except BaseException:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        if failures:
            raise failures[0]
        return [results[position] for position in range(len(results))]

    def _collect(self, in_flight: InFlight, results: dict[int, GopResult], on_result: OnResult) -> list[ResourceError]:
        """Wait for at least one GOP; hand every finished one to on_result; return the failed ones' errors."""
        ray = self._ray
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        failures = []
        for ref in ready:
            position, index = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the training itself raised: the same on every retry
                failures.append(ResourceError(f"GOP {index} failed on the Ray cluster: {_first_line(exc.cause)}{KEPT}"))
                continue
            except ray.exceptions.RayError as exc:  # its worker or node died every time
                failures.append(
                    ResourceError(
                        f"GOP {index} failed on the Ray cluster after {MAX_RETRIES} retries ({_first_line(exc)}){KEPT}"
                    )
                )
                continue
            results[position] = result
            on_result(position, result)
        return failures


def ray_runner(address: str | None, quiet: bool) -> RayRunner | None:
    """--ray ADDRESS: GOPs train on that Ray cluster (Ray is imported only then); None without it."""
    if not address:
        return None
    runner = RayRunner(address)
    say(quiet, f"nrff: training on the Ray cluster at {address}: {runner.describe()}")
    return runner
