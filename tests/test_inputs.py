"""Broken and unusual input videos, each made here: one-line errors (exit 2) or a documented behaviour."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from nrffcodec.errors import InputError
from nrffcodec.media.raw import InputFormat
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


# ---------------------------------------------------------------- a folder of numbered images


def test_a_folder_of_images_decode_wrote_encodes_back_at_the_rate_given(tmp_path) -> None:
    """nrff decode's PNG folder is an input too: the same pictures, at --framerate (25 without it, with a note)."""
    clip = moving_texture(17, 9, 5)
    write_video(tmp_path / "pngs", clip)
    (tmp_path / "pngs" / "notes.txt").write_text("other files are left alone")
    images = read_video(tmp_path / "pngs")
    assert images.frame_count == 5 and images.fps == 25
    assert any("a folder of images has no frame rate" in note for note in images.notes)
    one = read_video(tmp_path / "pngs" / "frame_000003.png")
    assert all(np.array_equal(a[3], b[0]) for a, b in zip((images.y, images.u, images.v), (one.y, one.u, one.v)))
    out = tmp_path / "seq.nrf"
    assert run("encode", tmp_path / "pngs", out, *ENCODE_TINY, "--framerate", "30000/1001").exit_code == 0
    decoded = read_video(_decoded(out, tmp_path))
    assert (decoded.frame_count, decoded.width, decoded.height, decoded.fps) == (5, 17, 9, Fraction(30000, 1001))


def _decoded(nrf: Path, folder: Path) -> Path:
    path = folder / f"{nrf.stem}.y4m"
    assert run("decode", nrf, path, "-q").exit_code == 0
    return path


def _images(folder: Path, *names: str) -> Path:
    """`folder` holding the same 8x8 PNG under each of `names`."""
    write_video(folder.parent / "source", moving_texture(8, 8, 1))
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((folder.parent / "source" / "frame_000000.png").read_bytes())
    return folder


@pytest.mark.parametrize(
    "names, count",
    [
        (
            [
                "f1.png",
                "f2.png",
                "f10.png",
                "f11.png",
                "f3.png",
                "f4.png",
                "f5.png",
                "f6.png",
                "f7.png",
                "f8.png",
                "f9.png",
            ],
            11,
        ),
        (["shot 5%_0098.png", "shot 5%_0099.png", "shot 5%_0100.png"], 3),  # a % in the name, numbers from 98
        (["a_999.png", "a_1000.png"], 2),  # padded to 3, then wider
    ],
)
def test_image_sequences_unpadded_or_not_from_any_first_number(tmp_path, names: list[str], count: int) -> None:
    assert read_video(_images(tmp_path / "seq", *names)).frame_count == count


@pytest.mark.parametrize(
    "names, message",
    [
        ([], "a folder without numbered images"),
        (["f_0.png", "f_1.png", "f_3.png"], "f_2.png is missing: the images must be numbered without a gap"),
        (["f_0.png", "f_1.png", "g_0.png"], "more than one image sequence: f_N.png (2), g_N.png (1)"),
        (["f_00.png", "f_01.png", "f_2.png"], "padded to different widths"),
    ],
)
def test_a_folder_that_is_not_one_clean_sequence_is_one_line(tmp_path, names: list[str], message: str) -> None:
    folder = _images(tmp_path / "seq", *names)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_video(folder)
    line = one_line_error(run("encode", folder, tmp_path / "o.nrf", *ENCODE_TINY))
    assert message in line
    assert not (tmp_path / "o.nrf").exists()


def test_framerate_replaces_a_files_own_rate_with_a_note(tmp_path) -> None:
    path = tmp_path / "c.mkv"
    write_ffv1(path, moving_texture(16, 16, 4))
    video = read_video(path, form=InputFormat(framerate=Fraction(50)))
    assert video.fps == 50 and "frame rate 50 fps from --framerate (the input says 25)" in video.notes
    for bad, says in (("2x", "must be a rate like 60"), ("0", "above zero"), ("5000", "above the 1000 fps")):
        assert says in one_line_error(run("encode", path, tmp_path / "o.nrf", "--framerate", bad))


# ---------------------------------------------------------------- raw .yuv files, as test sets ship them


def _raw(path: Path, clip, ten_bit: bool = False) -> Path:
    """The clip's planes back to back, frame after frame (10-bit: each code x4, little-endian words)."""
    with open(path, "wb") as out:
        for t in range(clip.frame_count):
            for plane in (clip.y[t], clip.u[t], clip.v[t]):
                out.write((plane.astype("<u2") * 4).tobytes() if ten_bit else plane.tobytes())
    return path


def test_a_raw_file_named_as_test_sets_name_them_reads_exactly(tmp_path) -> None:
    clip = moving_texture(33, 17, 4)
    video = read_video(_raw(tmp_path / "Clip_33x17_50fps_420_8bit_YUV.yuv", clip))
    assert (video.frame_count, video.width, video.height, video.fps) == (4, 33, 17, 50)
    assert all(np.array_equal(getattr(video, p), getattr(clip, p)) for p in "yuv")
    assert "raw video 33x17 as its name says" in video.notes and "50 fps as its name says" in video.notes
    ten = read_video(_raw(tmp_path / "clip_33x17_10bit.yuv", clip, ten_bit=True))
    assert np.array_equal(ten.y, clip.y) and "samples read as yuv420p10le, as its name says" in ten.notes


def test_a_raw_file_takes_its_size_rate_and_format_from_the_command_line(tmp_path) -> None:
    clip = moving_texture(16, 8, 3)
    path = _raw(tmp_path / "noname.yuv", clip)
    out = tmp_path / "raw.nrf"
    assert run("encode", path, out, *ENCODE_TINY, "--size", "16x8", "--framerate", "24000/1001").exit_code == 0
    decoded = read_video(_decoded(out, tmp_path))
    assert (decoded.frame_count, decoded.width, decoded.height, decoded.fps) == (3, 16, 8, Fraction(24000, 1001))
    misnamed = path.rename(tmp_path / "clip_99x99.yuv")  # the command line wins over the name
    video = read_video(misnamed, form=InputFormat(size=(16, 8), pixel_format="yuv420p"))
    assert video.frame_count == 3 and np.array_equal(video.y, clip.y) and not any("name" in n for n in video.notes)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("noname.yuv", [], "does not say its size: give --size WIDTHxHEIGHT"),
        ("clip_16x9.yuv", [], "is not a whole number of 16x9 yuv420p frames"),
        ("noname.yuv", ["--size", "16x8", "--pixel-format", "yuv421p"], "--pixel-format yuv421p: not a pixel format"),
        ("noname.yuv", ["--size", "16by8"], "--size must be WIDTHxHEIGHT"),
        ("noname.yuv", ["--size", "0x8"], "each side must be 1..16384"),
        ("clip.mkv", ["--pixel-format", "yuv420p"], "--pixel-format is for raw input"),
    ],
)
def test_a_raw_file_that_cannot_be_read_as_told_is_one_line(
    tmp_path, name: str, options: list[str], message: str
) -> None:
    path = _raw(tmp_path / name, moving_texture(16, 8, 3))
    assert message in one_line_error(run("encode", path, tmp_path / "o.nrf", *ENCODE_TINY, *options))
    assert not (tmp_path / "o.nrf").exists()
