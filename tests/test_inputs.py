"""Broken and unusual input videos, each made here: one-line errors (exit 2) or a documented behaviour."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nrffcodec.errors import InputError
from nrffcodec.media.reader import read_video
from nrffcodec.media.writer import write_video

from .cli_tools import one_line_error, run
from .clips import moving_texture

ENCODE_TINY = [
    "--preset",
    "fast",
    "--iterations",
    "5",
    "--quality",
    "1",
    "--gop",
    "4",
    "--device",
    "cpu",
    "--jobs",
    "1",
    "-q",
]


def write_mp4(path: Path, frames: int = 12, rotation: int | None = None, faststart: bool = False) -> None:
    """Lossless H.264 (QP 0) of a moving texture, so that decoded samples can be compared exactly."""
    clip = moving_texture(32, 16, frames, dx=1)
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream("libx264", rate=25, options={"qp": "0", "g": "4"})
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for t in range(frames):
            frame = planar_frame((clip.y[t], clip.u[t], clip.v[t]), "yuv420p")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def planar_frame(planes: tuple[np.ndarray, ...], pix_fmt: str) -> av.VideoFrame:
    """A frame holding exactly these Y, U, V samples (uint8, or uint16 for 10-bit formats)."""
    frame = av.VideoFrame(planes[0].shape[1], planes[0].shape[0], pix_fmt)
    for plane, data in zip(frame.planes, planes):
        padded = np.zeros((plane.height, plane.line_size // data.itemsize), data.dtype)
        padded[:, : plane.width] = data
        plane.update(padded.astype(data.dtype.newbyteorder("<")).tobytes())
    return frame


def write_ffv1(path: Path, video, ten_bit: bool = False, pts_ms: list[int] | None = None) -> None:
    """FFV1 in Matroska of the clip's exact samples (10-bit: each code x4 plus low bits), at given times (ms)."""
    rng = np.random.default_rng(0)
    pix_fmt = "yuv420p10le" if ten_bit else "yuv420p"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, pix_fmt
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in range(video.frame_count):
            planes = (video.y[t], video.u[t], video.v[t])
            if ten_bit:
                planes = tuple(p.astype(np.uint16) * 4 + rng.integers(0, 4, p.shape, dtype=np.uint16) for p in planes)
            frame = planar_frame(planes, pix_fmt)
            frame.pts = pts_ms[t] if pts_ms else 40 * t
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# ---------------------------------------------------------------- refused with one line, exit code 2


def test_audio_only_file(tmp_path) -> None:
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    line = one_line_error(run("encode", path, tmp_path / "o.nrf", *ENCODE_TINY))
    assert "no video stream" in line and "audio" in line


def _with_cover(path: Path, video_frames: int) -> None:
    """An MP4 holding a cover picture (an attached 16x16 JPEG), a second of silence, and `video_frames`
    frames of 32x16 video."""
    with av.open(str(path), "w", format="mp4") as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 16, 16, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        sound = container.add_stream("aac", rate=8000)
        video = container.add_stream("libx264", rate=25) if video_frames else None
        if video:
            video.width, video.height, video.pix_fmt = 32, 16, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), "rgb24").reformat(format="yuvj420p")
        container.mux([*cover.encode(picture), *cover.encode(None)])
        for t in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, 1024 * t
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
        clip = moving_texture(32, 16, max(1, video_frames))
        for t in range(video_frames):
            container.mux(video.encode(planar_frame((clip.y[t], clip.u[t], clip.v[t]), "yuv420p")))
        if video:
            container.mux(video.encode(None))


def test_a_cover_picture_is_not_the_video(tmp_path) -> None:
    """An album's cover (an MP3's, an M4A's) is not a one-frame video; beside a video it is left alone."""
    song = tmp_path / "song.m4a"
    _with_cover(song, 0)
    line = one_line_error(run("encode", song, tmp_path / "o.nrf", *ENCODE_TINY))
    assert "no video stream" in line and "(it has: a cover picture, audio)" in line
    film = tmp_path / "film.mp4"
    _with_cover(film, 6)
    video = read_video(film)
    assert (video.frame_count, video.width, video.height) == (6, 32, 16)


def test_video_stream_without_frames(tmp_path) -> None:
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 32, 16, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    assert "no decodable video frames" in one_line_error(run("encode", path, tmp_path / "o.nrf", *ENCODE_TINY))


def test_video_stream_that_does_not_decode(tmp_path) -> None:
    path = tmp_path / "garbage.h264"
    path.write_bytes(b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 8)  # a slice NAL with no parameter sets
    assert "no decodable video frames" in one_line_error(run("encode", path, tmp_path / "o.nrf", *ENCODE_TINY))


def test_truncated_mp4_without_its_index(tmp_path) -> None:
    """A plain mp4 keeps its index (moov) at the end: cut short, FFmpeg cannot open it at all."""
    path = tmp_path / "cut.mp4"
    write_mp4(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    line = one_line_error(run("encode", path, tmp_path / "o.nrf", *ENCODE_TINY))
    assert "damaged or truncated" in line


def test_frames_outside_the_clip_on_decode(encoded, tmp_path) -> None:
    path, _ = encoded
    assert "outside" in one_line_error(run("decode", path, tmp_path / "o.mkv", "--frames", "100:200"))
    assert not (tmp_path / "o.mkv").exists()


# ---------------------------------------------------------------- supported, with a note where something changes


def test_truncated_mp4_codes_the_frames_that_decode_and_says_how_many(tmp_path) -> None:
    path = tmp_path / "cut.mp4"
    write_mp4(path, frames=20, faststart=True)  # index first, as streamed files are
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.8)])
    video = read_video(path)
    assert 1 <= video.frame_count < 20
    assert f"coding the {video.frame_count} frames that decode of the 20 it declares" in " ".join(video.notes)
    out = tmp_path / "cut.nrf"
    result = run("encode", path, out, *ENCODE_TINY[:-1], "--json")
    assert result.exit_code == 0, result.output
    assert "damaged or truncated" in result.stderr and out.exists()


