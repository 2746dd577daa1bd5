"""The input's audio beside the video: kept as compressed packets, never decoded on the way in.

`read_audio` takes each audio stream's packets, timestamps and codec parameters from the input
(a second pass over it, audio packets only) as bitstream.AudioStream, cut to the frames being
coded; `cut_audio` cuts them again to the frames being decoded, rebased to the first one.
Muxing into an output is media/audio_out.py.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from fractions import Fraction

import av

from bitstream import AudioPacket, AudioParams, AudioStream
from bitstream.audio import CODEC_NAME, LAYOUT_NAME, MAX_SECTION_PAYLOAD

from ..core.video import FrameSource
from .reader import failure_reason, video_stream


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def describe_streams(codecs: Sequence[str]) -> str:
    """'1 audio stream (aac)': what a note says was dropped or not written."""
    return f"{_plural(len(codecs), 'audio stream')} ({', '.join(codecs)})"


def packet_time(packet: AudioPacket) -> int | None:
    return packet.pts if packet.pts is not None else packet.dts


def cut_packets(packets: Sequence[AudioPacket], lo: int | None, hi: int | None) -> list[AudioPacket]:
    """Packets whose time lies in [lo, hi) (None: open); without a bound, a packet without a time stays."""
    if lo is None and hi is None:
        return list(packets)
    out = []
    for p in packets:
        t = packet_time(p)
        if t is not None and (lo is None or t >= lo) and (hi is None or t < hi):
            out.append(p)
    return out


def _ticks(seconds: Fraction, time_base: Fraction) -> int:
    return round(seconds / time_base)


def read_audio(path: str | os.PathLike, video: FrameSource, end: int | None, keep: bool = True) -> list[AudioStream]:
    """The audio streams of `path` over the time of `video`'s frames (`end`: the --frames end asked
    for, None for the whole clip); the first frame starts the audio when it is the clip's first, and
    the last ends it when the clip ends there. Notes (dropped, damaged) go to video.notes."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError):
        return []  # the reader has read its video: a pipe or a file that cannot be opened twice
    with container:
        streams = list(container.streams.audio)
        if not streams:
            return []
        if not keep:
            codecs = [s.codec_context.codec.canonical_name if s.codec_context else "unknown codec" for s in streams]
            video.notes.append(f"the input's {describe_streams(codecs)} dropped (--no-audio)")
            return []
        return _read_streams(container, streams, video, end)


def _read_streams(
    container: av.container.InputContainer, streams: list, video: FrameSource, end: int | None
) -> list[AudioStream]:
    picture = video_stream(container)
    start = Fraction(0)
    if picture is not None and picture.start_time is not None and picture.time_base:
        start = picture.start_time * Fraction(picture.time_base)
    first = start + Fraction(video.first_frame) / video.fps
    last = start + Fraction(video.first_frame + video.frame_count) / video.fps
    to_end = end is None or end > video.first_frame + video.frame_count
    kept: dict[int, tuple[AudioParams, str, str, bytes]] = {}
    for s in streams:
        cc = s.codec_context
        tb = Fraction(s.time_base) if s.time_base else None
        codec = cc.codec.canonical_name if cc is not None else ""  # "mp3", not the decoder's "mp3float"
        if cc is None or tb is None or not CODEC_NAME.fullmatch(codec) or not 1 <= cc.channels <= 64:
            name = codec or "unknown codec"
            video.notes.append(f"audio stream {s.index} ({name}): cannot be kept, dropped")
            continue
        if not 1 <= cc.sample_rate <= 1_000_000:
            video.notes.append(f"audio stream {s.index} ({codec}): no sample rate, dropped")
            continue
        layout = cc.layout.name if LAYOUT_NAME.fullmatch(cc.layout.name or "") else ""
        params = AudioParams(
            sample_rate=cc.sample_rate,
            channels=cc.channels,
            time_base_num=tb.numerator,
            time_base_den=tb.denominator,
            frame_size=min(max(cc.frame_size or 0, 0), 1 << 20),
            bit_rate=min(max(cc.bit_rate or 0, 0), 2**32 - 1),
            origin=_ticks(first, tb),
        )
        kept[s.index] = (params, codec, layout, bytes(cc.extradata or b""))
    packets: dict[int, list[AudioPacket]] = {i: [] for i in kept}
    try:
        for packet in container.demux([s for s in streams if s.index in kept]):
            if packet.size and packet.stream.index in packets:
                packets[packet.stream.index].append(
                    AudioPacket(bytes(packet), packet.pts, packet.dts, max(packet.duration or 0, 0), packet.is_keyframe)
                )
    except av.error.FFmpegError as exc:
        video.notes.append(f"audio damaged or truncated ({failure_reason(exc)}): keeping the packets read before it")
    out = []
    for index, (params, codec, layout, extradata) in kept.items():
        tb = Fraction(params.time_base_num, params.time_base_den)
        lo = None if video.first_frame == 0 else params.origin
        hi = None if to_end else _ticks(last, tb)
        stream = AudioStream(params, codec, layout, extradata, tuple(cut_packets(packets[index], lo, hi)))
        if stream.packet_bytes > MAX_SECTION_PAYLOAD // 2:
            video.notes.append(f"audio stream {index} ({codec}) is over 2 GB: dropped")
        elif stream.packets:
            out.append(stream)
    return out


def cut_audio(
    streams: Sequence[AudioStream], fps: Fraction, frame_count: int, start: int, end: int
) -> list[AudioStream]:
    """The audio of frames [start, end) of a file of `frame_count` frames, timestamps rebased so that
    frame `start` is at 0: packets whose time falls in [start/fps, end/fps) after each stream's origin
    (from the very first packet when start is 0, to the very last when end is the file's end)."""
    out = []
    for s in streams:
        tb = s.time_base
        shift = s.params.origin + _ticks(Fraction(start) / fps, tb)
        lo = None if start == 0 else shift
        hi = None if end >= frame_count else s.params.origin + _ticks(Fraction(end) / fps, tb)
        packets = tuple(
            dataclasses.replace(
                p,
                pts=None if p.pts is None else p.pts - shift,
                dts=None if p.dts is None else p.dts - shift,
            )
            for p in cut_packets(s.packets, lo, hi)
        )
        if packets:
            out.append(dataclasses.replace(s, params=dataclasses.replace(s.params, origin=0), packets=packets))
    return out
