"""Resources: clear errors before work starts (unwritable folder, full disk, too little memory) and
CUDA out-of-memory handling, checked with a mocked OOM (no GPU needed)."""

from __future__ import annotations

import dataclasses
import sys
from collections import namedtuple

import pytest
import torch

import nrffcodec.core.render
import nrffcodec.decoder
import nrffcodec.encoder.runner
import nrffcodec.media.files
from bitstream import BitstreamError, NrfFile
from nrffcodec.core.gop import Gop
from nrffcodec.core.keyframes import KeyframeCoder
from nrffcodec.decoder import check_decode_memory
from nrffcodec.encoder.train import GopResult, GopTask, train_with_fallback
from nrffcodec.errors import ResourceError
from nrffcodec.settings import PRESETS, QuantConfig

from .cli_tools import one_line_error, run

ENCODE_FAST = ["--preset", "fast", "--iterations", "5", "--gop", "6", "--device", "cpu", "--jobs", "1", "-q"]
Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if any training or decoding starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("work started before the resource check")

    monkeypatch.setattr(nrffcodec.encoder.runner, "train_gop", refuse)
    monkeypatch.setattr(KeyframeCoder, "decode_stream", refuse)


# ---------------------------------------------------------------- disk


def test_a_full_disk_is_refused_before_encoding(clip_path, tmp_path, monkeypatch, nothing_runs) -> None:
    monkeypatch.setattr(nrffcodec.media.files.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 2000, 2000))
    line = one_line_error(run("encode", clip_path, tmp_path / "o.nrf", *ENCODE_FAST))
    assert "not enough disk space" in line and "2.0 kB free" in line
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_refused_before_decoding(encoded, tmp_path, monkeypatch, nothing_runs) -> None:
    path, _ = encoded
    monkeypatch.setattr(nrffcodec.media.files.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 2000, 2000))
    assert "not enough disk space" in one_line_error(run("decode", path, tmp_path / "o.y4m"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc as a folder nobody can write")
def test_an_unwritable_folder_is_refused_even_for_root(clip_path, nothing_runs) -> None:
    """os.access says yes to root everywhere: the check must really try to write."""
    line = one_line_error(run("encode", clip_path, "/proc/out.nrf", *ENCODE_FAST))
    assert "output folder is not writable: /proc" in line


def test_a_work_folder_that_cannot_be_made_is_an_output_error(clip_path, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = one_line_error(run("encode", clip_path, tmp_path / "o.nrf", *ENCODE_FAST, "--workdir", blocker / "work"))
    assert "cannot create the work folder" in line


# ---------------------------------------------------------------- memory


def test_a_decode_larger_than_memory_is_refused(encoded, monkeypatch) -> None:
    path, _ = encoded
    info = NrfFile(path).header.video
    monkeypatch.setattr(nrffcodec.decoder, "available_memory", lambda: 10_000)
    with pytest.raises(BitstreamError, match="fewer frames at a time with --frames"):
        check_decode_memory(info, 0, info.frame_count, 2)
    monkeypatch.setattr(nrffcodec.decoder, "available_memory", lambda: None)  # cannot tell: no refusal
    check_decode_memory(info, 0, info.frame_count, 2)


# ---------------------------------------------------------------- CUDA out of memory (mocked)


def _task(blocks: int) -> GopTask:
    gop = Gop(3, 0, 3, 1)
    schedule = dataclasses.replace(PRESETS["fast"], batch_blocks=blocks)
    return GopTask(gop, (), (), (), (), None, None, 1.0, 0, False, schedule, QuantConfig(), 0, "cuda")


def _fits_below(limit: int):
    """A fake trainer that runs out of GPU memory above `limit` pixel blocks per step."""
    seen = []

    def train(task: GopTask, on_steps: object = None) -> GopResult:
        seen.append(task.schedule.batch_blocks)
        if task.schedule.batch_blocks > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return GopResult(task.gop.index, [], [], 0.0, 30.0)

    return train, seen


def test_cuda_oom_falls_back_to_smaller_batches_and_says_so() -> None:
    train, seen = _fits_below(300)
    lines: list[str] = []
    assert train_with_fallback(_task(2048), train, lines.append).index == 3
    assert seen == [2048, 1024, 512, 256]
    assert len(lines) == 3 and "retrying with 256" in lines[-1] and "GOP 3" in lines[-1]


def test_cuda_oom_at_the_smallest_batch_names_the_settings_to_lower() -> None:
    train, _ = _fits_below(0)
    with pytest.raises(ResourceError, match=r"lower --gop .* --quality .* --device cpu"):
        train_with_fallback(_task(256), train, lambda line: None)


def test_cuda_oom_in_the_encoder_is_a_one_line_error(clip_path, tmp_path, monkeypatch) -> None:
    train, _ = _fits_below(0)
    monkeypatch.setattr(nrffcodec.encoder.runner, "train_gop", train)
    line = one_line_error(run("encode", clip_path, tmp_path / "o.nrf", *ENCODE_FAST))
    assert "CUDA ran out of memory" in line and "--device cpu" in line


def test_cuda_oom_while_decoding_says_what_to_do(encoded, tmp_path, monkeypatch) -> None:
    path, _ = encoded

    def out_of_memory(self, t):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(nrffcodec.core.render.GopRenderer, "frame", out_of_memory)
    line = one_line_error(run("decode", path, tmp_path / "o.mkv"))
    assert "CUDA ran out of memory: decode with --device cpu" in line
    assert not (tmp_path / "o.mkv").exists()


def test_a_pipe_held_whole_is_refused_once_it_and_one_training_process_would_not_fit() -> None:
    """An encode from a pipe holds its frames: 10 frames of 64x32 and a GOP-8 training process beside them."""
    from nrffcodec.app.resources import pipe_fits
    from nrffcodec.encoder.runner import TRAINING_BYTES, TRAINING_BYTES_PER_PIXEL
    from nrffcodec.errors import InputError

    frame, training = 64 * 32 * 3 // 2, TRAINING_BYTES + TRAINING_BYTES_PER_PIXEL * 64 * 32 * 8
    fits = pipe_fits(10 * frame + training, 8)
    for count in range(1, 11):
        fits(count, 32, 64)
    with pytest.raises(InputError, match="more than 10 frames of 64x32 do not fit in memory .a pipe is held whole"):
        fits(11, 32, 64)
    pipe_fits(None, 8)(10**9, 32, 64)  # a machine that cannot say refuses nothing
