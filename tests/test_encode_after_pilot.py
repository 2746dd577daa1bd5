"""What the encode does after the pilot: the floor check on the trained and decoded window, and the
pilot's work it reuses (its floor keyframes; the full score only the pilot needs)."""

from __future__ import annotations

import dataclasses
import math

import pytest

import nrffcodec.encoder.runner
from bitstream import Keyframe, NrfFile, encoded_networks_size
from nrffcodec import EncodeSettings
from nrffcodec.app.workdir import Workdir, job_key
from nrffcodec.core.gop import plan_gops
from nrffcodec.encoder import pipeline
from nrffcodec.encoder.floor_check import FloorCheck, check_against_floor, trained_measure, window_gops
from nrffcodec.encoder.gop_length import PILOT_WINDOW, PilotChoice
from nrffcodec.encoder.keyframes import CodedKeyframes, code_keyframes
from nrffcodec.encoder.pilot_measure import GOP_FRAMING_BYTES, PilotMeasure, above_floor_curve
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.encoder.plan import plan_encode
from nrffcodec.encoder.train import GopResult, GopTask, train_gop
from nrffcodec.media.reader import read_video

from .conftest import FAST
from .pilot_tools import PIXELS, measure


def trained(gops) -> dict[int, GopResult]:
    """Results without weights (their coded size is the empty networks'), scored 99 dB in training:
    the check must go by the decoded frames, not by that."""
    return {g.index: GopResult(g.index, [], [], 0.0, 99.0) for g in gops}


def decoded(gops, psnrs: dict[int, float]) -> list[float]:
    """Each frame's decoded PSNR-RGB: its GOP's from `psnrs` (keyframes too; the check reads predicted frames only)."""
    return [psnrs[g.index] for g in gops for _ in range(g.count)]


def coded(gops, sizes: dict[int, int] | None = None) -> CodedKeyframes:
    """A keyframe chain for `gops`: one 2-byte parameter set, then each GOP's keyframe of `sizes` bytes (10)."""
    sizes = sizes or {}
    return CodedKeyframes((b"ps",), tuple(Keyframe([0], [bytes(sizes.get(g.index, 10))]) for g in gops))


def test_trained_fields_are_measured_over_every_gop_of_the_pilot_window_as_coded_and_decoded() -> None:
    chosen = measure(8, 32, key_bytes=1500, key_mse=20.0, net_bytes=600, net_mse=30.0)
    choice = PilotChoice(8, chosen, (measure(1, 32, 4000, 40.0, 0, 0.0),) * 2, 1.0, PIXELS)
    gops = plan_gops(48, 8)  # the encode's plan: the window's four GOPs and two beyond it
    window = window_gops(choice, gops)
    assert [g.index for g in window] == [0, 1, 2, 3]
    frames = decoded(gops, {0: 30.0, 1: 30.0, 2: 40.0, 3: 40.0, 4: 10.0, 5: 10.0})
    keys = coded(gops, {0: 100, 4: 999})
    got = trained_measure(chosen, window, keys, trained(gops), frames, PIXELS)
    mse = [255.0**2 * 10 ** (-p / 10) for p in (30.0, 30.0, 40.0, 40.0)]
    assert got.network_mse == pytest.approx(sum(mse) / 4)  # GOPs 4 and 5 lie beyond the window
    assert got.network_bytes == encoded_networks_size([[], []])
    assert got.keyframe_bytes == 2 + 100 + 3 * 10  # the encode's keyframes of the window and its parameter set
    assert got.keyframe_sse == pytest.approx(sum(mse) * PIXELS)  # one keyframe a GOP, as decoded
    assert trained_measure(chosen, window, keys, trained(gops[:3]), frames, PIXELS) is None  # GOP 3 untrained
    # a longer clip cut otherwise (42 frames: GOPs of 9 and 8): the GOPs inside the window, or the first
    assert [(g.first, g.count) for g in window_gops(choice, plan_gops(42, 8))] == [(0, 9), (9, 9), (18, 8)]
    assert [g.index for g in window_gops(choice, plan_gops(100, 48))] == [0]
    assert window_gops(PilotChoice(8), gops) == []
    assert window_gops(dataclasses.replace(choice, gop_length=1), gops) == []


