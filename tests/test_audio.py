"""Sound is kept: a clip's audio goes through encode and decode as its own packets, in sync and cut with the frames."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitstream import FORMAT_MAJOR, FORMAT_MINOR, NrfFile, add_audio, audio_streams
from nrffcodec.app.cli import cli

from .audio_clips import AudioTrack, audio_track, clip_with_audio

FAST = ["--preset", "fast", "--iterations", "5", "--gop", "8", "--device", "cpu", "--jobs", "1"]
FPS = 2  # 10 seconds in 20 frames: the test stays fast


def run(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def one_frame(track: AudioTrack) -> Fraction:
    return Fraction(track.frame_size, track.rate)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """10 seconds of 64x48 video with AAC stereo sound, as a phone would write it (mp4)."""
    return clip_with_audio(tmp_path_factory.mktemp("audio") / "phone.mp4", seconds=10, fps=FPS)


@pytest.fixture(scope="module")
def sound_nrf(source: Path) -> tuple[Path, str]:
    out = source.with_suffix(".nrf")
    return out, run("encode", source, out, *FAST).stderr


def test_encode_keeps_the_audio_and_says_the_bpp_is_video_only(sound_nrf, source) -> None:
    path, stderr = sound_nrf
    streams = audio_streams(NrfFile(path))
    src = audio_track(source)
    assert [s.codec for s in streams] == ["aac"]
    assert [p.data for p in streams[0].packets] == src.packets
    assert NrfFile(path).version[0] == FORMAT_MAJOR and NrfFile(path).version[1] <= FORMAT_MINOR
    assert "bpp (video only)" in stderr and "audio" in stderr.splitlines()[-4], stderr


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_decoded_file_has_the_source_audio_packets(sound_nrf, source, tmp_path, name: str) -> None:
    path, _ = sound_nrf
    out = tmp_path / name
    run("decode", path, out, "-q")
    src, got = audio_track(source), audio_track(out)
    assert got is not None and got.codec == src.codec
    assert got.packets == src.packets
    assert abs(got.duration - src.duration) <= one_frame(src), (got.duration, src.duration)


def test_frames_cut_the_audio_to_the_same_span(sound_nrf, source, tmp_path) -> None:
    path, _ = sound_nrf
    out = tmp_path / "cut.mkv"
    run("decode", path, out, "--frames", "4:12", "-q")
    src, got = audio_track(source), audio_track(out)
    start, end = Fraction(4, FPS), Fraction(12, FPS)
    expected = [data for data, pts in zip(src.packets, src.pts) if start <= pts * src.time_base < end]
    assert got.packets == expected
    first = min(got.pts) * got.time_base
    assert abs(first) <= one_frame(src)  # rebased: frame 4 is at 0
    assert abs(len(expected) * one_frame(src) - (end - start)) <= one_frame(src)


def test_encode_frames_keeps_only_their_audio(source, tmp_path) -> None:
    out = tmp_path / "part.nrf"
    run("encode", source, out, *FAST, "--frames", "4:8")
    (stream,) = audio_streams(NrfFile(out))
    src = audio_track(source)
    expected = [data for data, pts in zip(src.packets, src.pts) if 2 <= pts * src.time_base < 4]
    assert [p.data for p in stream.packets] == expected
    assert stream.params.origin == 2 * src.rate  # frame 0 of the file is the source's frame 4, at 2 s


def test_the_audio_is_spliced_into_the_same_video_bytes(source, tmp_path) -> None:
    """The encoder writes the video to a file and the audio is added file to file: the same bytes as
    add_audio on the file without sound."""
    with_sound, silent = tmp_path / "with.nrf", tmp_path / "silent.nrf"
    run("encode", source, with_sound, *FAST, "--frames", "4:8", "-q")
    run("encode", source, silent, *FAST, "--frames", "4:8", "-q", "--no-audio")
    streams = audio_streams(NrfFile(with_sound))
    assert streams and with_sound.read_bytes() == add_audio(silent.read_bytes(), streams)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.nrf", "with.nrf"]


def test_outputs_without_audio_say_so(sound_nrf, tmp_path) -> None:
    path, _ = sound_nrf
    result = run("decode", path, tmp_path / "out.y4m", "--frames", "0:4")
    assert "note: a .y4m file holds no audio: the file's 1 audio stream (aac) not written" in result.stderr


def test_no_audio_drops_the_sound_with_a_note(source, tmp_path) -> None:
    out = tmp_path / "silent.nrf"
    result = run("encode", source, out, *FAST, "--frames", "0:4", "--no-audio")
    assert "note: the input's 1 audio stream (aac) dropped (--no-audio)" in result.stderr
    assert "(no audio)" in result.stderr
    assert NrfFile(out).audio_bytes == 0 and audio_streams(NrfFile(out)) == []
    run("decode", out, tmp_path / "silent.mp4", "-q")
    assert audio_track(tmp_path / "silent.mp4") is None


def test_info_counts_the_audio_bytes(sound_nrf) -> None:
    path, _ = sound_nrf
    info = json.loads(run("info", path, "--json").stdout)
    b = info["bytes"]
    assert b["audio"] == NrfFile(path).audio_bytes > sum(len(p) for p in audio_track_packets(path))
    assert b["keyframes"] + b["networks"] + b["audio"] + b["container"] == b["total"] == path.stat().st_size
    (stream,) = info["audio"]
    assert (stream["codec"], stream["sample_rate"], stream["channels"]) == ("aac", 44100, 2)
    assert abs(stream["seconds"] - 10) < 0.1
    text = run("info", path).stdout
    assert "audio 0: aac, 44100 Hz, stereo (2)" in text and f"+ audio {b['audio']:,} +" in text


def audio_track_packets(path: Path) -> list[bytes]:
    return [p.data for s in audio_streams(NrfFile(path)) for p in s.packets]


def test_a_codec_mp4_refuses_is_re_encoded_to_aac_and_copied_into_mkv(tmp_path) -> None:
    source = clip_with_audio(tmp_path / "u8.mkv", seconds=2, fps=FPS, audio_codec="pcm_u8", rate=8000, layout="mono")
    nrf = tmp_path / "u8.nrf"
    run("encode", source, nrf, *FAST)
    result = run("decode", nrf, tmp_path / "out.mp4")
    assert "note: audio stream 0 (pcm_u8) cannot be copied into mp4: re-encoded to AAC" in result.stderr
    src, got = audio_track(source), audio_track(tmp_path / "out.mp4")
    assert got.codec == "aac" and got.rate == 8000
    assert abs(got.duration - src.duration) <= Fraction(1024, 8000)
    run("decode", nrf, tmp_path / "out.mkv", "-q")
    assert audio_track(tmp_path / "out.mkv").packets == src.packets
