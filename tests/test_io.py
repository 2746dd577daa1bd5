"""Video in and out: formats, odd sizes, exact frame rates, atomic writes."""

from __future__ import annotations

import os
import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nrffcodec.app.options import parse_frame_range
from nrffcodec.errors import InputError, OutputError
from nrffcodec.media import files
from nrffcodec.media.files import atomic_output, refuse_overwrite, written_outputs
from nrffcodec.media.reader import read_video
from nrffcodec.media.writer import write_video

from .clips import moving_texture


@pytest.mark.parametrize("suffix", [".mkv", ".y4m"])
def test_lossless_outputs_round_trip_odd_sizes(tmp_path, suffix: str) -> None:
    video = moving_texture(37, 23, 4, dx=1, fps=Fraction(30000, 1001))
    path = tmp_path / f"clip{suffix}"
    write_video(path, video)
    back = read_video(path)
    assert back.fps == Fraction(30000, 1001)
    for plane in "yuv":
        assert np.array_equal(getattr(back, plane), getattr(video, plane))


def test_mp4_output_keeps_size_and_rate_even_when_odd(tmp_path) -> None:
    video = moving_texture(37, 23, 5, fps=Fraction(24000, 1001))
    path = tmp_path / "clip.mp4"
    write_video(path, video)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 37, 23)
        assert stream.average_rate == Fraction(24000, 1001)
        assert sum(1 for _ in container.decode(stream)) == 5
    back = read_video(path)
    assert np.abs(back.y.astype(int) - video.y.astype(int)).mean() < 2.0


def test_png_folder(tmp_path) -> None:
    video = moving_texture(20, 10, 3)
    out = tmp_path / "frames"
    write_video(out, video)
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    with av.open(str(files[1])) as c:
        frame = next(c.decode(video=0))
        assert np.array_equal(frame.to_ndarray(format="rgb24"), video.rgb()[1])


def test_frame_range_selects_frames(tmp_path) -> None:
    video = moving_texture(16, 16, 10)
    path = tmp_path / "c.mkv"
    write_video(path, video)
    part = read_video(path, (3, 7))
    assert part.frame_count == 4 and part.first_frame == 3
    assert np.array_equal(part.y, video.y[3:7])
    with pytest.raises(InputError, match="outside the clip"):
        read_video(path, (10, 12))


@pytest.mark.parametrize("text", ["5", "a:b", "4:2", "-1:3", "1:2:3"])
def test_bad_frame_ranges(text: str) -> None:
    with pytest.raises(InputError):
        parse_frame_range(text)


def test_missing_and_non_video_inputs(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(InputError):
        read_video(junk)


def test_failed_write_leaves_nothing_behind(tmp_path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler for the test: a shell starts a background job (CI run with `&`)
    with SIGINT ignored, and Python then keeps it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("is_dir", [False, True])
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_during_the_rename_takes_effect_once_the_output_is_recorded(tmp_path, monkeypatch, is_dir) -> None:
    """A signal landing between the rename and its record used to make the CLI say "no output
    written" over a complete new output (seen once in CI, on a loaded machine)."""
    target = tmp_path / "out"
    target.mkdir() if is_dir else target.write_bytes(b"old")
    rename = os.replace

    def rename_then_ctrl_c(src, dst) -> None:
        rename(src, dst)
        if Path(dst) == target:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(files.os, "replace", rename_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt), atomic_output(target, is_dir=is_dir) as tmp:
        (tmp / "f").write_bytes(b"new") if is_dir else tmp.write_bytes(b"new")
    assert written_outputs()[-1] == target
    assert (target / "f" if is_dir else target).read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_unwritable_folder_and_overwriting_the_input(tmp_path) -> None:
    with pytest.raises(OutputError, match="does not exist"), atomic_output(tmp_path / "missing" / "x.nrf"):
        pass
    src = tmp_path / "in.mkv"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="overwrite the input"):
        refuse_overwrite(src, tmp_path / "." / "in.mkv")
    with pytest.raises(OutputError, match="unsupported output"):
        write_video(tmp_path / "x.avi", moving_texture(8, 8, 1))


def test_scale_video_keeps_format_and_flat_colour() -> None:
    from nrffcodec.evaluation.scaling import scale_video

    video = moving_texture(64, 48, 3)
    video.y[1], video.u[1], video.v[1] = 100, 90, 160
    half = scale_video(video, 32, 24)
    assert (half.y.shape, half.u.shape, half.fps, half.first_frame) == ((3, 24, 32), (3, 12, 16), video.fps, 0)
    assert (half.y[1] == 100).all() and (half.u[1] == 90).all() and (half.v[1] == 160).all()
    assert "scaled from 64x48 to 32x24" in half.notes[-1]
    assert scale_video(video, 33, 25).u.shape == (3, 13, 17)