def test_fields_that_decode_below_the_floor_fail_the_check() -> None:
    floor = measure(1, 32, 4000, 40.0, 0, 0.0)
    cheaper_floor = measure(1, 32, 2000, 80.0, 0, 0.0)
    chosen = measure(32, 32, 1000, 30.0, 200, 30.0)  # the pilot's estimate: far above the floor's curve
    choice = PilotChoice(32, chosen, (floor, cheaper_floor), 1.0, PIXELS)
    assert above_floor_curve(chosen, floor, cheaper_floor, PIXELS)
    gops = plan_gops(32, 32)
    keys = coded(gops, {0: 1000 - 2})
    psnr_33 = decoded(gops, {0: 33.0})  # MSE 32.6: as estimated
    held = check_against_floor(choice, gops, keys, trained(gops), psnr_33)
    assert isinstance(held, FloorCheck) and held.holds and held.floor is floor
    short = check_against_floor(choice, gops, keys, trained(gops), decoded(gops, {0: 20.0}))  # MSE 650
    assert short is not None and not short.holds and short.fields.network_mse > 600
    # a longer clip cut otherwise: its window (one GOP of 17 frames) and the pilot's (32) compared per frame,
    # here at the floor's rate a frame: just above the floor's quality holds, just below does not
    chosen16 = measure(16, 32, 1000, 30.0, 200, 30.0)
    per_frame_floor = PilotChoice(16, chosen16, (floor, cheaper_floor), 1.0, PIXELS)
    gops17 = plan_gops(51, 16)
    record = int(floor.bits()) // 8 * 17 // 32 - GOP_FRAMING_BYTES - 2 - encoded_networks_size([[], []])
    keys17 = coded(gops17, {0: record})
    for mse, holds in ((39.0, True), (41.0, False)):
        psnrs = decoded(gops17, {i: 10 * math.log10(255.0**2 / mse) for i in range(3)})
        check = check_against_floor(per_frame_floor, gops17, keys17, trained(gops17), psnrs)
        assert check is not None and check.holds == holds and len(check.fields.gops) == 1
    # nothing to check: no pilot (--gop), the pilot chose the floor itself, no GOP of the window trained
    low = decoded(gops, {0: 20.0})
    assert check_against_floor(PilotChoice(32), gops, keys, trained(gops), low) is None
    assert check_against_floor(dataclasses.replace(choice, gop_length=1), gops, keys, {}, low) is None
    assert check_against_floor(choice, gops, keys, {}, low) is None


@pytest.mark.parametrize("window", [PILOT_WINDOW, 6], ids=["clip in the window", "clip past the window"])
@pytest.mark.parametrize("floor_bytes, floor_mse, kept", [(10**6, 1e4, True), (10, 1e-3, False)])
def test_the_encoder_holds_the_trained_fields_to_the_floor(
    clip_path, tmp_path, monkeypatch, floor_bytes: int, floor_mse: float, kept: bool, window: int
) -> None:
    """Against a floor no fields could match the encode drops its trained fields and codes every frame
    as a keyframe; against a hopeless one it keeps them. Where the clip runs past the pilot window,
    the window's GOPs train first and are held to the floor before the rest train."""
    video = read_video(clip_path)
    settings = EncodeSettings(**{**FAST, "gop": None, "iterations": 40})
    window, pixels = min(video.frame_count, window), video.width * video.height
    floors = tuple(  # twice the bytes for half the error
        PilotMeasure(1, plan_gops(window, 1), floor_bytes * k, floor_mse / k * pixels * window, 0, 0.0) for k in (1, 2)
    )
    chosen = PilotMeasure(6, plan_gops(window, 6), 2000, 10.0 * pixels * window, 100, 10.0)
    choice = PilotChoice(6, chosen, floors, settings.rd_lambda, pixels)
    monkeypatch.setattr(pipeline, "choose_gop_length", lambda *args: choice)
    batches: list[list[int]] = []  # the GOPs of each training batch

    def train_fields(tasks, sizes, runner, steps, log, on_result, later=0):
        batch: list[int] = []

        def keep(result):
            batch.append(result.index)
            on_result(result)

        real_train_fields(tasks, sizes, runner, steps, log, keep, later)
        batches.extend([sorted(batch)] if batch else [])

    real_train_fields = pipeline.train_fields
    monkeypatch.setattr(pipeline, "train_fields", train_fields)
    lines: list[str] = []
    counts: list[tuple[int, int]] = []
    store = Workdir(tmp_path / "work", job_key(video, settings, "cpu"), lines.append)

    def count(done: int, total: int, _: str) -> None:
        counts.append((done, total))

    data, report = encode_video(video, settings, count, lines.append, store)
    assert counts[-1][0] == counts[-1][1] > 0  # the progress count ends complete, the rest trained or not
    index = NrfFile(data).index
    assert len([line for line in lines if "decoded fields on the pilot window" in line]) == 1
    early = window < video.frame_count
    assert any(f"decoding frames 0-{window - 1} to measure them" in line for line in lines) == early
    if kept:
        assert report.gop_length == 6 and report.network_bytes > 0
        assert any("decoded fields on the pilot window" in line and line.endswith(": kept") for line in lines)
        assert [e.frame_count for e in index] == [g.count for g in plan_gops(video.frame_count, 6)]
        assert batches == ([[0], [1]] if early else [[0, 1]])
    else:
        assert report.gop_length == 1 and report.network_bytes == 0
        assert [e.frame_count for e in index] == [1] * video.frame_count
        assert any("no better than the keyframe codec alone" in line for line in lines)
        assert batches == ([[0]] if early else [[0, 1]])  # past the window, nothing more is trained
        # resumed (--workdir): the window's GOP comes from the store, and it is checked again before anything trains
        batches.clear()
        again = encode_video(video, settings, log=lines.append, store=store)[0]
        assert again == data and batches == []


