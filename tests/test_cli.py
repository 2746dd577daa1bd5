"""The nrff command through click's CliRunner: happy paths, one-line errors, exit codes."""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nrffcodec import __version__
from nrffcodec.app.cli import cli

ENCODE_FAST = ["--preset", "fast", "--iterations", "30", "--gop", "6", "--device", "cpu", "--jobs", "1"]


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nrff: error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture(scope="module")
def cli_encoded(tmp_path_factory, clip_path):
    out = tmp_path_factory.mktemp("cli") / "clip.nrf"
    result = run("encode", clip_path, out, *ENCODE_FAST, "--iterations", "200", "--json")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in out.parent.iterdir()] == [out.name], "the encoder's own files were left beside it"
    return out, json.loads(result.stdout)


def test_version_names_the_format_torch_and_ffmpeg() -> None:
    from bitstream import FORMAT_MAJOR, FORMAT_MINOR

    result = run("--version")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"nrff {__version__}" and f".nrf format {FORMAT_MAJOR}.{FORMAT_MINOR}" in lines
    assert any(line.startswith("torch ") for line in lines) and any(line.startswith("FFmpeg ") for line in lines)


def test_encode_reports_file_bytes_and_quality(cli_encoded) -> None:
    path, report = cli_encoded
    assert report["bytes"] == path.stat().st_size
    assert report["quality"]["psnr_rgb"] > 20 and report["quality"]["psnr_yuv"] > 20
    assert report["keyframe_bytes"] + report["network_bytes"] + report["container_bytes"] == report["bytes"]
    assert 0 <= report["pilot_seconds"] + report["train_seconds"] <= report["seconds"]


