"""Progress that a user can trust: one count of training steps, pilot included, from every runner path."""

from __future__ import annotations

import dataclasses
import io

import pytest

from nrffcodec import EncodeSettings
from nrffcodec.app.progress import Bar, LineProgress
from nrffcodec.core.gop import plan_gops
from nrffcodec.core.units import duration
from nrffcodec.encoder.pipeline import encode_video, gop_task
from nrffcodec.encoder.plan import plan_encode
from nrffcodec.encoder.progress import StepCount, plan_steps
from nrffcodec.encoder.runner import LocalRunner, single_thread
from nrffcodec.encoder.train import GopResult, schedule_for, task_steps, train_gop

from .clips import moving_texture

SETTINGS = EncodeSettings(preset="fast", iterations=40, quality=1, gop=3, device="cpu", jobs=1)


def _tasks(frames: int = 9) -> list:
    video = moving_texture(16, 16, frames, dx=1)
    plan = plan_encode(video.frame_count, video.height, video.width, SETTINGS, 3)
    keys = {g.index: (video.y[g.key], video.u[g.key], video.v[g.key]) for g in plan.gops}  # stand-in references
    schedule = schedule_for("fast", "cpu", SETTINGS.iterations)
    return [gop_task(video, plan, g, keys, schedule, SETTINGS, "cpu") for g in plan.gops if g.predicted]


def test_step_reports_change_nothing_in_the_result(monkeypatch) -> None:
    monkeypatch.setattr("nrffcodec.encoder.progress.REPORT_SECONDS", 0.0)  # report after every step
    task = _tasks()[0]
    heard: list[int] = []
    with single_thread():  # as the runner trains a CPU GOP
        reported = train_gop(task, on_steps=heard.append)
        silent = train_gop(task)
    assert sum(heard) == task_steps(task) and len(heard) == task_steps(task)
    assert [t.symbols.tobytes() + t.steps.tobytes() for t in reported.flow + reported.residual] == [
        t.symbols.tobytes() + t.steps.tobytes() for t in silent.flow + silent.residual
    ]


def test_the_plan_estimate_is_the_tasks_exact_steps() -> None:
    tasks = _tasks()
    schedule = schedule_for("fast", "cpu", SETTINGS.iterations)
    assert plan_steps(plan_gops(9, 3), schedule, 16 * 16) == sum(task_steps(t) for t in tasks)


def test_reports_count_up_to_the_result_and_late_ones_change_nothing() -> None:
    seen: list[tuple[int, int, str]] = []
    count = StepCount(lambda done, total, info: seen.append((done, total, info)))
    tasks = _tasks()
    size = task_steps(tasks[0])
    count.begin([size, size], "pilot", later=1000)
    assert seen[-1] == (0, 2 * size + 1000, "pilot")
    count.steps(0, size + 50)  # more than the task has: capped one short of its size
    assert seen[-1][0] == size - 1
    count.finished(0, "pilot: GOP 3")
    count.steps(0, 7)  # arrives after the result: nothing changes
    count.finished(1, "pilot: GOP 2")
    assert seen[-1] == (2 * size, 2 * size + 1000, "pilot: GOP 2")
    count.expect(10)  # the pilot chose a cheaper length: redrawn at once
    assert seen[-1] == (2 * size, 2 * size + 10, "pilot: GOP 2")
    count.begin([task_steps(t) for t in tasks], "training")
    assert seen[-1] == (2 * size, 2 * size + sum(task_steps(t) for t in tasks), "training")
    for position in range(len(tasks)):
        count.finished(position, f"GOP {position}")
    assert seen[-1][0] == seen[-1][1] and [d for d, *_ in seen] == sorted(d for d, *_ in seen)


def test_a_pilot_that_chooses_gop_1_ends_the_count_at_its_total() -> None:
    """GOP length 1 trains nothing after the pilot: the bar must reach its end there, not stop short."""
    seen: list[tuple[int, int, str]] = []
    count = StepCount(lambda done, total, info: seen.append((done, total, info)))
    count.begin([40], "pilot: GOP 8", later=500)
    count.finished(0, "pilot: GOP 8: 30.00 dB train")
    count.expect(0)  # the encode at GOP 1: nothing to train
    assert seen[-1][:2] == (40, 40)


