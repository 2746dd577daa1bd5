"""nrff on a real Ray cluster: a head and a second node on 127.0.0.1, started with `ray start` as a user would.

The file made through the cluster must be byte-identical to a local encode, also when a worker
process dies mid-GOP (Ray retries the GOP); a GOP that fails every retry ends the encode with one
error naming it, the finished GOPs kept in the work folder. Skipped where Ray is not installed
(CI installs the `ray` extra).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nrffcodec import encode_video
from nrffcodec.encoder.runner import LocalRunner
from nrffcodec.errors import ResourceError

from .clips import moving_texture
from .conftest import fast_settings

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # a dependency of Ray's

from nrffcodec.app import cluster as cluster_module  # noqa: E402  # after the skip: it is only for Ray
from nrffcodec.app import ray_join  # noqa: E402  # after the skip: it is only for Ray
from nrffcodec.app.cluster import CRASH_ENV, RayRunner  # noqa: E402  # after the skip: it is only for Ray

SETTINGS = dict(iterations=20, gop=4, quality=2, jobs=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_flags() -> list[str]:
    return [
        "--num-cpus",
        "1",
        "--node-ip-address",
        "127.0.0.1",
        "--object-store-memory",
        str(80 << 20),
        "--disable-usage-stats",
    ]


def _ray_command() -> list[str]:
    """`ray`, under `nice -n N` with NRFF_TEST_RAY_NICE=N: on a machine loaded far past its cores the
    agents of `ray start` can miss their 15 s start-up window (ray-project/ray#65983); CI needs none."""
    nice = os.environ.get("NRFF_TEST_RAY_NICE")
    return (["nice", "-n", nice] if nice else []) + [str(Path(sys.executable).with_name("ray"))]


def _ray_processes(since: float) -> list[psutil.Process]:
    """This user's Ray processes started since `since` (the cluster's daemons and workers)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline", "create_time", "uids"]):
        info = process.info
        text = " ".join(info["cmdline"] or []) + " " + (info["name"] or "")
        mine = info["create_time"] >= since and info["uids"] and info["uids"].real == os.getuid()
        if mine and any(k in text for k in ("raylet", "gcs_server", "ray::", "ray/dashboard", "default_worker")):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The address of a two-node Ray cluster on 127.0.0.1 (1 CPU each), stopped afterwards."""
    started = time.time() - 1
    temp = tempfile.mkdtemp(prefix="nrffray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    # Ray turns token auth on for a head node when ~/.ray/auth_token exists (any local ray.init writes
    # one) but not for a node joining it: this cluster, and the tests' driver, say their mode instead
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    driver_env = pytest.MonkeyPatch()
    driver_env.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ray_cmd = _ray_command()
    head = [*ray_cmd, "start", "--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp]
    second = [*ray_cmd, "start", "--address", address]
    try:
        for command in (head + _node_flags(), second + _node_flags()):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
            assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-2000:]}"
        yield address
    finally:
        ray.shutdown()
        driver_env.undo()
        subprocess.run([*ray_cmd, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
        deadline = time.time() + 20
        while _ray_processes(started) and time.time() < deadline:
            time.sleep(0.5)
        assert not _ray_processes(started), "ray stop left processes behind"


@pytest.fixture(scope="module")
def local_encode() -> tuple[object, bytes]:
    video = moving_texture(48, 32, 12, dx=1)
    data, _ = encode_video(video, fast_settings(**SETTINGS), runner=LocalRunner(1))
    return video, data


def test_cluster_encode_is_the_local_file_even_when_a_worker_dies(
    cluster: str, local_encode: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video, local = local_encode
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"1:{marker}")  # GOP 1's first worker dies mid-GOP
    runner = RayRunner(cluster)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    done: list[tuple[int, int]] = []
    data, report = encode_video(
        video, fast_settings(**SETTINGS), progress=lambda n, total, text: done.append((n, total)), runner=runner
    )
    assert marker.exists(), "the crash hook did not run: no GOP was retried"
    assert not psutil.pid_exists(int(marker.read_text())), "the crashed worker is still alive"
    assert data == local
    assert done[-1][0] == done[-1][1] > 0  # progress counted every GOP's steps, the retried one included


def test_a_gop_failing_every_retry_is_named_and_finished_ones_are_kept(
    cluster: str, local_encode: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nrffcodec.app.workdir import Workdir, job_key

    video, _ = local_encode
    monkeypatch.setenv(CRASH_ENV, "2:always")
    monkeypatch.setattr(cluster_module, "MAX_RETRIES", 1)
    settings = fast_settings(**SETTINGS)
    store = Workdir(tmp_path / "work", job_key(video, settings, "cpu"), lambda text: None)
    with pytest.raises(ResourceError, match="GOP 2 failed on the Ray cluster after 1 retries"):
        encode_video(video, settings, store=store, runner=RayRunner(cluster))
    kept = sorted(p.name for p in (tmp_path / "work").glob("gop-*.nrw"))
    assert kept == ["gop-000000.nrw", "gop-000001.nrw"]


GOP1 = dict(quality=8, gop=1, keyframe_period=1, jobs=1)  # intra every 8 frames: stretches of 8, 8 and 4


def test_the_keyframe_chain_is_coded_on_the_cluster_with_the_local_bytes(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = moving_texture(16, 16, 20, dx=1)
    local, _ = encode_video(video, fast_settings(**GOP1), runner=LocalRunner(1))
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"8:{marker}")  # the first worker coding the second stretch dies
    counts: list[tuple[int, int, str]] = []

    def stage(name: str):
        return (lambda done, total, info: counts.append((done, total, info))) if name == "keyframes" else None

    data, _ = encode_video(video, fast_settings(**GOP1), runner=RayRunner(cluster), stages=stage)
    assert marker.exists(), "the crash hook did not run: no stretch was retried"
    assert data == local
    assert list(dict.fromkeys((done, total) for done, total, _ in counts)) == [(n, 20) for n in range(1, 21)]
    assert len(counts) == 20 + 3  # each picture once, and each stretch as it came back
    # the pictures came from the tasks as they were taken, before their stretch was back
    assert counts[0][2] == "0/3 stretches" and counts[-1][2] == "3/3 stretches", counts
    assert {info for done, total, info in counts if done == total} == {"3/3 stretches"}  # full = coded


def test_a_stretch_failing_every_retry_is_named_and_finished_ones_are_kept(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nrffcodec.app.workdir import Workdir, job_key

    video = moving_texture(16, 16, 20, dx=1)
    monkeypatch.setenv(CRASH_ENV, "16:always")
    monkeypatch.setattr(cluster_module, "MAX_RETRIES", 1)
    settings = fast_settings(**GOP1)
    store = Workdir(tmp_path / "work", job_key(video, settings, "cpu"), lambda text: None)
    with pytest.raises(ResourceError, match="keyframes of GOPs 16-19 failed on the Ray cluster after 1 retries"):
        encode_video(video, settings, store=store, runner=RayRunner(cluster))
    kept = sorted(p.name for p in (tmp_path / "work").glob("keyframes-*.nrw"))
    assert len(kept) == 2, kept


@pytest.mark.parametrize(
    "address, env, token_file, expected",
    [
        ("127.0.0.1:6379", {}, True, "token"),  # a head started here turned token auth on: follow it
        ("127.0.0.1:6379", {}, False, None),  # no token here: Ray's default
        ("127.0.0.1:6379", {"RAY_AUTH_TOKEN": "x" * 32}, False, "token"),
        ("127.0.0.1:6379", {"RAY_AUTH_MODE": "disabled"}, True, "disabled"),  # said by the user: kept
        ("auto", {}, True, None),  # Ray decides these itself
        ("local", {}, True, None),
        ("ray://10.0.0.1:10001", {}, True, None),
    ],
)
def test_a_driver_given_host_port_follows_the_token_auth_of_this_machine(
    address: str, env: dict[str, str], token_file: bool, expected: str | None, tmp_path, monkeypatch
) -> None:
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    if token_file:
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("y" * 32)
    ray_join.follow_token_auth(address)
    assert os.environ.get("RAY_AUTH_MODE") == expected