def test_info_json_total_equals_file_size(cli_encoded) -> None:
    path, _ = cli_encoded
    result = run("info", path, "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["bytes"]["total"] == path.stat().st_size
    assert info["bytes"]["keyframes"] + info["bytes"]["networks"] + info["bytes"]["container"] == info["bytes"]["total"]
    assert len(info["gops"]) == 2 and info["header"]["video"]["width"] == 48
    text = run("info", path)
    assert text.exit_code == 0 and "bits/weight" in text.output
    frames = info["header"]["video"]["frame_count"]
    assert info["frames"] == {"rendered_by_fields": frames - 2, "coded_by_keyframe_codec": 2, "fallback": False}
    assert f"frames: {frames - 2} rendered by the fields, 2 coded by the keyframe codec\n" in text.output


def test_info_says_when_a_file_is_the_keyframe_codec_alone(clip_path, tmp_path) -> None:
    out = tmp_path / "g1.nrf"
    assert run("encode", clip_path, out, *ENCODE_FAST, "--gop", "1", "--frames", "0:3").exit_code == 0
    info = json.loads(run("info", out, "--json").stdout)
    assert info["frames"] == {"rendered_by_fields": 0, "coded_by_keyframe_codec": 3, "fallback": True}
    assert info["bytes"]["networks"] == 0 and all(g["network_bytes"] == 0 for g in info["gops"])
    text = run("info", out).output
    assert "fallback: every frame a keyframe, no networks" in text
    assert "networks: none stored" in text and "flow network" not in text  # format 4: no architecture either
    assert info["header"]["networks"] is False and "flow" not in info["header"]
    assert info["tensors_with_channel_steps"] == [0, 0]  # no tensor stored, none counted


def test_info_names_the_keyframe_codec_and_explains_the_keyframe_bytes(cli_encoded) -> None:
    path, _ = cli_encoded
    info = json.loads(run("info", path, "--json").stdout)
    header = info["header"]
    assert (header["keyframe_codec"], header["video"]["pixel_format"], header["video"]["matrix"]) == (
        "av1",
        "yuv420p",
        "bt601",
    )
    pset = info["keyframe_parameter_set_bytes"]
    assert pset > 0 and sum(g["keyframe_bytes"] for g in info["gops"]) + pset == info["bytes"]["keyframes"]
    text = run("info", path).output
    assert "keyframes: AV1" in text and "every 16th intra (period 16)" in text and "key = " in text
    assert f"= {info['bytes']['keyframes'] - pset:,} in the GOPs + {pset:,}" in text
    assert [line.split()[3] for line in text.splitlines() if line.startswith(("  0 ", "  1 "))] == ["I", "P"]


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv", "out.y4m", "out.yuv", "pngs"])
def test_decode_to_every_output_kind(cli_encoded, tmp_path, name: str) -> None:
    path, _ = cli_encoded
    out = tmp_path / name
    result = run("decode", path, out, "--device", "cpu", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_a_raw_yuv_output_is_the_y4ms_frames_and_reads_back_as_told(cli_encoded, tmp_path) -> None:
    from nrffcodec.media.raw import InputFormat
    from nrffcodec.media.reader import read_video

    path, _ = cli_encoded
    result = run("decode", path, tmp_path / "out.yuv", "--frames", "2:5")
    assert "note: a raw .yuv file says nothing of its frames: 48x32 yuv420p, 25 fps, BT.601 limited range" in (
        result.stderr
    )
    assert run("decode", path, tmp_path / "out.y4m", "--frames", "2:5", "-q").exit_code == 0
    y4m = read_video(tmp_path / "out.y4m")
    raw = read_video(tmp_path / "out.yuv", form=InputFormat(size=(48, 32)))
    assert raw.frame_count == 3 and all(np.array_equal(getattr(raw, p), getattr(y4m, p)) for p in "yuv")


def test_decode_frame_range_to_pngs_named_by_source_frame_with_normal_permissions(cli_encoded, tmp_path) -> None:
    path, _ = cli_encoded
    umask = os.umask(0o022)
    try:
        result = run("decode", path, tmp_path / "part", "--frames", "2:5", "-q")
    finally:
        os.umask(umask)
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == [f"frame_00000{t}.png" for t in (2, 3, 4)]
    assert (tmp_path / "part").stat().st_mode & 0o777 == 0o755


def test_a_range_past_the_end_says_what_it_decodes(cli_encoded, tmp_path) -> None:
    path, _ = cli_encoded
    result = run("decode", path, tmp_path / "end.y4m", "--frames", "10:40")
    assert result.exit_code == 0
    assert "note: --frames end 40 is past the file's 12 frames: decoded 10:12" in result.stderr


def test_an_existing_output_needs_overwrite(cli_encoded, clip_path, tmp_path) -> None:
    path, _ = cli_encoded
    taken = tmp_path / "taken.mkv"
    taken.write_bytes(b"keep me")
    assert "-y (--overwrite)" in _one_line_error(run("decode", path, taken))
    assert taken.read_bytes() == b"keep me"
    assert run("decode", path, taken, "-y", "-q").exit_code == 0 and taken.read_bytes() != b"keep me"
    nrf = tmp_path / "taken.nrf"
    nrf.write_bytes(b"keep me")
    assert "-y (--overwrite)" in _one_line_error(run("encode", clip_path, nrf, *ENCODE_FAST))
    assert "overwrite the input" in _one_line_error(run("decode", path, path, "-y"))


def test_overwrite_replaces_a_png_folder_only_when_it_holds_frames_alone(cli_encoded, tmp_path) -> None:
    path, _ = cli_encoded
    folder = tmp_path / "frames"
    assert run("decode", path, folder, "--frames", "0:2", "-q").exit_code == 0
    assert run("decode", path, folder, "--frames", "3:4", "-q", "-y").exit_code == 0
    assert [p.name for p in folder.iterdir()] == ["frame_000003.png"]
    (folder / "notes.txt").write_text("mine")
    assert "notes.txt" in _one_line_error(run("decode", path, folder, "-q", "-y"))
    assert (folder / "notes.txt").exists()


def test_quiet_encode_prints_nothing(clip_path, tmp_path) -> None:
    result = run("encode", clip_path, tmp_path / "q.nrf", *ENCODE_FAST, "--frames", "0:6", "-q")
    assert result.exit_code == 0 and result.output == ""


def test_missing_input(tmp_path) -> None:
    assert "not found" in _one_line_error(run("encode", tmp_path / "none.mp4", tmp_path / "o.nrf"))
    assert "not" in _one_line_error(run("decode", tmp_path / "none.nrf", tmp_path / "o.mp4"))


def test_non_video_input(tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello " * 100)
    line = _one_line_error(run("encode", junk, tmp_path / "o.nrf", *ENCODE_FAST))
    assert "video" in line


def test_refuses_to_overwrite_the_input(clip_path, cli_encoded) -> None:
    assert "overwrite the input" in _one_line_error(run("encode", clip_path, clip_path, *ENCODE_FAST))
    path, _ = cli_encoded
    assert "overwrite the input" in _one_line_error(run("decode", path, path.with_suffix(".nrf")))


def test_unwritable_output(clip_path, tmp_path) -> None:
    line = _one_line_error(run("encode", clip_path, tmp_path / "no" / "such" / "dir.nrf", *ENCODE_FAST))
    assert "does not exist" in line


def test_frames_outside_the_clip(clip_path, tmp_path) -> None:
    line = _one_line_error(run("encode", clip_path, tmp_path / "o.nrf", *ENCODE_FAST, "--frames", "100:200"))
    assert "outside" in line


def test_truncated_nrf(cli_encoded, tmp_path) -> None:
    path, _ = cli_encoded
    cut = tmp_path / "cut.nrf"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size - 7])
    assert "truncated" in _one_line_error(run("decode", cut, tmp_path / "o.mkv"))
    assert "truncated" in _one_line_error(run("info", cut))


def test_keyframe_qp_sets_the_rate_between_two_qualities(clip_path, tmp_path) -> None:
    """--keyframe-qp replaces the quality's QP: each step down costs bytes and buys PSNR, the report names it."""
    reports = {}
    for qp in (40, 44, 48):
        result = run(
            "encode", clip_path, tmp_path / f"{qp}.nrf", *ENCODE_FAST, "--gop", "1", "--keyframe-qp", qp, "--json"
        )
        assert result.exit_code == 0, result.stderr
        reports[qp] = json.loads(result.stdout)
        assert reports[qp]["keyframe_qp"] == qp
    sizes = [reports[qp]["bytes"] for qp in (40, 44, 48)]
    psnrs = [reports[qp]["quality"]["psnr_yuv"] for qp in (40, 44, 48)]
    assert sizes[0] > sizes[1] > sizes[2] and psnrs[0] > psnrs[1] > psnrs[2], (sizes, psnrs)
    for bad in ("0", "64"):
        line = _one_line_error(run("encode", clip_path, tmp_path / "o.nrf", "--keyframe-qp", bad))
        assert "'--keyframe-qp'" in line and bad in line
    assert not (tmp_path / "o.nrf").exists()


def test_stats_give_each_frame_as_the_report_gives_the_clip(clip_path, tmp_path) -> None:
    import csv

    out, stats = tmp_path / "s.nrf", tmp_path / "s.csv"
    result = run("encode", clip_path, out, *ENCODE_FAST, "--stats", stats, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    report, rows = json.loads(result.stdout), list(csv.DictReader(stats.open()))
    info = json.loads(run("info", out, "--json").stdout)
    assert [int(r["frame"]) for r in rows] == list(range(report["frames"]))
    assert [int(r["gop"]) for r in rows if r["coded_by"] == "keyframe"] == [g["gop"] for g in info["gops"]]
    assert sum(int(r["bytes"]) for r in rows) == sum(g["bytes"] for g in info["gops"])
    rgb = sum(float(r["psnr_rgb"]) for r in rows) / len(rows)  # the report's mean of per-frame PSNR
    assert abs(rgb - report["quality"]["psnr_rgb"]) < 1e-3
    again = run("encode", clip_path, tmp_path / "t.nrf", *ENCODE_FAST, "--stats", stats)
    assert "-y (--overwrite)" in _one_line_error(again) and not (tmp_path / "t.nrf").exists()
    assert "another file than OUT" in _one_line_error(run("encode", clip_path, out, "--stats", out, "-y"))


def test_corrupted_nrf_names_the_problem(cli_encoded, tmp_path) -> None:
    path, _ = cli_encoded
    data = bytearray(path.read_bytes())
    data[-30] ^= 0xFF  # inside the last GOP chunk
    bad = tmp_path / "bad.nrf"
    bad.write_bytes(bytes(data))
    line = _one_line_error(run("decode", bad, tmp_path / "o.mkv"))
    assert "CRC" in line and "GOPC" in line
    assert not (tmp_path / "o.mkv").exists()


def test_usage_errors_read_like_nrffs_own(clip_path, tmp_path) -> None:
    line = _one_line_error(run("encode", clip_path, tmp_path / "o.nrf", "--quality", "99"))
    assert "'--quality'" in line and "99" in line and line.endswith("(see nrff encode --help)")
    assert "missing argument 'OUT'" in _one_line_error(run("decode", clip_path))
    assert "no such option" in _one_line_error(run("decode", clip_path, tmp_path / "o.mkv", "--fast"))
    _one_line_error(run("decode", clip_path, tmp_path / "o.avi"))


def test_swapped_commands_say_which_is_meant(cli_encoded, clip_path, tmp_path) -> None:
    """An .nrf given to encode, a video given to decode or info, a video name for encode's output: one
    line naming the other command."""
    path, _ = cli_encoded
    line = _one_line_error(run("encode", clip_path, tmp_path / "o.mp4"))
    assert f"name it {tmp_path / 'o.nrf'} (nrff decode writes .mp4 files)" in line
    assert f"{path} is an .nrf file, nrff's own: decode it with nrff decode" in _one_line_error(
        run("encode", path, tmp_path / "o.nrf")
    )
    for command in (("decode", clip_path, tmp_path / "o.mkv"), ("info", clip_path)):
        line = _one_line_error(run(*command))
        assert f"{clip_path} is not an .nrf file: to encode a video, run nrff encode {clip_path} OUT.nrf" in line
    assert not any(tmp_path.iterdir())


def test_a_ray_address_nothing_listens_on_fails_at_once(tmp_path, clip_path) -> None:
    """ray.init retries a dead HOST:PORT for minutes; nrff checks it first and says so in one line."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens on it
    result = run("encode", str(clip_path), str(tmp_path / "out.nrf"), "--ray", f"127.0.0.1:{port}")
    line = _one_line_error(result)
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in line
    assert not (tmp_path / "out.nrf").exists()


def test_a_disk_that_fills_while_the_file_is_written_is_one_line_and_leaves_nothing(
    tmp_path, clip_path, monkeypatch
) -> None:
    """The file is written at the very end of a long encode: a full disk there is one line, no output
    and no temporary file beside it."""
    from nrffcodec.encoder import pack

    def full(path, *args):
        Path(path).write_bytes(b"NRFF")  # part of a file, as a write cut short leaves it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pack, "write_nrf_file", full)
    out = tmp_path / "out" / "clip.nrf"
    out.parent.mkdir()
    line = _one_line_error(run("encode", clip_path, out, *ENCODE_FAST, "--gop", "1", "-q"))
    assert f"cannot write the file in {out.parent}:" in line and "No space left on device" in line, line
    assert list(out.parent.iterdir()) == []


def test_a_disk_that_fills_while_work_waits_on_it_is_one_line_and_leaves_nothing(
    tmp_path, clip_path, monkeypatch
) -> None:
    """The keyframes wait on disk from the moment they are coded, long before the file is written
    (decision 0076): a full disk then is one line too, and nothing is left beside the output."""
    from nrffcodec.encoder import spool

    real = spool.tempfile.TemporaryFile

    class Full:
        def __init__(self, **kwargs) -> None:
            self._file = real(**kwargs)

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name: str):
            return getattr(self._file, name)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc) -> None:
            self._file.close()

    monkeypatch.setattr(spool.tempfile, "TemporaryFile", lambda **kwargs: Full(**kwargs))
    out = tmp_path / "out" / "clip.nrf"
    out.parent.mkdir()
    line = _one_line_error(run("encode", clip_path, out, *ENCODE_FAST, "--gop", "1", "-q"))
    assert f"cannot keep the encode's work on disk in {out.parent}:" in line and "No space left" in line, line
    assert list(out.parent.iterdir()) == []
