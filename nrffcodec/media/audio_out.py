"""A .nrf's audio streams into an output file, interleaved with the frames.

Each stream is remuxed (its packets copied byte for byte, as `ffmpeg -c:a copy` would) when the
output format holds its codec and FFmpeg here can describe it; otherwise it is decoded and
re-encoded to AAC, or, when FFmpeg cannot decode it either, left out. y4m and PNG outputs hold
no audio. Every such case is one note.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction

import av

from bitstream import AudioPacket, AudioStream

from .audio import describe_streams, packet_time

NO_AUDIO = {"y4m": "a .y4m file", "yuv": "a raw .yuv file", "png": "a folder of PNGs"}
FALLBACK_CODEC = "aac"
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
ANY_ENCODER = {"strict": "experimental"}  # a remuxed stream's encoder only describes it, never runs


def audio_for(kind: str, streams: Sequence[AudioStream], notes: list[str]) -> list[AudioStream]:
    """The streams an output of `kind` can take; a note when it takes none of them."""
    if streams and kind in NO_AUDIO:
        kept = describe_streams([s.codec for s in streams])
        notes.append(f"{NO_AUDIO[kind]} holds no audio: the file's {kept} not written")
        return []
    return list(streams)


def _layout(stream: AudioStream) -> av.AudioLayout:
    try:
        return av.AudioLayout(stream.layout or stream.params.channels)
    except (ValueError, av.error.FFmpegError):
        return av.AudioLayout(stream.params.channels)


def _encoder_opens(codec: str, rate: int, layout: av.AudioLayout, time_base: Fraction) -> bool:
    """Whether FFmpeg here has an encoder for `codec` that takes this rate and layout."""
    try:
        probe = av.CodecContext.create(codec, "w")
        probe.sample_rate, probe.layout, probe.time_base = rate, layout, time_base
        formats = probe.codec.audio_formats
        if formats:
            probe.format = formats[0]
        probe.options = dict(ANY_ENCODER)
        probe.open()
        return True
    except (ValueError, TypeError, av.error.FFmpegError):
        return False


class _Lane:
    """One output audio stream fed from one stored stream's packets, in time order."""

    def __init__(self, stream: AudioStream) -> None:
        self.source = stream
        self._packets: Iterator[AudioPacket] = iter(stream.packets)
        self._next = next(self._packets, None)

    def due(self, seconds: Fraction | None) -> Iterator[AudioPacket]:
        """The packets whose time is before `seconds` (all that are left for None)."""
        tb = self.source.time_base
        while self._next is not None:
            t = packet_time(self._next)
            if seconds is not None and t is not None and t * tb >= seconds:
                return
            yield self._next
            self._next = next(self._packets, None)

    def feed(self, container: av.container.OutputContainer, seconds: Fraction | None) -> None:
        raise NotImplementedError

    def close(self, container: av.container.OutputContainer) -> None:
        self.feed(container, None)


class _Remux(_Lane):
    def __init__(self, container: av.container.OutputContainer, stream: AudioStream) -> None:
        super().__init__(stream)
        params = stream.params
        self.out = container.add_stream(stream.codec, rate=params.sample_rate, options=dict(ANY_ENCODER))
        ctx = self.out.codec_context
        ctx.layout = _layout(stream)
        ctx.time_base = stream.time_base
        self.out.time_base = stream.time_base
        ctx.open()  # now the header cannot open it; the stored parameters then replace the encoder's
        ctx.extradata = stream.extradata or None

    def feed(self, container: av.container.OutputContainer, seconds: Fraction | None) -> None:
        for p in self.due(seconds):
            packet = av.Packet(p.data)
            packet.pts, packet.dts, packet.duration = p.pts, p.dts, p.duration
            packet.is_keyframe = p.keyframe
            packet.time_base = self.source.time_base
            packet.stream = self.out
            container.mux(packet)


class _Reencode(_Lane):
    def __init__(self, container: av.container.OutputContainer, stream: AudioStream, decoder: av.CodecContext) -> None:
        super().__init__(stream)
        self.decoder = decoder
        rate = stream.params.sample_rate if stream.params.sample_rate in AAC_RATES else 48000
        layout = _layout(stream)
        if not _encoder_opens(FALLBACK_CODEC, rate, layout, Fraction(1, rate)):
            layout = av.AudioLayout("stereo")
        self.out = container.add_stream(FALLBACK_CODEC, rate=rate, layout=layout)
        self.out.codec_context.time_base = Fraction(1, rate)
        self.resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        self.rate = rate
        self.samples: int | None = None  # output samples so far, from the first packet's time

    def _encode(self, container: av.container.OutputContainer, frames: list[av.AudioFrame | None]) -> None:
        for frame in frames:
            if frame is not None:
                frame.pts, frame.time_base = self.samples, Fraction(1, self.rate)
                self.samples += frame.samples
            for packet in self.out.encode(frame):
                container.mux(packet)

    def feed(self, container: av.container.OutputContainer, seconds: Fraction | None) -> None:
        for p in self.due(seconds):
            if self.samples is None:
                t = packet_time(p)
                self.samples = max(0, round((t or 0) * self.source.time_base * self.rate))
            packet = av.Packet(p.data)
            packet.pts, packet.dts, packet.duration = p.pts, p.dts, p.duration
            packet.time_base = self.source.time_base
            try:
                decoded = self.decoder.decode(packet)
            except av.error.FFmpegError:
                continue  # a damaged packet is skipped, as the video reader does
            for frame in decoded:
                frame.pts = None
                self._encode(container, list(self.resampler.resample(frame)))

    def close(self, container: av.container.OutputContainer) -> None:
        self.feed(container, None)
        if self.samples is None:
            self.samples = 0
        self._encode(container, [*self.resampler.resample(None), None])


def _decoder(stream: AudioStream) -> av.CodecContext | None:
    try:
        decoder = av.CodecContext.create(stream.codec, "r")
        decoder.sample_rate = stream.params.sample_rate
        decoder.layout = _layout(stream)
        decoder.extradata = stream.extradata or None
        decoder.open()
        return decoder
    except (ValueError, TypeError, av.error.FFmpegError):
        return None


class AudioOutput:
    """The streams added to `container` (before its first packet); `until(t)` muxes the audio before
    time t, called before each frame so that sound and pictures interleave; `finish()` the rest."""

    def __init__(
        self, container: av.container.OutputContainer, kind: str, streams: Sequence[AudioStream], notes: list[str]
    ) -> None:
        self._container = container
        self._lanes: list[_Lane] = []
        supported = container.supported_codecs if streams else set()
        for i, s in enumerate(streams):
            name = f"audio stream {i} ({s.codec})"
            if s.codec in supported and _encoder_opens(s.codec, s.params.sample_rate, _layout(s), s.time_base):
                self._lanes.append(_Remux(container, s))
                continue
            decoder = _decoder(s)
            if decoder is None:
                notes.append(f"{name}: FFmpeg here can neither copy it into {kind} nor decode it, not written")
                continue
            notes.append(f"{name} cannot be copied into {kind}: re-encoded to AAC")
            self._lanes.append(_Reencode(container, s, decoder))

    def until(self, seconds: Fraction) -> None:
        for lane in self._lanes:
            lane.feed(self._container, seconds)

    def finish(self) -> None:
        for lane in self._lanes:
            lane.close(self._container)
