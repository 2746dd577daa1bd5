"""The .nrf bitstream: container, header records and weight entropy coding.

Nothing outside this package reads or writes bytes of the format.
"""

from .audio import AudioPacket, AudioParams, AudioStream, add_audio, add_audio_file, audio_streams
from .container import GopIndexEntry, NrfFile
from .entropy import STEP_VALUES, QuantizedTensor, TensorCodingInfo
from .errors import BitstreamError, NotAnNrfFile
from .gop_chunk import GopChunk, Keyframe, WrittenChunk, encoded_networks_size
from .header import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    MAGIC,
    FieldArch,
    Header,
    KeyframeCodec,
    Matrix,
    PixelFormat,
    QuantSpec,
    VideoInfo,
)
from .records import describe
from .writer import WrittenFile, WrittenSizes, write_nrf, write_nrf_file

__all__ = [
    "AudioPacket",
    "AudioParams",
    "AudioStream",
    "add_audio",
    "add_audio_file",
    "audio_streams",
    "BitstreamError",
    "NotAnNrfFile",
    "FieldArch",
    "FORMAT_MAJOR",
    "MAGIC",
    "FORMAT_MINOR",
    "GopChunk",
    "GopIndexEntry",
    "Header",
    "Keyframe",
    "KeyframeCodec",
    "Matrix",
    "NrfFile",
    "PixelFormat",
    "QuantSpec",
    "QuantizedTensor",
    "STEP_VALUES",
    "TensorCodingInfo",
    "VideoInfo",
    "WrittenChunk",
    "WrittenFile",
    "WrittenSizes",
    "encoded_networks_size",
    "describe",
    "write_nrf",
    "write_nrf_file",
]
