"""Decoded video in memory: 8-bit YUV 4:2:0 planes, frame rate, colour, and where the frames came from."""

from __future__ import annotations

import dataclasses
import hashlib
from fractions import Fraction
from typing import Protocol

import numpy as np

from bitstream import Matrix

from .colour import yuv420_to_rgb8

DEFAULT_FPS = Fraction(25, 1)
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclasses.dataclass
class Video:
    """Decoded 8-bit 4:2:0 frames: y [T, H, W], u and v [T, ceil(H/2), ceil(W/2)]."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    fps: Fraction = DEFAULT_FPS
    matrix: int = int(Matrix.BT601)
    full_range: bool = False
    notes: list[str] = dataclasses.field(default_factory=list)
    first_frame: int = 0  # index of y[0] in the source, for --frames

    @property
    def frame_count(self) -> int:
        return int(self.y.shape[0])

    @property
    def height(self) -> int:
        return int(self.y.shape[1])

    @property
    def width(self) -> int:
        return int(self.y.shape[2])

    def frames(self, start: int, end: int) -> Video:
        """Frames [start, end) as a new Video sharing memory."""
        return dataclasses.replace(
            self,
            y=self.y[start:end],
            u=self.u[start:end],
            v=self.v[start:end],
            notes=list(self.notes),
            first_frame=self.first_frame + start,
        )

    def planes(self, t: int) -> Planes:
        """(Y, U, V) of frame t."""
        return self.y[t], self.u[t], self.v[t]

    def content_sha256(self) -> str:
        """SHA-256 of the frames and their colour: the source's identity for resumed work and cached points."""
        digest = FrameDigest()
        for t in range(self.frame_count):
            digest.add(self.planes(t))
        return digest.hexdigest(self.matrix, self.full_range)

    def reader(self) -> Video:
        """A video in memory is its own segment reader (FrameSource)."""
        return self

    def rgb(self) -> np.ndarray:
        """uint8 RGB [T, H, W, 3] by the codec's one conversion (colour.yuv420_to_rgb8)."""
        return yuv420_to_rgb8(self.y, self.u, self.v, self.matrix, self.full_range)


class FrameDigest:
    """Video.content_sha256 fed frame by frame, so that a file read as a stream gets the same identity."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._count = 0
        self._shape: tuple[int, ...] = ()

    def add(self, planes: Planes) -> None:
        self._count += 1
        self._shape = planes[0].shape
        for plane in planes:
            self._digest.update(np.ascontiguousarray(plane).data)

    def hexdigest(self, matrix: int, full_range: bool) -> str:
        digest = self._digest.copy()
        digest.update(f"{self._count} {self._shape} {matrix} {full_range}".encode())
        return digest.hexdigest()


class SegmentReader(Protocol):
    """Frames of a source read in order: each call's `start` is at or after the previous call's."""

    def frames(self, start: int, end: int) -> Video: ...


class FrameSource(Protocol):
    """A clip the encoder reads segment by segment (a Video in memory, or media.stream.StreamedVideo)."""

    fps: Fraction
    matrix: int
    full_range: bool
    notes: list[str]
    first_frame: int  # the clip's index of its first frame (--frames START)

    @property
    def frame_count(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    def content_sha256(self) -> str: ...

    def reader(self) -> SegmentReader: ...
