"""The SVT-AV1 anchor: temporal delimiters really removed and nothing else, the counted units decode
identically to FFmpeg's own reading of the encoder's output, odd sizes cropped back."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from bitstream.av1 import OBU_TEMPORAL_DELIMITER, obu_type, split_obus
from nrffcodec.core.quality import measure
from nrffcodec.evaluation.baselines import encode_packets
from nrffcodec.evaluation.svtav1 import SvtAv1, strip_temporal_delimiters

from .clips import moving_texture


def test_only_temporal_delimiters_are_cut() -> None:
    frame_header = bytes([0x32, 0x02, 0xAB, 0xCD])  # OBU type 6 (frame), size 2
    unit = b"\x12\x00" + frame_header
    assert strip_temporal_delimiters(unit) == frame_header
    assert strip_temporal_delimiters(frame_header) == frame_header


def test_counted_stream_decodes_like_the_encoders_own_output() -> None:
    video = moving_texture(64, 48, 6, dx=1)
    codec = SvtAv1("8")
    coded = codec.code(video, 45)
    units = split_obus(coded.data)
    assert units and all(obu_type(u) != OBU_TEMPORAL_DELIMITER for u in units)
    packets = encode_packets("libsvtav1", video, 48, 64, codec.options(45))
    assert len(b"".join(packets)) - len(coded.data) == 2 * len(packets)  # one 2-byte delimiter per unit
    with av.open(io.BytesIO(b"".join(packets)), format="obu") as container:  # FFmpeg's own demuxer
        container.streams.video[0].codec_context.thread_count = 1
        reference = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(reference) == video.frame_count
    assert np.array_equal(reference[3][:48], coded.decoded.y[3])
    again = codec.decode(coded.stored, video)
    assert np.array_equal(again.y, coded.decoded.y) and np.array_equal(again.v, coded.decoded.v)
    assert codec.code(video, 45).data == coded.data  # one thread: the same stream every run
    assert measure(video, coded.decoded).psnr_rgb > 20


@pytest.mark.parametrize("size", [(37, 21), (6, 4)])
def test_odd_and_tiny_sizes_are_padded_and_cropped(size: tuple[int, int]) -> None:
    width, height = size
    video = moving_texture(width, height, 3, dx=1)
    coded = SvtAv1("10").code(video, 30)
    assert coded.decoded.y.shape == (3, height, width) and coded.decoded.u.shape[1:] == video.u.shape[1:]
    assert measure(video, coded.decoded).psnr_yuv > 20


def test_presets_outside_svt_av1s_range_are_refused() -> None:
    for preset in ("14", "-2", "", "-", "1.5", "p0", "+1", "\u0661"):  # the last: an Arabic-Indic one
        with pytest.raises(ValueError):
            SvtAv1(preset)
    assert [SvtAv1(p).label for p in ("-1", "0", "13")] == ["svtav1 p-1", "svtav1 p0", "svtav1 p13"]
    assert [SvtAv1(p).label for p in ("01", "-0", "004")] == ["svtav1 p1", "svtav1 p0", "svtav1 p4"]  # one spelling
