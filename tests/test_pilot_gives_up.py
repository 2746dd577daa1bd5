"""The pilot stops training a GOP length that can no longer reach the floor's curve (decision 0084)."""

from __future__ import annotations

import dataclasses
import math

import pytest

import nrffcodec.encoder.runner
from nrffcodec import EncodeSettings
from nrffcodec.core.quality import mse_of
from nrffcodec.encoder.gop_length import per_frame
from nrffcodec.encoder.pilot_measure import GiveUp, above_floor_curve, give_up_for
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.train import GopResult, GopTask, task_steps, train_gop
from nrffcodec.media.reader import read_video

from .pilot_tools import PIXELS, measure

FAST = {"quality": 2, "preset": "fast", "device": "cpu", "jobs": 1}
FLOOR, CHEAPER_FLOOR = measure(1, 32, 4000, 40.0, 0, 0.0), measure(1, 32, 2000, 80.0, 0, 0.0)


def give_up(keyframes_only, other_floor=CHEAPER_FLOOR, share: float = 1.0) -> GiveUp | None:
    return give_up_for(keyframes_only, FLOOR, other_floor, PIXELS, ((0.5, 4.0),), share)


def test_the_least_psnr_puts_the_length_on_the_floors_curve_at_its_networks_bytes() -> None:
    keyframes_only = measure(16, 32, 900, 30.0, 0, 0.0)
    bar = give_up(keyframes_only)
    for network_bytes in (0, 20, 60):
        least = bar.least_psnr(network_bytes)
        assert math.isfinite(least)
        length = dataclasses.replace(keyframes_only, network_bytes=network_bytes)
        at = dataclasses.replace(length, network_mse=mse_of(least) * 0.999)
        below = dataclasses.replace(length, network_mse=mse_of(least - 0.01))
        assert above_floor_curve(at, FLOOR, CHEAPER_FLOOR, PIXELS)
        assert not above_floor_curve(below, FLOOR, CHEAPER_FLOOR, PIXELS)
        assert not above_floor_curve(dataclasses.replace(at, given_up=True), FLOOR, CHEAPER_FLOOR, PIXELS)
    assert bar.least_psnr(0) < bar.least_psnr(20) < bar.least_psnr(60)  # bytes raise the bar
    assert give_up(keyframes_only, share=0.5).least_psnr(60) == bar.least_psnr(30)
    assert bar.stop_steps(10) == {4: 4.0} and bar.stop_steps(1) == {0: 4.0}
    two = dataclasses.replace(bar, points=((0.5, 4.7), (0.8, 2.5)))
    assert two.stop_steps(100) == {49: 4.7, 79: 2.5} and two.stop_steps(1) == {0: 4.7}


def test_no_stop_where_the_curve_does_not_rise_and_none_reachable_where_keyframes_alone_fall_below() -> None:
    keyframes_only = measure(16, 32, 900, 30.0, 0, 0.0)
    flat = measure(1, 32, 2000, 40.0, 0, 0.0)  # the cheaper point as good: no slope to bound with
    assert give_up(keyframes_only, flat) is None
    assert give_up(measure(1, 32, 900, 30.0, 0, 0.0)) is None  # nothing to predict, nothing to train
    blurred = measure(16, 32, 900, 50_000.0, 0, 0.0)  # its keyframes' error alone exceeds the curve's
    assert give_up(blurred).least_psnr(0) == math.inf


def pilot_task(clip_path) -> GopTask:
    tasks: list[GopTask] = []
    original = nrffcodec.encoder.runner.train_gop

    def recording(task: GopTask, *args, **kwargs) -> GopResult:
        tasks.append(task)
        return original(task, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nrffcodec.encoder.runner, "train_gop", recording)
        encode_video(read_video(clip_path), EncodeSettings(**{**FAST, "gop": None, "iterations": 80}))
    return dataclasses.replace(tasks[0], give_up=None)


def test_a_stop_that_is_not_taken_changes_nothing_and_one_taken_stops_early(clip_path) -> None:
    task = pilot_task(clip_path)
    plain = train_gop(task)
    anything = GiveUp(measure(8, 8, 1, 1.0, 0, 0.0), (0.0, -100.0, 1e-6), PIXELS, ((0.5, 4.0), (0.8, 1.5)), 1.0)
    passed = train_gop(dataclasses.replace(task, give_up=anything))  # any PSNR is enough
    assert [t.symbols.tolist() for t in passed.flow + passed.residual] == [
        t.symbols.tolist() for t in plain.flow + plain.residual
    ]
    assert passed.train_psnr == plain.train_psnr and not passed.given_up
    counted: list[int] = []
    blurred = give_up(measure(8, 8, 100, 50_000.0, 0, 0.0))  # nothing the networks do can reach the curve
    stopped = train_gop(dataclasses.replace(task, give_up=blurred), counted.append)
    assert stopped.given_up and stopped.flow == stopped.residual == []
    float_steps = task.schedule.steps(len(task.gop.predicted), task.targets[0].shape[1] * task.targets[0].shape[2])[0]
    assert sum(counted) == math.ceil(float_steps * 0.5) < task_steps(task)
    assert stopped.stopped_after == pytest.approx(0.5, abs=1 / float_steps) and math.isinf(stopped.needed_psnr)


def test_a_stopped_length_says_how_far_short_it_stopped() -> None:
    gave_up = dataclasses.replace(
        measure(8, 8, 1000, 20.0, 0, mse_of(25.0)), given_up=True, stopped_after=0.5, needed_psnr=31.25
    )
    assert (
        per_frame(gave_up, PIXELS) == "GOP 8: stopped after 50% of its steps at 25.00 dB, where the curve asks 31.25 dB"
    )
    hopeless = dataclasses.replace(gave_up, stopped_after=0.8, needed_psnr=math.inf)
    assert per_frame(hopeless, PIXELS).endswith("after 80% of its steps: its keyframes alone lie below the curve")