def test_after_training_the_keyframe_chain_and_the_verifying_decode_count_too() -> None:
    """At GOP length 1 (what the pilot chooses on most clips) nothing trains, and the chain and the
    decode that measures the file are the whole encode: each has its own count to its end."""
    video = moving_texture(16, 16, 12, dx=1)
    counts: dict[str, list[tuple[int, int]]] = {}

    def stage(name: str):
        return lambda done, total, info: counts.setdefault(name, []).append((done, total))

    steps: list[tuple[int, int, str]] = []
    data, report = encode_video(video, dataclasses.replace(SETTINGS, gop=1), lambda *c: steps.append(c), stages=stage)
    assert report.gop_length == 1 and steps == []  # no pilot (--gop), nothing to train
    assert sorted(counts) == ["keyframes", "verifying"]
    assert list(dict.fromkeys(counts["keyframes"])) == [(n, 12) for n in range(1, 13)]  # every frame is a keyframe
    assert counts["verifying"][-1] == (12, 12) and [d for d, _ in counts["verifying"]] == list(range(1, 13))
    # the same bytes with no one counting
    assert encode_video(video, dataclasses.replace(SETTINGS, gop=1))[0] == data


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_runner_path_reports_the_steps_of_every_task(jobs: int, monkeypatch) -> None:
    monkeypatch.setattr("nrffcodec.encoder.progress.REPORT_SECONDS", 0.0)
    tasks = _tasks()
    heard = [0] * len(tasks)

    def on_steps(position: int, steps: int) -> None:
        heard[position] += steps

    results: list[GopResult] = []
    LocalRunner(jobs).run(tasks, lambda position, result: results.append(result), lambda text: None, on_steps)
    assert heard == [task_steps(t) for t in tasks] and len(results) == len(tasks)


def test_a_one_gop_encode_moves_with_an_eta_and_ends_at_its_total() -> None:
    """The count is in steps, so a clip of one GOP moves (and has an ETA) before the GOP is done."""
    video = moving_texture(16, 16, 6, dx=1)
    seen: list[tuple[int, int, str]] = []
    settings = dataclasses.replace(SETTINGS, gop=6)
    encode_video(video, settings, lambda *call: seen.append(call))
    done = [d for d, *_ in seen]
    assert len(set(done)) > 2 and 0 < done[1] < seen[-1][1]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1]


def test_the_bar_keeps_its_count_when_the_total_changes_and_prints_once(monkeypatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = Bar(quiet=False, desc="training", terminal=True)
    bar(0, 100, "pilot: GOP 32 and 16")
    bar(40, 100, "pilot: GOP 16: 30.00 dB train")
    bar.log("pilot chose GOP 16")
    bar(40, 180, "training")  # the encode's exact steps: the count goes on
    assert (bar._bar.total, bar._bar.n, bar._bar.postfix) == (180, 40, "training")
    bar(180, 180, "GOP 0: 31.00 dB train")
    bar(180, 180, "GOP 0: 31.00 dB train")  # a repeated final report draws no second bar
    bar.close()
    text = err.getvalue()
    assert "nrff: pilot chose GOP 16\n" in text and text.count("180/180") == 1


def test_without_a_terminal_progress_is_a_plain_line_now_and_then(monkeypatch) -> None:
    """A log file gets a line per interval and one at the end, no carriage returns, and log lines
    between them."""
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    now = [0.0]
    lines = LineProgress("training", "step", 100, interval=30.0, clock=lambda: now[0])
    monkeypatch.setattr("nrffcodec.app.progress.LineProgress", lambda *args: lines)
    bar = Bar(quiet=False, desc="training")  # stderr is a StringIO: not a terminal
    bar(0, 100, "pilot: GOP 32 and 16")
    now[0] = 10.0
    bar(20, 100, "pilot: GOP 32 and 16")  # within the interval: nothing
    now[0] = 40.0
    bar(25, 100, "pilot: GOP 16: 30.00 dB train")
    bar.log("pilot chose GOP 16")
    now[0] = 75.0
    bar(50, 200, "training")  # the total changed: the ETA follows it
    now[0] = 200.0
    bar(200, 200, "GOP 3: 31.00 dB train")
    assert err.getvalue().splitlines() == [
        "training: 25/100 steps (25%), 40 s, ETA 2 min 00 s: pilot: GOP 16: 30.00 dB train",
        "nrff: pilot chose GOP 16",
        "training: 50/200 steps (25%), 1 min 15 s, ETA 3 min 45 s: training",
        "training: 200/200 steps in 3 min 20 s",
    ]
    assert "\r" not in err.getvalue()


def test_an_unfinished_count_prints_nothing_at_close(monkeypatch) -> None:
    """An error's one line stays alone: a count stopped short says nothing more."""
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = Bar(quiet=False, desc="keyframes", unit="frame", terminal=False)
    bar(3, 10, "")
    bar.close()
    assert err.getvalue() == ""


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (45, "45 s"), (220, "3 min 40 s"), (7500, "2 h 05 min")])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text
