"""AUDI (format 3.2): one of the input's audio streams, kept as it was coded.

    audi   := params:blob  codec:blob  layout:blob  extradata:blob  count:uvarint  packet * count
    packet := flags:u8  [pts:svarint]  [dts:svarint]  duration:uvarint  data:blob

`params` is the typed record AudioParams (a newer minor may append fields to it). The packets
are the input's compressed packets, byte for byte, with their timestamps in the stream's time
base: pts as the difference from the previous packet's pts + duration (0 before the first),
dts as dts - pts. Nothing here decodes audio; nrffcodec.media muxes or re-encodes it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections.abc import Sequence
from fractions import Fraction

from .bytes_io import ByteReader, ByteWriter
from .container import AUDIO_TAG, NrfFile
from .errors import BitstreamError
from .framing import frame_section
from .front import FRONT_TAG, front_payload
from .gop_index import index_payload
from .records import VARINT, check_record, read_record, wire, write_record
from .writer import COPY_BLOCK

MAX_AUDIO_STREAMS = 64
MAX_PARAMS_BYTES = 256
MAX_CODEC_NAME = 32
MAX_LAYOUT_NAME = 64
MAX_EXTRADATA = 1 << 20
MAX_TIMESTAMP = 2**62
MAX_PACKET_DURATION = 2**32 - 1
MAX_SECTION_PAYLOAD = 2**32 - 1  # the section length is a u32
MIN_PACKET_BYTES = 4  # flags, duration, data length, one byte of data
FLAG_KEY, FLAG_PTS, FLAG_DTS = 1, 2, 4
CODEC_NAME = re.compile(r"[a-z0-9_]{1,32}")  # FFmpeg's codec names
LAYOUT_NAME = re.compile(r"[ -~]{0,64}")  # printable ASCII: FFmpeg's channel layout names ("stereo", "5.1(side)")


@dataclasses.dataclass(frozen=True)
class AudioParams:
    """The stream's timing and sound (informative for the muxer; the packets carry the sound)."""

    sample_rate: int = wire(VARINT, 1, 1_000_000)
    channels: int = wire(VARINT, 1, 64)
    time_base_num: int = wire(VARINT, 1, 2**31 - 1)
    time_base_den: int = wire(VARINT, 1, 2**31 - 1)
    frame_size: int = wire(VARINT, 0, 1 << 20, doc="samples per packet, 0 when it varies or is unknown")
    bit_rate: int = wire(VARINT, 0, 2**32 - 1, doc="bits per second as the input declared it, 0 when unknown")
    origin: int = wire("q", -MAX_TIMESTAMP, MAX_TIMESTAMP, doc="time of the video's frame 0, in time_base units")


@dataclasses.dataclass(frozen=True)
class AudioPacket:
    data: bytes
    pts: int | None  # in the stream's time base; None when the input had none
    dts: int | None
    duration: int
    keyframe: bool = True


@dataclasses.dataclass(frozen=True)
class AudioStream:
    params: AudioParams
    codec: str  # FFmpeg codec name, e.g. "aac"
    layout: str  # FFmpeg channel layout name, e.g. "stereo"; "" = the default for `channels`
    extradata: bytes
    packets: tuple[AudioPacket, ...]

    @property
    def time_base(self) -> Fraction:
        return Fraction(self.params.time_base_num, self.params.time_base_den)

    @property
    def packet_bytes(self) -> int:
        return sum(len(p.data) for p in self.packets)

    @property
    def seconds(self) -> float:
        """From the first packet's start to the last one's end."""
        times = [(p.pts if p.pts is not None else p.dts, p.duration) for p in self.packets]
        known = [(t, d) for t, d in times if t is not None]
        if not known:
            return float(sum(d for _, d in times) * self.time_base)
        return float((max(t + d for t, d in known) - min(t for t, _ in known)) * self.time_base)


def audio_payload(stream: AudioStream) -> bytes:
    """The AUDI payload of `stream`. Raises ValueError (a bug in the caller) on values out of range."""
    check_record(stream.params)
    if not CODEC_NAME.fullmatch(stream.codec) or not LAYOUT_NAME.fullmatch(stream.layout):
        raise ValueError(f"audio codec {stream.codec!r} or layout {stream.layout!r} is not a plain FFmpeg name")
    if len(stream.extradata) > MAX_EXTRADATA:
        raise ValueError(f"audio extradata of {len(stream.extradata)} bytes")
    params = ByteWriter()
    write_record(params, stream.params)
    writer = ByteWriter()
    for blob in (params.getvalue(), stream.codec.encode(), stream.layout.encode(), stream.extradata):
        writer.blob(blob)
    writer.uvarint(len(stream.packets))
    expected = 0
    for p in stream.packets:
        if not p.data or not 0 <= p.duration <= MAX_PACKET_DURATION:
            raise ValueError("audio packet without data or with a negative or huge duration")
        if any(t is not None and abs(t) > MAX_TIMESTAMP for t in (p.pts, p.dts)):
            raise ValueError("audio timestamp out of range")
        writer.pack("B", FLAG_KEY * p.keyframe | FLAG_PTS * (p.pts is not None) | FLAG_DTS * (p.dts is not None))
        if p.pts is not None:
            writer.svarint(p.pts - expected)
            expected = p.pts
        if p.dts is not None:
            writer.svarint(p.dts - (p.pts if p.pts is not None else 0))
        writer.uvarint(p.duration)
        writer.blob(p.data)
        expected += p.duration
    if len(writer) > MAX_SECTION_PAYLOAD:
        raise ValueError(f"audio stream of {len(writer):,} bytes does not fit one section")
    return writer.getvalue()


