"""Shared fixtures: small synthetic clips on disk and one encoded file reused by many tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from nrffcodec import EncodeSettings, encode
from nrffcodec.media.writer import write_video

from .clips import moving_texture

NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
FAST = dict(preset="fast", iterations=250, quality=4, gop=6, device="cpu", jobs=1)


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 48x32, 12-frame lossless (FFV1) clip translating 1 px/frame right."""
    path = tmp_path_factory.mktemp("clips") / "moving.mkv"
    write_video(path, moving_texture(48, 32, 12, dx=1))
    return path


@pytest.fixture(scope="session")
def encoded(tmp_path_factory: pytest.TempPathFactory, clip_path: Path):
    """(nrf path, EncodeReport) for clip_path, encoded once per test session."""
    out = tmp_path_factory.mktemp("enc") / "moving.nrf"
    report = encode(clip_path, out, EncodeSettings(**FAST))
    return out, report


def fast_settings(**changes) -> EncodeSettings:
    return dataclasses.replace(EncodeSettings(**FAST), **changes)
