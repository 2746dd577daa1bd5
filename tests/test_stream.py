"""Streaming: segment reading, the incremental PSNR, GOP-by-GOP decode and writing, and no Ray without --ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nrffcodec.core.quality import QualityAccumulator, measure
from nrffcodec.decoder import decode, decode_segments
from nrffcodec.media.reader import read_video
from nrffcodec.media.stream import StreamedVideo
from nrffcodec.media.writer import write_video

from .clips import moving_texture


def test_streamed_video_reads_the_same_frames_and_hash_as_read_video(clip_path: Path) -> None:
    whole = read_video(clip_path, (2, 11))
    streamed = StreamedVideo(clip_path, (2, 11))
    assert (streamed.frame_count, streamed.height, streamed.width) == (9, 32, 48)
    assert streamed.content_sha256() == whole.content_sha256()
    assert (streamed.fps, streamed.matrix, streamed.full_range, streamed.first_frame) == (
        whole.fps,
        whole.matrix,
        whole.full_range,
        whole.first_frame,
    )
    reader = streamed.reader()
    for start, end in ((0, 3), (2, 5), (5, 6), (7, 9)):  # overlapping, then skipping ahead
        segment = reader.frames(start, end)
        assert np.array_equal(segment.y, whole.y[start:end]) and np.array_equal(segment.v, whole.v[start:end])
        assert segment.first_frame == whole.first_frame + start
    with pytest.raises(ValueError, match="out of order"):
        reader.frames(1, 2)


def test_accumulated_quality_equals_measure_on_the_whole_clip() -> None:
    reference = moving_texture(48, 32, 10, dx=1)
    decoded = moving_texture(48, 32, 10, dx=1, seed=3)
    accumulator = QualityAccumulator(reference.matrix, reference.full_range)
    for start, end in ((0, 4), (4, 5), (5, 10)):
        accumulator.add(reference.frames(start, end), decoded.frames(start, end))
    whole = measure(reference, decoded)
    assert accumulator.result().as_dict() == whole.as_dict()
    assert whole.psnr_rgb < 40  # different clips: the comparison measured something


def test_segments_are_the_decoded_frames_gop_by_gop(encoded) -> None:
    path, report = encoded
    whole = decode(path, (3, 11), device="cpu")
    segments = list(decode_segments(path, (3, 11), device="cpu"))
    assert len(segments) > 1
    assert [s.first_frame for s in segments] == sorted(s.first_frame for s in segments)
    assert np.array_equal(np.concatenate([s.y for s in segments]), whole.y)
    assert segments[0].first_frame == 3 and sum(s.frame_count for s in segments) == 8


def test_a_gop_1_decode_holds_a_few_keyframes_of_its_long_intra_group(monkeypatch) -> None:
    """At GOP length 1 the intra period is hundreds of frames (encoder.plan.keyframe_period_for): the
    decode walks it holding a GOP's neighbouring keyframes, not the group (decision 0066)."""
    from nrffcodec.core import keychain
    from nrffcodec.encoder.pipeline import encode_video
    from nrffcodec.settings import EncodeSettings

    clip = moving_texture(48, 32, 40, dx=1)
    data, report = encode_video(clip, EncodeSettings(preset="fast", gop=1, device="cpu", jobs=1))
    assert report.gop_length == 1 and report.gops == 40
    held: list[int] = []
    real_getitem = keychain.KeyframeGroups.__getitem__

    def getitem(self, index: int):
        planes = real_getitem(self, index)
        held.append(self.held)
        return planes

    monkeypatch.setattr(keychain.KeyframeGroups, "__getitem__", getitem)
    segments = list(decode_segments(data, device="cpu"))
    assert sum(s.frame_count for s in segments) == 40 and len(held) >= 40
    assert max(held) <= 3
    assert measure(clip, decode(data, device="cpu")).psnr_rgb > 25


def test_streamed_writer_gives_the_file_write_video_gives(tmp_path: Path) -> None:
    from nrffcodec.media.writer import video_writer

    video = moving_texture(48, 32, 7, dx=1)
    write_video(tmp_path / "whole.y4m", video)
    with video_writer(tmp_path / "parts.y4m", video.frames(0, 3), 7) as sink:
        sink.write(video.frames(0, 3))
        sink.write(video.frames(3, 7))
    assert (tmp_path / "parts.y4m").read_bytes() == (tmp_path / "whole.y4m").read_bytes()
    with video_writer(tmp_path / "pngs", video.frames(0, 2), 7) as sink:
        sink.write(video.frames(0, 2))
        sink.write(video.frames(2, 7))
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir())[-1] == "frame_000006.png"


def test_a_plain_encode_and_decode_never_import_ray(clip_path: Path, tmp_path: Path) -> None:
    script = (
        "import sys; from nrffcodec import EncodeSettings, encode; from nrffcodec.app.jobs import decode_file; "
        f"encode({str(clip_path)!r}, {str(tmp_path / 'a.nrf')!r}, EncodeSettings(iterations=2, gop=6, jobs=1)); "
        f"decode_file({str(tmp_path / 'a.nrf')!r}, {str(tmp_path / 'a.y4m')!r}); "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "a.y4m").stat().st_size > 0
