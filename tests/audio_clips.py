"""Clips with sound, made with PyAV, and what their audio streams hold, read the same way back."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from bitstream import AudioPacket, AudioParams, AudioStream


def clip_with_audio(
    path: Path,
    seconds: int = 10,
    fps: int = 5,
    audio_codec: str = "aac",
    rate: int = 44100,
    layout: str = "stereo",
    fmt: str | None = None,
) -> Path:
    """64x48 frames at `fps` (a moving gradient) and a 440 Hz tone, `seconds` long."""
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream("ffv1" if path.suffix == ".mkv" else "libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(audio_codec, rate=rate, layout=layout)
        for i in range(seconds * fps):
            ramp = np.add.outer(np.arange(48), np.arange(64) + 3 * i).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.stack([ramp, ramp // 2, 255 - ramp], -1), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        fmt_name = audio.codec_context.format.name
        size = audio.codec_context.frame_size or 1024
        channels = av.AudioLayout(layout).nb_channels
        for start in range(0, seconds * rate, size):
            n = min(size, seconds * rate - start)
            tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(start, start + n) / rate)
            samples = np.repeat(tone[None], channels, 0)
            frame = _audio_frame(samples, fmt_name, layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path


def _audio_frame(samples: np.ndarray, fmt: str, layout: str) -> av.AudioFrame:
    planar = fmt.endswith("p")
    kind = fmt.rstrip("p")
    if kind == "flt":
        data = samples.astype(np.float32)
    elif kind == "u8":
        data = np.round(128 + 127 * samples).astype(np.uint8)
    elif kind == "s32":
        data = np.round(2**31 * 0.999 * samples).astype(np.int32)
    else:
        data = np.round(32767 * samples).astype(np.int16)
    if not planar:
        data = data.T.reshape(1, -1)
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)


@dataclasses.dataclass
class AudioTrack:
    codec: str
    rate: int
    time_base: Fraction
    duration: Fraction | None  # the stream's declared duration in seconds
    packets: list[bytes]
    pts: list[int]
    frame_size: int


def audio_track(path: Path, index: int = 0) -> AudioTrack | None:
    """The `index`-th audio stream of `path`, None when there is none."""
    with av.open(str(path)) as container:
        if len(container.streams.audio) <= index:
            return None
        stream = container.streams.audio[index]
        packets = [p for p in container.demux(stream) if p.size]
        tb = Fraction(stream.time_base)
        duration = stream.duration * tb if stream.duration else Fraction(container.duration or 0, av.time_base)
        cc = stream.codec_context
        return AudioTrack(
            cc.name, cc.sample_rate, tb, duration, [bytes(p) for p in packets], [p.pts for p in packets], cc.frame_size
        )


def synthetic_stream(packets: int = 12, seed: int = 0) -> AudioStream:
    """A small AAC-like stream for bitstream tests (its bytes are random: never decoded)."""
    rng = np.random.default_rng(seed)
    params = AudioParams(
        sample_rate=48000, channels=2, time_base_num=1, time_base_den=48000, frame_size=1024, bit_rate=0, origin=-7
    )
    out = []
    for i in range(packets):
        data = bytes(rng.integers(0, 256, int(rng.integers(1, 12)), dtype=np.uint8))
        pts = None if i == 5 else 1024 * (i - 1)
        out.append(AudioPacket(data, pts, None if i == 3 else (pts or 0) - 3, 1024, i != 7))
    return AudioStream(params, "aac", "stereo", b"\x11\x90", tuple(out))
