"""Decoding is exact across machines: a committed file gives the frames every machine measured gave."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from nrffcodec import decode
from nrffcodec.core.video import Video

from .clips import moving_texture
from .conftest import fast_settings

FIXTURE = Path(__file__).parent / "fixtures" / "carphone_fields-3.2.nrf"
# MD5 of Y, U, V of its 16 frames (14 rendered by the fields), decoded in float64 on a 2-core AMD
# EPYC (torch 2.13 CPU), and on an Intel Xeon (torch 2.11 CPU) and an NVIDIA H200 (CUDA) with
# torch 2.11; in float32 the EPYC and the Xeon differed (docs/decisions/0043-float64-rendering.md)
EVERY_MACHINE_MD5 = "2f521b866fbdeef151fecc3d45abc764"


def frames_md5(video: Video) -> str:
    digest = hashlib.md5()
    for plane in (video.y, video.u, video.v):
        digest.update(np.ascontiguousarray(plane).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")),
    ],
)
def test_the_committed_file_decodes_to_every_machines_frames(device: str) -> None:
    video = decode(FIXTURE, device=device)
    assert video.frame_count == 16
    assert frames_md5(video) == EVERY_MACHINE_MD5


def test_one_thread_and_two_decode_alike() -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = frames_md5(decode(FIXTURE, frames=(0, 8), device="cpu"))
        torch.set_num_threads(2)
        two = frames_md5(decode(FIXTURE, frames=(0, 8), device="cpu"))
    finally:
        torch.set_num_threads(threads)
    assert one == two


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_workers_train_after_this_process_used_cuda() -> None:
    """A child forked from a process that ran CUDA autograd cannot train: such a process spawns its workers."""
    from nrffcodec import encode_video

    weight = torch.ones(4, device="cuda", requires_grad=True)
    (weight * 2).sum().backward()
    video = moving_texture(48, 32, 12, dx=1)
    one, _ = encode_video(video, fast_settings(iterations=30, jobs=1))
    two, _ = encode_video(video, fast_settings(iterations=30, jobs=2))
    assert one == two