def _text(reader: ByteReader, limit: int, pattern: re.Pattern, what: str) -> str:
    raw = reader.blob(limit)
    text = raw.decode("ascii", "replace")
    if not pattern.fullmatch(text):
        raise reader.error(f"{what} {raw[:limit]!r} is not a plain FFmpeg name")
    return text


def _timestamp(reader: ByteReader, value: int, what: str) -> int:
    if abs(value) > MAX_TIMESTAMP:
        raise reader.error(f"{what} {value} out of range")
    return value


def parse_audio(payload: bytes, where: str, base: int = 0, newer_minor: bool = False) -> AudioStream:
    """Read one AUDI payload; every count, length and timestamp is range-checked (BitstreamError).
    A file of a `newer_minor` may have fields appended to the params."""
    reader = ByteReader(payload, where, base)
    params_bytes = reader.blob(MAX_PARAMS_BYTES)
    params_reader = ByteReader(params_bytes, f"{where} params", base + reader.offset - len(params_bytes))
    params = read_record(params_reader, AudioParams)
    if not newer_minor:
        params_reader.expect_end()  # a newer minor may append fields
    codec = _text(reader, MAX_CODEC_NAME, CODEC_NAME, "codec")
    layout = _text(reader, MAX_LAYOUT_NAME, LAYOUT_NAME, "channel layout")
    extradata = reader.blob(MAX_EXTRADATA)
    count = reader.uvarint(reader.remaining // MIN_PACKET_BYTES)
    packets = []
    expected = 0
    for _ in range(count):
        (flags,) = reader.unpack("B")
        if flags & ~(FLAG_KEY | FLAG_PTS | FLAG_DTS):
            raise reader.error(f"audio packet flags {flags:#x} use reserved bits")
        pts = _timestamp(reader, expected + reader.svarint(), "pts") if flags & FLAG_PTS else None
        dts = _timestamp(reader, (pts or 0) + reader.svarint(), "dts") if flags & FLAG_DTS else None
        duration = reader.uvarint(MAX_PACKET_DURATION)
        data = reader.blob()
        if not data:
            raise reader.error("empty audio packet")
        expected = (pts if pts is not None else expected) + duration
        packets.append(AudioPacket(data, pts, dts, duration, bool(flags & FLAG_KEY)))
    reader.expect_end()
    return AudioStream(params, codec, layout, extradata, tuple(packets))


def audio_streams(nrf: NrfFile) -> list[AudioStream]:
    """The file's audio streams in order (none before format 3.2); BitstreamError when one is damaged."""
    payloads = nrf.audio_payloads()
    if len(payloads) > MAX_AUDIO_STREAMS:
        raise BitstreamError(f"{len(payloads)} audio sections, at most {MAX_AUDIO_STREAMS}")
    return [
        parse_audio(payload, f"audio stream {i} (section AUDI)", base, nrf.newer_minor)
        for i, (payload, base) in enumerate(payloads)
    ]


def add_audio(data: bytes, streams: Sequence[AudioStream]) -> bytes:
    """The .nrf `data` (with no sections before its chunks) with `streams` as AUDI sections between
    the index and the first GOP chunk, the index's gap saying their size; read back before it is returned."""
    if not streams:
        return data
    splice = _splice_audio(NrfFile(data), streams)
    view = memoryview(data)  # slices of a view copy nothing (decision 0073)
    out = b"".join([view[: splice.start], splice.inserted, view[splice.end :]])
    _check_audio(NrfFile(out), splice, streams)
    return out


def add_audio_file(source: str | os.PathLike, target: str | os.PathLike, streams: Sequence[AudioStream]) -> None:
    """add_audio from the file `source` to the file `target`, the GOPs' sections copied a block at a
    time: memory holds the front and the audio, not the file (decision 0075)."""
    splice = _splice_audio(NrfFile(source), streams)
    with open(source, "rb") as src, open(target, "wb") as out:
        out.write(src.read(splice.start))
        out.write(splice.inserted)
        src.seek(splice.end)
        shutil.copyfileobj(src, out, COPY_BLOCK)
    _check_audio(NrfFile(target), splice, streams)


@dataclasses.dataclass(frozen=True)
class _AudioSplice:
    """Bytes [start, end) of a file (its index section) replaced by `inserted`: the index, whose gap now
    covers the audio, and then `audio_bytes` of AUDI sections."""

    start: int
    end: int
    inserted: bytes
    audio_bytes: int


def _splice_audio(nrf: NrfFile, streams: Sequence[AudioStream]) -> _AudioSplice:
    if len(streams) > MAX_AUDIO_STREAMS:
        raise ValueError(f"{len(streams)} audio streams, at most {MAX_AUDIO_STREAMS}")
    if nrf.extra_sections:
        raise ValueError("the file already has sections before its GOP chunks")
    audio = b"".join(frame_section(AUDIO_TAG, audio_payload(s)) for s in streams)
    tag, index_offset, index_size = next(s for s in nrf.sections if s[0] in ("GIDX", "RIDX", FRONT_TAG.decode()))
    runs = tag != "GIDX"  # one entry per section: a run's first GOP stands for the run
    entries = [(e.frame_count * e.run, e.key_offset, e.length) + (e.run,) * runs for e in nrf.index if not e.position]
    index = index_payload(entries, len(audio), runs)
    if tag == FRONT_TAG.decode():  # 4.x: the index is the end of FRNT
        index = front_payload(nrf.header, nrf.parameter_sets, index, nrf.header.networks)
    return _AudioSplice(index_offset, index_offset + index_size, frame_section(tag.encode(), index) + audio, len(audio))


def _check_audio(written: NrfFile, splice: _AudioSplice, streams: Sequence[AudioStream]) -> None:
    if written.audio_bytes != splice.audio_bytes or audio_streams(written) != list(streams):
        raise ValueError("the audio sections do not read back as written")  # a bug, never the user's input
