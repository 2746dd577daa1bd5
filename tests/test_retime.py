"""Decoding at another frame rate: the output's instants, exactness at the file's own instants, the
keyframe-only path, and `nrff decode --fps`."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nrffcodec import encode
from nrffcodec.core.inbetween import KINDS, MODES, blend
from nrffcodec.core.retime import Rate, output_instants, parse_rate
from nrffcodec.core.video import Video
from nrffcodec.decoder import decode, decode_at_rate
from nrffcodec.errors import InputError

from .cli_tools import one_line_error, run
from .clips import moving_texture
from .conftest import fast_settings


def same_frames(a, b) -> bool:
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


@pytest.mark.parametrize(
    "text, rate",
    [
        ("60", Rate(Fraction(60))),
        ("29.97", Rate(Fraction(2997, 100))),
        ("30000/1001", Rate(Fraction(30000, 1001))),
        ("2x", Rate(Fraction(2), True)),
        ("1.5x", Rate(Fraction(3, 2), True)),
        (" 0.5x ", Rate(Fraction(1, 2), True)),
    ],
)
def test_rates_parse(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "0", "0x", "-2x", "2y", "1/0", "x2", "2xx", "1e3", "nan"])
def test_bad_rates_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--fps"):
        parse_rate(text)


def test_a_rate_above_the_limit_is_refused() -> None:
    with pytest.raises(InputError, match="above"):
        Rate(Fraction(100), True).resolve(Fraction(25))


def test_double_rate_gives_two_frames_per_frame_and_keeps_the_originals() -> None:
    first, positions = output_instants(0, 10, 10, Fraction(25), Fraction(50))
    assert first == 0 and len(positions) == 20
    assert positions[::2] == list(range(10))
    assert positions[1] == Fraction(1, 2) and positions[-1] == 9  # past the last frame: that frame


def test_pieces_of_a_clip_join_into_the_whole() -> None:
    """Output instants lie on one grid, so decoding --frames pieces gives the frames of a whole decode."""
    source, target = Fraction(30), Fraction(30000, 1001)
    _, whole = output_instants(0, 30, 30, source, target)
    pieces = []
    for start, end in ((0, 7), (7, 19), (19, 30)):
        first, part = output_instants(start, end, 30, source, target)
        assert first == len(pieces)
        pieces += part
    assert pieces == whole and len(whole) == 30 - 1 + 1  # 30 frames at 30 fps span 1 s: 29.97 of them, rounded up


@pytest.mark.parametrize("fps", ["2x", "3x", "1.5x", "60"])
def test_original_instants_are_a_normal_decode_byte_for_byte(encoded, fps: str) -> None:
    path, _ = encoded
    normal = decode(path, device="cpu")
    video = decode_at_rate(path, fps, device="cpu")
    rate = parse_rate(fps).resolve(normal.fps)
    assert video.fps == rate
    kept = [j for j in range(video.frame_count) if (j * normal.fps / rate).denominator == 1]
    originals = [int(j * normal.fps / rate) for j in kept]
    on_the_grid = [t for t in range(normal.frame_count) if (t * rate / normal.fps).denominator == 1]
    assert originals[: len(on_the_grid)] == on_the_grid and len(on_the_grid) > 1
    for j, t in zip(kept, originals):
        assert all(np.array_equal(getattr(video, p)[j], getattr(normal, p)[t]) for p in "yuv"), (fps, j, t)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_keeps_the_originals_and_renders_between(encoded, mode: str) -> None:
    path, _ = encoded
    normal = decode(path, device="cpu")
    video = decode_at_rate(path, Rate(Fraction(2), True), device="cpu", modes={k: mode for k in KINDS})
    assert video.frame_count == 2 * normal.frame_count
    assert same_frames(_step(video, 0, None, 2), normal)
    between = _step(video, 1, -1, 2)
    assert not same_frames(between, normal.frames(0, normal.frame_count - 1))  # new pictures, not copies
    assert np.array_equal(video.y[-1], normal.y[-1])  # the instant past the last frame holds it


def _step(video: Video, start: int, stop: int | None, step: int) -> Video:
    return Video(video.y[start:stop:step], video.u[start:stop:step], video.v[start:stop:step])


def test_a_frame_range_is_the_same_frames_as_the_whole(encoded) -> None:
    path, _ = encoded
    whole = decode_at_rate(path, "2x", device="cpu")
    part = decode_at_rate(path, "2x", frames=(3, 8), device="cpu")
    assert part.first_frame == 6 and part.frame_count == 10
    assert same_frames(part, whole.frames(6, 16))


def test_keyframes_only_files_blend_the_neighbours(clip_path, tmp_path) -> None:
    """GOP length 1 (every frame a keyframe, all-zero networks): a new instant is the neighbours' blend."""
    out = tmp_path / "keys.nrf"
    encode(clip_path, out, fast_settings(gop=1, iterations=1))
    normal = decode(out, device="cpu")
    video = decode_at_rate(out, "4x", device="cpu")
    assert same_frames(_step(video, 0, None, 4), normal)
    for j in range(video.frame_count - 4):
        a, w = divmod(j, 4)
        expected = blend(normal.planes(a), normal.planes(a + 1), w / 4)
        assert all(np.array_equal(got, want) for got, want in zip(video.planes(j), expected)), j


def test_cli_decodes_at_twice_the_rate_into_the_container(encoded, tmp_path) -> None:
    path, report = encoded
    out = tmp_path / "double.mkv"
    result = run("decode", path, out, "--fps", "2x", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert "50.000 fps" in result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.average_rate == 50
    assert frames == 2 * report.frames


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1/0", "2000", "100x"])
def test_cli_bad_fps_is_one_line(encoded, tmp_path, value: str) -> None:
    path, _ = encoded
    line = one_line_error(run("decode", path, tmp_path / "x.mkv", "--fps", value))
    assert "--fps" in line
    assert not (tmp_path / "x.mkv").exists()


def test_benchmark_minterpolate_keeps_the_given_frames_at_even_instants() -> None:
    """benchmarks/interpolate.py scores FFmpeg's frames by their timestamps: frame 2k must be input k."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    interpolate = pytest.importorskip("interpolate")
    source = moving_texture(48, 32, 9, dx=1)
    even = interpolate.even_frames(source)
    assert even.frame_count == 5 and even.fps == source.fps / 2 and np.array_equal(even.y[2], source.y[4])
    doubled = interpolate.minterpolate(even)
    assert doubled.frame_count == 2 * even.frame_count - 1 and doubled.fps == source.fps
    assert same_frames(_step(doubled, 0, None, 2), even)
    assert not np.array_equal(doubled.y[3], doubled.y[2])  # an instant between, not a repeat