def test_only_the_pilot_scores_every_block_and_the_score_leaves_the_networks_alone(clip_path, monkeypatch) -> None:
    """The pilot prices a length by its GOP's score on every block; an encode's GOPs are measured on the
    decoded file, so they keep the validation sample's score and skip that pass. Either way the
    networks are the same."""
    video = read_video(clip_path)
    tasks: list[GopTask] = []

    def recording(task: GopTask, *args, **kwargs) -> GopResult:
        tasks.append(task)
        return train_gop(task, *args, **kwargs)

    monkeypatch.setattr(nrffcodec.encoder.runner, "train_gop", recording)
    encode_video(video, EncodeSettings(**{**FAST, "gop": None, "iterations": 40}))  # the pilot trains at 10
    pilot = [t for t in tasks if t.schedule.fixed_steps == 10]
    assert pilot and all(t.score_every_block for t in pilot)
    tasks.clear()
    encode_video(video, EncodeSettings(**{**FAST, "gop": 6, "iterations": 40}))  # no pilot: two GOPs
    assert len(tasks) == 2 and not any(t.score_every_block for t in tasks)
    task = dataclasses.replace(pilot[0], give_up=None)  # trained to the end whatever it reaches
    sampled, full = train_gop(dataclasses.replace(task, score_every_block=False)), train_gop(task)
    symbols = [[t.symbols.tolist() for t in r.flow + r.residual] for r in (sampled, full)]
    assert symbols[0] == symbols[1] and sampled.train_psnr != full.train_psnr


def test_the_pilots_floor_keyframes_serve_an_encode_of_the_same_plan() -> None:
    floor = measure(1, 12, 4000, 40.0, 0, 0.0)
    coded_floor = coded(floor.gops)
    choice = PilotChoice(1, floor, (floor, floor), 1.0, PIXELS, coded_floor)
    settings = EncodeSettings(**FAST)
    assert choice.keyframes_for(plan_encode(12, 10, 10, settings, 1)) is coded_floor
    assert choice.keyframes_for(plan_encode(13, 10, 10, settings, 1)) is None  # a longer clip: other GOPs
    assert choice.keyframes_for(plan_encode(12, 10, 10, settings, 6)) is None
    assert dataclasses.replace(choice, floor_keyframes=None).keyframes_for(plan_encode(12, 10, 10, settings, 1)) is None


def test_an_encode_at_the_pilots_floor_codes_no_keyframes_again(clip_path, monkeypatch) -> None:
    """Where the pilot chooses GOP length 1 for a clip no longer than its window, the file holds the
    keyframes the pilot coded: the same bytes as coding them again."""
    video = read_video(clip_path)
    settings = EncodeSettings(**{**FAST, "gop": None, "iterations": 8, "quality": 8})
    calls: list[int] = []

    def counting(*args, **kwargs):
        calls.append(1)
        return code_keyframes(*args, **kwargs)

    monkeypatch.setattr(pipeline, "code_keyframes", counting)
    data, report = encode_video(video, settings)
    assert report.gop_length == 1 and calls == []
    monkeypatch.setattr(PilotChoice, "keyframes_for", lambda self, plan: None)
    assert encode_video(video, settings)[0] == data and calls == [1]