def test_ten_bit_input_is_coded_at_8_bits(tmp_path) -> None:
    clip = moving_texture(20, 12, 3, dx=1)
    path = tmp_path / "deep.mkv"
    write_ffv1(path, clip, ten_bit=True)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    video = read_video(path)
    assert any("yuv420p10le: coded at 8 bits" in note for note in video.notes)
    for name in "yuv":
        assert np.abs(getattr(video, name).astype(int) - getattr(clip, name).astype(int)).max() <= 1


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(tmp_path, rotation: int) -> None:
    write_mp4(tmp_path / "plain.mp4", frames=3)
    write_mp4(tmp_path / "rotated.mp4", frames=3, rotation=rotation)
    plain, video = read_video(tmp_path / "plain.mp4"), read_video(tmp_path / "rotated.mp4")
    for name in "yuv":  # counter-clockwise by the angle the display matrix gives, as players show it
        assert np.array_equal(getattr(video, name), np.rot90(getattr(plain, name), rotation // 90, axes=(1, 2)))
    assert (video.width, video.height) == ((16, 32) if rotation % 180 else (32, 16))
    shown = rotation if rotation != 180 else -180  # FFmpeg reports a half turn as -180
    assert f"rotation metadata ({shown} degrees) applied: frames coded upright, as players show them" in video.notes


def test_variable_frame_rate_keeps_every_frame(tmp_path) -> None:
    clip = moving_texture(16, 16, 7, dx=1)
    path = tmp_path / "vfr.mkv"
    write_ffv1(path, clip, pts_ms=[0, 40, 80, 200, 240, 600, 640])
    steady = tmp_path / "steady.mkv"
    write_ffv1(steady, clip)
    video, reference = read_video(path), read_video(steady)
    assert video.frame_count == 7 and np.array_equal(video.y, clip.y)  # no frame dropped or repeated
    assert any(note.startswith("variable frame rate: all 7 frames kept") for note in video.notes)
    assert not any("variable" in note for note in reference.notes)


def test_a_single_odd_sized_image_is_a_one_frame_video(tmp_path) -> None:
    image = tmp_path / "still.png"
    write_video(tmp_path / "pngs", moving_texture(17, 9, 1))
    (tmp_path / "pngs" / "frame_000000.png").rename(image)
    out = tmp_path / "still.nrf"
    assert run("encode", image, out, *ENCODE_TINY).exit_code == 0
    decoded = tmp_path / "still.y4m"
    assert run("decode", out, decoded, "-q").exit_code == 0
    video = read_video(decoded)
    assert (video.frame_count, video.width, video.height) == (1, 17, 9)


def test_missing_frames_option_range_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "c.mkv"
    write_ffv1(path, moving_texture(16, 16, 4))
    with pytest.raises(InputError, match="outside the clip"):
        read_video(path, (4, 8))


def test_interlaced_input_is_coded_as_progressive_frames_with_a_note(tmp_path) -> None:
    path = tmp_path / "interlaced.mkv"
    clip = moving_texture(32, 32, 4)
    with av.open(str(path), "w") as container:
        options = {"flags": "+ildct+ilme", "x264-params": "interlaced=1:tff=1", "qp": "0"}
        stream = container.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for t in range(clip.frame_count):
            frame = planar_frame((clip.y[t], clip.u[t], clip.v[t]), "yuv420p")
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    video = read_video(path)
    assert video.frame_count == 4 and any(note.startswith("input is interlaced") for note in video.notes)
    assert not any("interlaced" in note for note in read_video(_progressive(tmp_path)).notes)


def _progressive(tmp_path: Path) -> Path:
    path = tmp_path / "progressive.mp4"
    write_mp4(path, frames=4)
    return path


def test_hdr_input_is_coded_with_a_note_on_its_colours(tmp_path) -> None:
    path = tmp_path / "hdr.mkv"
    with av.open(str(path), "w") as container:
        params = "colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:log-level=error"
        stream = container.add_stream("libx265", rate=25, options={"x265-params": params})
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p10le"
        stream.codec_context.colorspace, stream.codec_context.color_trc = 9, 16  # BT.2020, PQ
        clip = moving_texture(32, 32, 2)
        for t in range(clip.frame_count):
            frame = planar_frame(
                tuple(p.astype(np.uint16) * 4 for p in (clip.y[t], clip.u[t], clip.v[t])), "yuv420p10le"
            )
            frame.pts = t
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    notes = read_video(path).notes
    assert any(n.startswith("input has the BT.2020 matrix and the PQ (HDR) transfer: nrff codes") for n in notes)


def test_a_url_is_one_line_naming_a_pipe(tmp_path) -> None:
    line = one_line_error(run("encode", "https://example.com/clip.mp4", tmp_path / "o.nrf", *ENCODE_TINY))
    assert "not URLs" in line and "yuv4mpegpipe" in line
