"""Scheduling benchmark: what an encode leaves to the rest of the machine, and how often it reports.

SVT-AV1, run as root, makes the thread that opens an encoder real-time (SCHED_FIFO 99), and nrff
forks its training workers from that thread (docs/decisions/0056). This measures the effect:

- a bystander, a counting loop in its own process at ordinary priority, runs alone, then beside
  `nrff encode` of the shipped sample (--gop 8, --jobs = the cores, so that every core trains);
  its count per second beside the encode over alone is the share of the machine the encode left;
- the encode's own process records when its progress callback ran and what scheduling its worker
  processes had; the longest gap between two progress calls while they trained is reported.

Run it on another checkout to compare (`--repo PATH` imports that checkout's nrffcodec):

    python benchmarks/scheduling.py
    python benchmarks/scheduling.py --repo /tmp/before
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICIES = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE"}

# Runs in the encoding process: the encode, its progress calls' times, its workers' policies.
ENCODER = r"""
import json, multiprocessing, os, sys, threading, time
import nrffcodec
from nrffcodec.settings import EncodeSettings
source, target, frames, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
calls, seen, done = [], set(), threading.Event()

def progress(count, total, text):
    calls.append((time.monotonic(), count, total))

def sample():
    while not done.wait(0.2):
        for child in multiprocessing.active_children():
            try:
                seen.add((os.sched_getscheduler(child.pid), os.sched_getparam(child.pid).sched_priority))
            except OSError:
                pass

threading.Thread(target=sample, daemon=True).start()
settings = EncodeSettings(gop=8, frames=(0, frames), jobs=jobs)
started = time.monotonic()
nrffcodec.encode(source, target, settings, progress=progress, log=lambda text: None)
done.set()
training = [t for t, count, total in calls if 0 < count < total]
gaps = [b - a for a, b in zip(training, training[1:])]
print(json.dumps({
    "nrffcodec": os.path.dirname(nrffcodec.__file__),
    "seconds": time.monotonic() - started,
    "progress_calls": len(training),
    "longest_gap_s": max(gaps, default=None),
    "worker_scheduling": sorted(seen),
}))
"""


def count(ready: Event, stop: Event, out: multiprocessing.queues.Queue) -> None:
    """The bystander: says it runs, counts until told to stop, then reports (count, seconds)."""
    ready.set()
    started, n = time.monotonic(), 0
    while not stop.is_set():
        for _ in range(10_000):
            n += 1
    out.put((n, time.monotonic() - started))


def bystander_rate(seconds: float, beside: list[str] | None = None, env: dict | None = None) -> tuple[float, str]:
    """The bystander's counts per second: alone for `seconds`, or beside the command `beside` (and its stdout)."""
    context = multiprocessing.get_context("spawn")
    ready, stop, out = context.Event(), context.Event(), context.Queue()
    process = context.Process(target=count, args=(ready, stop, out))
    process.start()
    ready.wait()  # a spawned process takes a while to start: time only its counting
    stdout = ""
    if beside is None:
        time.sleep(seconds)
    else:
        stdout = subprocess.run(beside, check=True, capture_output=True, text=True, env=env).stdout
    stop.set()
    n, elapsed = out.get()
    process.join()
    return n / elapsed, stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout whose nrffcodec encodes (default: this one)")
    sample = REPO / "samples" / "carphone.mp4"
    parser.add_argument("--clip", type=Path, default=sample, help="input (default: the shipped sample)")
    parser.add_argument("--frames", type=int, default=17, help="frames encoded (default %(default)s)")
    parser.add_argument("--out", type=Path, help="keep the encode's output here (default: a temporary file)")
    args = parser.parse_args()
    jobs = os.cpu_count() or 1
    env = dict(os.environ, PYTHONPATH=str(args.repo.resolve()))
    alone, _ = bystander_rate(5.0)
    with tempfile.TemporaryDirectory() as scratch:
        target = args.out or Path(scratch) / "scheduling.nrf"
        command = [sys.executable, "-c", ENCODER, str(args.clip), str(target), str(args.frames), str(jobs)]
        beside, stdout = bystander_rate(0.0, command, env)
    report = json.loads(stdout.strip().splitlines()[-1])
    report["worker_scheduling"] = [f"{POLICIES.get(p, p)} {prio}" for p, prio in report["worker_scheduling"]]
    report.update(
        jobs=jobs,
        bystander_share=round(beside / alone, 3),
        scheduling_here=POLICIES.get(os.sched_getscheduler(0)),
        root=os.geteuid() == 0,
    )
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
