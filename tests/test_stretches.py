"""The keyframe chain in stretches (decision 0069), coded side by side in processes (0070)."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from nrffcodec import encode_video
from nrffcodec.app.workdir import Workdir, job_key
from nrffcodec.core.keyframes import KeyframeCoder
from nrffcodec.encoder.keyframes import chain_stretches, code_keyframes
from nrffcodec.encoder.plan import plan_encode
from nrffcodec.errors import ResourceError
from nrffcodec.media.stream import StreamedVideo
from nrffcodec.media.writer import write_video

from .clips import moving_texture
from .conftest import fast_settings

# quality 8's longest GOP is 8 frames: at GOP length 1 with --keyframe-period 1, intra every 8 frames
SETTINGS = fast_settings(quality=8, gop=1, keyframe_period=1)
CLIP = moving_texture(16, 16, 20, dx=1)  # stretches of 8, 8 and 4 frames


def test_the_chain_is_cut_at_each_intra_keyframe() -> None:
    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    assert plan.keyframe_period == 8
    stretches = [[g.index for g in stretch] for stretch in chain_stretches(plan)]
    assert stretches == [list(range(8)), list(range(8, 16)), list(range(16, 20))]


def test_stretches_coded_in_processes_make_the_same_file() -> None:
    counts: list[tuple[int, int]] = []

    def stage(name: str):
        return (lambda done, total, info: counts.append((done, total))) if name == "keyframes" else None

    alone = encode_video(CLIP, SETTINGS)[0]
    assert encode_video(CLIP, fast_settings(quality=8, gop=1, keyframe_period=1, jobs=3), stages=stage)[0] == alone
    assert sorted(set(counts)) == [(n, 20) for n in range(1, 21)]  # every picture counted, whoever coded it
    assert len(counts) == 20 + 3  # once each, and once as each stretch came back


def test_workers_read_a_file_themselves(tmp_path) -> None:
    path = tmp_path / "clip.mkv"
    write_video(path, CLIP)
    video = StreamedVideo(path)
    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    assert code_keyframes(video, plan, "fast", jobs=2) == code_keyframes(video, plan, "fast", jobs=1)


def test_a_workers_error_ends_the_encode_with_that_error(monkeypatch) -> None:
    original = KeyframeCoder.encode_sequence

    def failing(self, pictures, *args, **kwargs):
        pictures = list(pictures)
        if np.array_equal(pictures[0][0], CLIP.y[8]):  # the second stretch
            raise ValueError("the encoder refused a picture")
        return original(self, pictures, *args, **kwargs)

    monkeypatch.setattr(KeyframeCoder, "encode_sequence", failing)
    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    with pytest.raises(ValueError, match="the encoder refused a picture"):
        code_keyframes(CLIP, plan, "fast", jobs=2)
    assert not multiprocessing.active_children()


def test_a_worker_that_dies_is_an_error_not_a_hang(monkeypatch) -> None:
    def dying(self, pictures, *args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(KeyframeCoder, "encode_sequence", dying)
    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    with pytest.raises(ResourceError, match=r"process coding keyframes died \(exit code 3\).*smaller --jobs"):
        code_keyframes(CLIP, plan, "fast", jobs=2)
    assert not multiprocessing.active_children()


def test_processes_code_only_the_stretches_a_work_folder_lacks(tmp_path, monkeypatch) -> None:
    settings = fast_settings(quality=8, gop=1, keyframe_period=1, jobs=2)
    work, lines = tmp_path / "work", []

    def encode() -> bytes:
        store = Workdir(work, job_key(CLIP, settings, "cpu"), lines.append)
        return encode_video(CLIP, settings, log=lines.append, store=store)[0]

    reference = encode()
    for name in ("keyframes-00000008-00000016-8.nrw", "keyframes-00000016-00000020-4.nrw"):
        (work / name).unlink()
    coded = tmp_path / "coded.txt"  # the workers are other processes: they say what they coded in a file
    original = KeyframeCoder.encode_sequence

    def recording(self, pictures, *args, **kwargs):
        pictures = list(pictures)
        with coded.open("a") as out:
            out.write(f"{len(pictures)}\n")
        return original(self, pictures, *args, **kwargs)

    monkeypatch.setattr(KeyframeCoder, "encode_sequence", recording)
    assert encode() == reference
    assert sorted(coded.read_text().split()) == ["4", "8"]
    assert any("1 stretch of keyframes already coded" in line for line in lines)


def test_spawned_workers_code_the_same_stretches(tmp_path, monkeypatch) -> None:
    """Where this process has used CUDA, workers are spawned, not forked: they get the source by pickle."""
    import torch

    path = tmp_path / "clip.mkv"
    write_video(path, CLIP)
    video = StreamedVideo(path)
    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    forked = code_keyframes(video, plan, "fast", jobs=2)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert code_keyframes(video, plan, "fast", jobs=2) == forked


def test_an_interrupt_ends_the_workers() -> None:
    def interrupt(done: int, total: int, info: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    plan = plan_encode(20, 16, 16, SETTINGS, 1)
    with pytest.raises(KeyboardInterrupt):
        code_keyframes(CLIP, plan, "fast", progress=interrupt, jobs=2)
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(
    "explicit, cores, expected",
    [
        (None, 2, 1),  # one encoder's threads fill the machine: the chain stays in this process
        (None, 8, 1),
        (None, 32, 4),  # one process per 8 cores, SVT-AV1's threads for one encoder
        (3, 2, 3),  # --jobs wins
    ],
)
def test_default_chain_jobs(monkeypatch, explicit: int | None, cores: int, expected: int) -> None:
    from nrffcodec.core import keyframes
    from nrffcodec.encoder import stretch_workers

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(keyframes, "KEYFRAME_THREADS", min(8, cores))
    assert stretch_workers.default_chain_jobs(explicit) == expected


@pytest.mark.parametrize(
    "workers, available, expected",
    [
        (4, None, 4),  # where the system cannot say, as asked
        (4, 100 << 30, 4),
        (4, 2_500_000_000, 3),  # about 0.73 GB an encoder at 1080p
        (4, 100 << 20, 1),  # never fewer than one: the chain is then coded in this process
    ],
)
def test_no_more_chain_processes_than_memory_holds(workers: int, available: int | None, expected: int) -> None:
    from nrffcodec.encoder.stretch_workers import workers_that_fit

    assert workers_that_fit(workers, 1080, 1920, available) == expected


class ReversedRemote:
    """A StretchRunner as a cluster would be: each stretch coded from its pictures alone, in any order."""

    def __init__(self) -> None:
        self.coded: list[int] = []

    def run(self, tasks, on_result, log, on_steps=None):  # a Runner: the GOP-1 encode trains nothing
        assert not list(tasks)
        return []

    def code_stretches(self, video, todo, code, keep, on_picture) -> None:
        from nrffcodec.encoder.stretch_workers import stretch_pictures

        reader = video.reader()
        parts = [(index, stretch, stretch_pictures(reader, stretch)) for index, stretch in todo]
        for index, stretch, pictures in reversed(parts):
            keep(index, code(pictures, stretch=stretch, on_picture=lambda: None))
            self.coded.append(index)
            for _ in stretch:
                on_picture()


def test_a_runner_that_codes_stretches_elsewhere_makes_the_same_file() -> None:
    remote = ReversedRemote()
    assert encode_video(CLIP, SETTINGS, runner=remote)[0] == encode_video(CLIP, SETTINGS)[0]
    assert remote.coded == [2, 1, 0]


def test_a_stretchs_pictures_serve_only_its_keyframes() -> None:
    from nrffcodec.encoder.stretch_workers import stretch_pictures

    plan = plan_encode(20, 16, 16, fast_settings(quality=8, gop=2, keyframe_period=2), 2)
    stretch = chain_stretches(plan)[1]  # GOPs 2 and 3, keyframes at two of frames 4-7
    pictures = stretch_pictures(CLIP, stretch)
    assert pictures.keys == tuple(g.key for g in stretch) and pictures.pictures.y.shape == (2, 16, 16)
    for gop in stretch:
        assert np.array_equal(pictures.frames(gop.key, gop.key + 1).y[0], CLIP.y[gop.key])
    with pytest.raises(ValueError):
        pictures.frames(stretch[0].key + 1, stretch[0].key + 2)


@pytest.mark.parametrize(
    "cluster_cpus, node_cpus, stretches, expected",
    [
        (2, 1, 3, 1),  # fewer CPUs than stretches: one each
        (2, 2, 1, 2),  # one stretch on a 2-CPU node: both
        (1000, 64, 30, 8),  # a film's 30 stretches on a large cluster: as many as one encoder takes
        (64, 4, 2, 4),  # never more than the largest node has
    ],
)
def test_stretch_tasks_take_the_cpus_the_cluster_has_to_spare(
    cluster_cpus: int, node_cpus: int, stretches: int, expected: int
) -> None:
    from nrffcodec.app.cluster import stretch_threads  # Ray is imported only when a cluster is joined

    assert stretch_threads(cluster_cpus, node_cpus, stretches) == expected
