"""A video file read segment by segment: any length in the memory of the frames in use.

`StreamedVideo` is the encoder's FrameSource for a file: one pass learns the clip's size, colour,
notes and content hash without keeping a frame; each `reader()` then decodes the file again in
order and holds only the frames of the segment last asked for. Decoding is cheap next to
training, so the encoder reads the file a few times (pilot, keyframes, GOPs, verification).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.video import FrameDigest, Planes, Video
from ..errors import InputError
from .raw import InputFormat
from .reader import NO_INPUT_FORMAT, Scan, decode_planes, finish_scan


class StreamedVideo:
    """Frames [start, end) of a video file (a folder of images, a raw file), as metadata and a content
    hash; frames come from reader(). `form` says what the input does not (reader.read_video)."""

    def __init__(
        self, path: str | os.PathLike, frames: tuple[int, int | None] | None = None, form: InputFormat = NO_INPUT_FORMAT
    ) -> None:
        self.path, self.form = Path(path), form
        scan, digest, count, shape = Scan(), FrameDigest(), 0, (0, 0)
        for planes in decode_planes(self.path, frames, scan, form):
            digest.add(planes)
            count, shape = count + 1, planes[0].shape
        self.notes = finish_scan(self.path, frames, scan)
        self.first_frame = frames[0] if frames else 0
        self.fps, self.matrix, self.full_range = scan.fps, scan.matrix, scan.full_range
        self._count, self._shape = count, shape
        self._sha256 = digest.hexdigest(self.matrix, self.full_range)

    @property
    def frame_count(self) -> int:
        return self._count

    @property
    def height(self) -> int:
        return int(self._shape[0])

    @property
    def width(self) -> int:
        return int(self._shape[1])

    def content_sha256(self) -> str:
        return self._sha256

    def reader(self) -> FileSegments:
        return FileSegments(self)

    def video(self, planes: list[Planes], start: int) -> Video:
        """Frames `planes` (the clip's frames from `start` on) as a Video with this clip's metadata."""
        ys, us, vs = zip(*planes)
        return Video(
            np.stack(ys),
            np.stack(us),
            np.stack(vs),
            self.fps,
            self.matrix,
            self.full_range,
            list(self.notes),
            self.first_frame + start,
        )


class FileSegments:
    """One in-order pass over a StreamedVideo: frames(start, end) with `start` never going back."""

    def __init__(self, source: StreamedVideo) -> None:
        self._source = source
        span = (source.first_frame, source.first_frame + source.frame_count)
        self._planes: Iterator[Planes] = decode_planes(source.path, span, Scan(), source.form)
        self._held: collections.deque[Planes] = collections.deque()
        self._held_first = 0  # clip index of self._held[0]
        self._next = 0  # clip index of the next frame the decoder gives

    def _pull(self) -> Planes:
        try:
            planes = next(self._planes)
        except StopIteration:
            raise InputError(f"{self._source.path} changed while it was being encoded (fewer frames)") from None
        self._next += 1
        return planes

    def frames(self, start: int, end: int) -> Video:
        if not 0 <= self._held_first <= start < end <= self._source.frame_count:
            raise ValueError(f"segment {start}:{end} out of order (frames before {self._held_first} are gone)")
        while self._held and self._held_first < start:
            self._held.popleft()
            self._held_first += 1
        if not self._held:
            while self._next < start:
                self._pull()
            self._held_first = self._next
        while self._next < end:
            self._held.append(self._pull())
        offset = start - self._held_first
        return self._source.video([self._held[offset + i] for i in range(end - start)], start)

    def close(self) -> None:
        close = getattr(self._planes, "close", None)
        if close:
            close()
