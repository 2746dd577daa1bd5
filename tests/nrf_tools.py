"""Helpers for tests that damage or craft .nrf files: small real encodes, the section walk, CRC resealing.

Seeds come from the real encoder (never hand-written bytes), so these tests follow the format
when its version or fields change. Only the section framing (tag, length, payload, CRC-32 after
a fixed preamble) is assumed, through the container's own constants.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import signal
import zlib
from collections.abc import Iterator

import numpy as np

from bitstream import add_audio, write_nrf
from bitstream.container import CRC, PREAMBLE, SECTION_HEAD
from nrffcodec import EncodeSettings, encode_video
from nrffcodec.decoder import file_parts as parts  # the tests import it from here too
from nrffcodec.encoder.runner import single_thread as one_thread

from .audio_clips import synthetic_stream
from .clips import moving_texture

TINY = dict(preset="fast", iterations=5, quality=1, device="cpu", jobs=1)


def tiny_encodes() -> dict[str, bytes]:
    """Small valid files: two GOPs at an odd size, the same with an audio section, a single frame, and
    keyframes only (no networks blocks: one KHDR, and the same as a KPAK, a KSTR and a KRUN); and two in the
    3.x layout this nrff still reads (3.2 with audio, 3.4 with a KSTR)."""
    two_gops, _ = encode_video(moving_texture(18, 10, 5, dx=1), EncodeSettings(gop=2, **TINY))
    one_frame, _ = encode_video(moving_texture(9, 7, 1), EncodeSettings(gop=1, **TINY))
    keyframes_only, _ = encode_video(moving_texture(12, 8, 3, dx=1), EncodeSettings(gop=1, **TINY))
    with_audio = add_audio(two_gops, [synthetic_stream(6)])
    keyframes_krun = write_nrf(*parts(keyframes_only), stream_runs=False).data
    keyframes_kstr = write_nrf(*parts(keyframes_only), packed_runs=False).data
    keyframes_kpak = write_nrf(*parts(keyframes_only), header_runs=False).data
    return {
        "two_gops": two_gops,
        "with_audio": with_audio,
        "one_frame": one_frame,
        "keyframes_only": keyframes_only,
        "keyframes_krun": keyframes_krun,
        "keyframes_kstr": keyframes_kstr,
        "keyframes_kpak": keyframes_kpak,
        "legacy_with_audio": add_audio(write_nrf(*parts(two_gops), major=3).data, [synthetic_stream(6)]),
        "legacy_keyframes": write_nrf(*parts(keyframes_only), major=3).data,
    }


def frames_sha256(video) -> str:
    """SHA-256 of a decoded video's Y, U and V planes."""
    return hashlib.sha256(b"".join(getattr(video, p).tobytes() for p in "yuv")).hexdigest()


def sections(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload length) of each whole section, walking from the preamble; stops at the first that overruns."""
    out, pos = [], PREAMBLE.size
    while pos + SECTION_HEAD.size <= len(data):
        _, length = SECTION_HEAD.unpack_from(data, pos)
        end = pos + SECTION_HEAD.size + length + CRC.size
        if end > len(data):
            break
        out.append((pos, length))
        pos = end
    return out


def tags(data: bytes) -> list[bytes]:
    """Each whole section's tag, in order."""
    return [data[o : o + 4] for o, _ in sections(data)]


def same_frames(a, b) -> bool:
    """Whether two decoded videos hold the same Y, U and V planes."""
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in "yuv")


def as_kstr(data: bytes) -> bytes:
    """The same encode with its AV1 runs stored as KSTR sections, as 4.0 wrote them."""
    return write_nrf(*parts(data), packed_runs=False).data


def keyframe_run_encode() -> bytes:
    """Ten one-frame GOPs (the keyframe codec alone), keyframe period 4: one run, intra keyframes inside it."""
    with one_thread():
        data, _ = encode_video(moving_texture(16, 12, 10, dx=1), EncodeSettings(gop=1, keyframe_period=4, **TINY))
    return data


def _crc_at(data: bytes, offset: int, length: int) -> tuple[int, int]:
    """(stored, computed) CRC of the section at `offset`."""
    body_end = offset + SECTION_HEAD.size + length
    (stored,) = CRC.unpack_from(data, body_end)
    return stored, zlib.crc32(data[offset:body_end])


def all_crcs_match(data: bytes) -> bool:
    """Sections tile the file exactly after the preamble and every CRC matches."""
    found = sections(data)
    if not found:
        return False
    last_offset, last_length = found[-1]
    if last_offset + SECTION_HEAD.size + last_length + CRC.size != len(data):
        return False
    return all(stored == computed for stored, computed in (_crc_at(data, o, n) for o, n in found))


def reseal(data: bytes) -> bytes:
    """Recompute every whole section's CRC: damage inside a payload then passes the CRC checks."""
    out = bytearray(data)
    for offset, length in sections(data):
        CRC.pack_into(out, offset + SECTION_HEAD.size + length, _crc_at(bytes(out), offset, length)[1])
    return bytes(out)


class CaseTimeout(Exception):
    """A single fuzz case ran past its time bound (a hang)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout when the block runs longer than `seconds`.

    A hang inside C code never returns to Python to see the alarm: at three times the bound
    faulthandler prints every thread's stack and ends the process, so CI fails instead of stalling.
    """

    def expire(signum, frame):
        raise CaseTimeout(f"case still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(3 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
