"""The training step's CUDA graph, and what makes it capturable (checked on the CPU where it can be)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from bitstream import FieldArch
from nrffcodec.core.fields import CoordinateField
from nrffcodec.core.gop import Gop
from nrffcodec.core.render import GopRenderer
from nrffcodec.encoder import steps
from nrffcodec.encoder.pipeline import encode_video

from .clips import moving_texture
from .conftest import NEEDS_CUDA, fast_settings


def _renderer() -> GopRenderer:
    torch.manual_seed(0)
    arch = FieldArch(width=8, hidden_layers=1, shared_hidden=False, freqs_t=2, freqs_y=3, freqs_x=3, out_channels=4)
    flow, residual = CoordinateField(arch), CoordinateField(arch)
    for net in (flow, residual):  # non-zero outputs, so the flow moves the samples and the blend mixes both sides
        torch.nn.init.normal_(net.last.weight, std=0.5)
    refs = [torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(seed)) for seed in (1, 2, 3)]
    return GopRenderer(
        gop=Gop(index=1, first=4, count=5, key_offset=2),
        height=12,
        width=16,
        flow_scale=2.0,
        flow_net=flow,
        residual_net=residual,
        ref_previous=refs[0],
        ref_own=refs[1],
        ref_next=refs[2],
    )


def test_the_side_reference_follows_each_point_whatever_frames_are_declared() -> None:
    """Declaring only the frames a batch holds (the decoder, one frame at a time) samples one side
    instead of both; the pixels are the same as with the GOP's frames declared (training, one graph)."""
    renderer = _renderer()
    ys, xs = torch.meshgrid(torch.arange(12), torch.arange(16), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    for t in renderer.gop.predicted:
        tt = torch.full_like(ys, t)
        assert torch.equal(renderer.points(tt, ys, xs, frames=(t,)), renderer.points(tt, ys, xs))
    mixed = torch.tensor([4, 8] * (ys.numel() // 2))
    before, after = renderer.points(mixed, ys, xs), renderer.points(mixed, ys, xs, frames=(4, 8))
    assert torch.equal(before, after)
    first, last = (renderer.points(torch.full_like(ys, t), ys, xs) for t in (4, 8))
    assert not torch.equal(first, last)  # the two sides differ, so the checks above could fail


def test_the_block_feed_gives_one_draw_per_step_in_order() -> None:
    counter = iter(range(1000))
    feed = steps.BlockFeed(lambda: torch.full((3, 4), next(counter)), total=5, device=torch.device("cpu"))
    assert [int(feed.next()[0, 0]) for _ in range(5)] == [0, 1, 2, 3, 4]


@NEEDS_CUDA
def test_a_captured_cuda_step_trains_exactly_as_the_eager_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph changes how the step is launched, not what it computes: the files are byte-identical."""
    video = moving_texture(48, 32, 12, dx=1)
    settings = fast_settings(device="cuda", iterations=40, gop=6)
    digests = []
    for graphs in (False, True):
        monkeypatch.setattr(steps, "CUDA_GRAPHS", graphs)
        data, _ = encode_video(video, settings)
        digests.append(hashlib.sha256(data).hexdigest())
    assert digests[0] == digests[1]


@NEEDS_CUDA
def test_the_block_feed_on_a_gpu_gives_the_cpus_draws() -> None:
    draws = [torch.randint(9, (3, 5), generator=torch.Generator().manual_seed(i)) for i in range(70)]
    feed = steps.BlockFeed(iter(draws).__next__, total=70, device=torch.device("cuda"))
    assert all(np.array_equal(feed.next().cpu().numpy(), d.numpy()) for d in draws)
