"""Pipes, like FFmpeg: `nrff decode IN -` writes y4m to stdout, `nrff encode - OUT` reads a video from stdin."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from nrffcodec.media.reader import read_video
from nrffcodec.media.writer import write_video

from .cli_tools import one_line_error, run

# PyAV reading y4m from its stdin, as a player at the end of the pipe would: frame count and Y checksum
READER = (
    "import av, sys, hashlib\n"
    "c = av.open(sys.stdin.buffer, format='yuv4mpegpipe')\n"
    "h = hashlib.sha256()\n"
    "n = 0\n"
    "for f in c.decode(video=0):\n"
    "    h.update(f.to_ndarray(format='yuv420p').tobytes()); n += 1\n"
    "print(n, h.hexdigest())\n"
)


def _digest(path) -> str:
    import hashlib

    video = read_video(path)
    h = hashlib.sha256()
    for t in range(video.frame_count):
        h.update(np.concatenate([video.y[t].ravel(), video.u[t].ravel(), video.v[t].ravel()]).tobytes())
    return f"{video.frame_count} {h.hexdigest()}"


def test_decode_to_stdout_pipes_every_frame_and_nothing_else(encoded, tmp_path) -> None:
    path, report = encoded
    decoder = subprocess.Popen(
        [sys.executable, "-m", "nrffcodec", "decode", str(path), "-", "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    player = subprocess.run(
        [sys.executable, "-c", READER], stdin=decoder.stdout, capture_output=True, text=True, timeout=300
    )
    decoder.stdout.close()
    stderr = decoder.communicate(timeout=300)[1].decode()
    assert decoder.returncode == 0 and player.returncode == 0, stderr + player.stderr
    assert "wrote stdout (y4m)" in stderr  # the messages went to stderr, the frames alone to stdout
    assert run("decode", path, tmp_path / "file.y4m", "-q").exit_code == 0
    assert player.stdout.split() == _digest(tmp_path / "file.y4m").split()
    assert int(player.stdout.split()[0]) == report.frames


def test_encode_reads_y4m_from_stdin(clip_path, tmp_path) -> None:
    y4m = tmp_path / "clip.y4m"
    write_video(y4m, read_video(clip_path))
    out = tmp_path / "piped.nrf"
    args = ["--preset", "fast", "--iterations", "30", "--gop", "6", "--device", "cpu", "--jobs", "1", "-q"]
    result = run("encode", "-", out, *args, input=y4m.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert run("encode", clip_path, tmp_path / "file.nrf", *args).exit_code == 0
    assert out.read_bytes() == (tmp_path / "file.nrf").read_bytes()  # the same frames, the same file
    assert "not -" in one_line_error(run("encode", clip_path, "-", *args))


def test_a_reader_that_went_away_ends_info_quietly(encoded) -> None:
    """`nrff info F | head -1`: the table has nowhere to go; no error line, no traceback."""
    path, _ = encoded
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as head is after its own
    try:
        info = subprocess.run(
            [sys.executable, "-m", "nrffcodec", "info", str(path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert info.stderr.decode() == "" and info.returncode == 141
