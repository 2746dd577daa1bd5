"""`--workdir`: finished GOPs kept on disk in a versioned, checked format, reused only by the same encode."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from pathlib import Path

import pytest

import nrffcodec
import nrffcodec.app.workdir
import nrffcodec.encoder.runner
from bitstream import BitstreamError, GopChunk
from bitstream.container import PREAMBLE
from bitstream.workfile import (
    WORK_MAJOR,
    StaleWorkError,
    read_finished_gop,
    read_keyframes,
    write_finished_gop,
    write_keyframes,
)
from nrffcodec import encode_video
from nrffcodec.app.workdir import Workdir, job_key
from nrffcodec.core.fields import network_shapes
from nrffcodec.core.keyframes import KeyframeCoder
from nrffcodec.version import encoder_digest, source_digest

from .clips import moving_texture
from .conftest import fast_settings
from .nrf_tools import parts

SETTINGS = fast_settings(iterations=8, quality=1, gop=3)
KEY, OTHER_KEY = b"k" * 32, b"o" * 32


@pytest.fixture(scope="module")
def clip():
    return moving_texture(16, 16, 6, dx=1)


@pytest.fixture(scope="module")
def reference(clip) -> bytes:
    """The file an encode without a work folder writes."""
    return encode_video(clip, SETTINGS)[0]


def _encode(clip, folder, settings=SETTINGS) -> tuple[bytes, list[str]]:
    lines: list[str] = []
    store = Workdir(folder, job_key(clip, settings, "cpu"), lines.append)
    data, _ = encode_video(clip, settings, log=lines.append, store=store)
    return data, lines


def _no_training(monkeypatch) -> None:
    def refuse(task):
        raise AssertionError(f"GOP {task.gop.index} trained again")

    monkeypatch.setattr(nrffcodec.encoder.runner, "train_gop", refuse)


def test_a_rerun_reuses_every_gop_and_writes_the_same_file(clip, reference, tmp_path, monkeypatch) -> None:
    first, _ = _encode(clip, tmp_path / "work")
    assert first == reference
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "gop-000000.nrw",
        "gop-000001.nrw",
        "keyframes-00000000-00000006-2.nrw",
    ]
    _no_training(monkeypatch)
    again, lines = _encode(clip, tmp_path / "work")
    assert again == reference and any("2 GOPs already trained" in line for line in lines)


def test_a_damaged_gop_file_is_trained_again(clip, reference, tmp_path) -> None:
    _encode(clip, tmp_path)
    damaged = tmp_path / "gop-000001.nrw"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x40
    damaged.write_bytes(bytes(data))
    again, lines = _encode(clip, tmp_path)
    assert again == reference
    assert any("gop-000001.nrw not reused" in line and "CRC" in line for line in lines)


def test_a_different_command_never_reuses_the_work(clip, tmp_path, monkeypatch) -> None:
    _encode(clip, tmp_path)
    other = dataclasses.replace(SETTINGS, seed=7)
    data, lines = _encode(clip, tmp_path, other)
    assert data == encode_video(clip, other)[0]
    assert any("keyframes-00000000-00000006-2.nrw not reused" in line and "different encode" in line for line in lines)
    assert not any("already trained" in line for line in lines)
    _no_training(monkeypatch)  # the folder now holds the new command's work, complete
    assert _encode(clip, tmp_path, other)[0] == data


def test_other_source_frames_are_another_command(clip, tmp_path) -> None:
    _encode(clip, tmp_path)
    changed = dataclasses.replace(clip, y=clip.y.copy())
    changed.y[-1, 0, 0] ^= 1
    _, lines = _encode(changed, tmp_path)
    assert not any("already trained" in line for line in lines)


def test_work_left_by_other_encoder_code_is_not_reused(clip, tmp_path, monkeypatch) -> None:
    """Same version and settings, changed training code: the old GOPs would be valid files of another encoder."""
    _encode(clip, tmp_path)
    monkeypatch.setattr(nrffcodec.app.workdir, "encoder_digest", lambda: "0" * 64)
    _, lines = _encode(clip, tmp_path)
    assert any("keyframes-00000000-00000006-2.nrw not reused" in line for line in lines)
    assert not any("already trained" in line for line in lines)


def test_an_interrupted_keyframe_chain_resumes_after_its_finished_stretches(tmp_path, monkeypatch) -> None:
    """At GOP length 1 the chain is the whole encode: a kill keeps every stretch already coded."""
    clip = moving_texture(16, 16, 20, dx=1)
    settings = fast_settings(quality=8, gop=1, keyframe_period=1)  # intra every 8 frames: 8, 8 and 4
    reference = encode_video(clip, settings)[0]
    coded = []
    original = KeyframeCoder.encode_sequence

    def interrupted(self, pictures, *args, **kwargs):
        pictures = list(pictures)
        if len(coded) == 2:
            raise KeyboardInterrupt
        coded.append(len(pictures))
        return original(self, pictures, *args, **kwargs)

    monkeypatch.setattr(KeyframeCoder, "encode_sequence", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _encode(clip, tmp_path, settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "keyframes-00000000-00000008-8.nrw",
        "keyframes-00000008-00000016-8.nrw",
    ]
    coded.clear()
    again, lines = _encode(clip, tmp_path, settings)
    assert again == reference and coded == [4]
    assert any("2 stretches of keyframes already coded" in line for line in lines)


def test_the_encoder_digest_covers_every_module_of_the_codec(tmp_path) -> None:
    """A change to a module deep in a subpackage must change the digest, or stale work would be reused."""
    root = Path(nrffcodec.__file__).resolve().parent
    copies = [tmp_path / "nrffcodec", tmp_path / "bitstream"]
    shutil.copytree(root, copies[0], ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root.parent / "bitstream", copies[1], ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copies) == encoder_digest()
    for module in (copies[0] / "core" / "quant.py", copies[1] / "entropy.py"):
        original = module.read_bytes()
        module.write_bytes(original + b"\n# changed\n")
        assert source_digest(copies) != encoder_digest(), module
        module.write_bytes(original)


# ---------------------------------------------------------------- the work-file format


@pytest.fixture(scope="module")
def gop_chunk(reference) -> tuple[GopChunk, list[bytes], list]:
    header, parameter_sets, chunks = parts(reference)
    return chunks[0], parameter_sets, network_shapes(header)


def test_work_files_round_trip_and_check_their_key(gop_chunk) -> None:
    chunk, parameter_sets, shapes = gop_chunk
    data = write_finished_gop(KEY, chunk)
    back = read_finished_gop(data, KEY, shapes, len(parameter_sets))
    assert back.keyframe == chunk.keyframe and write_finished_gop(KEY, back) == data
    with pytest.raises(StaleWorkError, match="different encode"):
        read_finished_gop(data, OTHER_KEY, shapes, len(parameter_sets))
    record = dataclasses.replace(chunk, networks=[])
    sets, records = read_keyframes(write_keyframes(KEY, parameter_sets, [record]), KEY)
    assert sets == parameter_sets and records[0].keyframe == chunk.keyframe


def test_work_files_of_another_major_version_are_refused_naming_both(gop_chunk) -> None:
    chunk, parameter_sets, shapes = gop_chunk
    data = bytearray(write_finished_gop(KEY, chunk))
    struct.pack_into("<B", data, PREAMBLE.size - 2, WORK_MAJOR + 1)
    with pytest.raises(BitstreamError, match=rf"version {WORK_MAJOR + 1}\.0 .* {WORK_MAJOR}\.x"):
        read_finished_gop(bytes(data), KEY, shapes, len(parameter_sets))


def test_every_truncation_of_a_work_file_is_refused(gop_chunk) -> None:
    chunk, parameter_sets, shapes = gop_chunk
    data = write_finished_gop(KEY, chunk)
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            read_finished_gop(data[:cut], KEY, shapes, len(parameter_sets))
