"""How many times its own size the writer holds a long file: write_nrf and add_audio, by tracemalloc,
and write_nrf_file and add_audio_file, which write to disk (decision 0075).

A GOP-1 encode of a long synthetic clip (a panning texture, benchmarks/memory.py's) is made once;
the arguments of its last write_nrf call are kept, and write_nrf is run again under tracemalloc,
then add_audio on its bytes with a small audio stream. Each peak of Python allocations is given
in units of the file's size, the result included (decision 0073). Run by hand (about a minute on
a 2-core CPU):

    python benchmarks/write_memory.py
    python benchmarks/write_memory.py --frames 600 --size 96x64
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from common import size_type  # after the path insert, like the other benchmarks
from memory import panning_frames

import bitstream.writer as writer
from bitstream import AudioPacket, AudioParams, AudioStream, add_audio, add_audio_file
from nrffcodec.core.video import Video
from nrffcodec.encoder import pack
from nrffcodec.encoder.pipeline import encode_video
from nrffcodec.settings import EncodeSettings


def audio_stream(packets: int = 12) -> AudioStream:
    """A few AAC-like packets of random bytes (never decoded)."""
    rng = np.random.default_rng(0)
    params = AudioParams(
        sample_rate=48000, channels=2, time_base_num=1, time_base_den=48000, frame_size=1024, bit_rate=0, origin=0
    )
    out = tuple(
        AudioPacket(bytes(rng.integers(0, 256, 8, dtype=np.uint8)), 1024 * i, 1024 * i, 1024, True)
        for i in range(packets)
    )
    return AudioStream(params, "aac", "stereo", b"\x11\x90", out)


def write_arguments(frames: int, width: int, height: int) -> tuple[tuple, dict]:
    """The arguments of the file's write_nrf call in a GOP-1 encode of `frames` panning frames."""
    captured = []
    original = writer.write_nrf

    def kept(*args, **kwargs):
        captured.append((args, kwargs))
        return original(*args, **kwargs)

    clip = list(panning_frames(width, height, frames, step=1))
    video = Video(*(np.concatenate([getattr(f, p) for f in clip]) for p in "yuv"), clip[0].fps)
    pack.write_nrf = kept
    try:
        encode_video(video, EncodeSettings(gop=1, quality=8, preset="fast", device="cpu", keyframe_period=1))
    finally:
        pack.write_nrf = original
    return captured[-1]


def peak_over(call, size_of) -> tuple[int, float]:
    """(size, peak allocations over size) of `call()`, measured from its start."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = call()
    return size_of(result), (tracemalloc.get_traced_memory()[1] - base) / size_of(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--size", type=size_type, default=(96, 64), help="WxH (default 96x64)")
    args = parser.parse_args(argv)
    width, height = args.size
    call_args, call_kwargs = write_arguments(args.frames, width, height)
    tracemalloc.start()
    size, write_peak = peak_over(lambda: writer.write_nrf(*call_args, **call_kwargs).data, len)
    data = writer.write_nrf(*call_args, **call_kwargs).data
    with_audio, audio_peak = peak_over(lambda: add_audio(data, [audio_stream()]), len)
    with tempfile.TemporaryDirectory(prefix="nrff-write-") as folder:
        video_only, whole = Path(folder) / "video.nrf", Path(folder) / "whole.nrf"
        write_file = functools.partial(writer.write_nrf_file, video_only, *call_args, **call_kwargs)
        _, file_peak = peak_over(write_file, lambda _: size)
        assert video_only.read_bytes() == data, "write_nrf_file wrote another file"
        add_to_file = functools.partial(add_audio_file, video_only, whole, [audio_stream()])
        _, audio_file_peak = peak_over(add_to_file, lambda _: with_audio)
        assert whole.read_bytes() == add_audio(data, [audio_stream()]), "add_audio_file wrote another file"

    def held(ratio: float) -> str:
        return f"{ratio:.2f}x ({ratio * size / 2**20:.2f} MiB)"

    print(f"{args.frames} frames {width}x{height} at GOP length 1: a file of {size:,} B")
    print(f"in memory: write_nrf holds {held(write_peak)} at its peak; add_audio {held(audio_peak)}")
    print(f"to a file: write_nrf_file holds {held(file_peak)}; add_audio_file {held(audio_file_peak)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
