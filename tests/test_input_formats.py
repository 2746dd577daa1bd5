"""Inputs that do not describe themselves: a folder of numbered images, a raw .yuv file, and the
options that say what they hold (--framerate, --size, --pixel-format)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from nrffcodec.errors import InputError
from nrffcodec.media.raw import InputFormat, frame_bytes
from nrffcodec.media.reader import read_video
from nrffcodec.media.writer import write_video

from .cli_tools import one_line_error, run
from .clips import moving_texture
from .test_inputs import ENCODE_TINY, write_ffv1

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
    assert read_video(_raw(tmp_path / "BasketballDrive_33x17_60.yuv", clip)).fps == 60  # the JVET's names
    chroma = read_video(_raw(tmp_path / "clip_33x17_420_8bit.yuv", clip))  # 420 is its samples, not a rate
    assert chroma.fps == 25 and "a raw file has no frame rate: coded at 25 fps (--framerate sets it)" in chroma.notes


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
    "pixel_format, width, height, size",
    [
        ("yuv420p", 5, 5, 25 + 2 * 9),  # chroma planes rounded up
        ("nv12", 5, 5, 25 + 2 * 9),
        ("yuyv422", 5, 3, 4 * 3 * 3),  # a pair of pixels in 4 bytes, the odd one padded
        ("bgr0", 4, 4, 4 * 16),  # the unused byte counts
        ("rgb565", 3, 3, 2 * 9),
        ("x2rgb10le", 3, 1, 4 * 3),
        ("gray10le", 3, 3, 2 * 9),
        ("pal8", 4, 4, 16 + 1024),  # the palette follows each frame
        ("monow", 9, 2, 2 * 2),  # a bit a pixel, each row in whole bytes
    ],
)
def test_a_raw_frames_bytes_are_what_ffmpeg_reads(pixel_format: str, width: int, height: int, size: int) -> None:
    assert frame_bytes(pixel_format, width, height) == size


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("noname.yuv", [], "does not say its size: give --size WIDTHxHEIGHT"),
        ("clip_16x9.yuv", [], "is not a whole number of 16x9 yuv420p frames"),
        ("noname.yuv", ["--size", "16x8", "--pixel-format", "rgb565"], "not a whole number of 16x8 rgb565 frames"),
        ("noname.yuv", ["--size", "16x8", "--pixel-format", "x2rgb10le"], "not a whole number of 16x8 x2rgb10le"),
        ("noname.yuv", ["--size", "16384x16384", "--pixel-format", "rgba64le"], "FFmpeg cannot read 16384x16384"),
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
