"""`nrff encode --workdir DIR`: finished work kept on disk, so re-running the same command resumes.

DIR holds one `keyframes-FIRST-END-COUNT.nrw` per stretch of the keyframe chain (frames FIRST to
END, COUNT GOPs: one intra keyframe and the keyframes up to the next, written as each is coded) and
one `gop-NNNNNN.nrw` per trained GOP (its keyframe and quantized networks), in the versioned,
CRC-checked format of `bitstream.workfile`; a --bitrate or --min-psnr search keeps each trial's in
DIR/qp-NN. Every file carries a key that hashes all that decides
the output (settings, source frames, software versions), so a different command never reuses them;
its files, and damaged ones, are replaced. Writes are atomic, so a kill leaves whole files only.
Resumed GOPs are the very integers an uninterrupted run would write: the .nrf comes out identical.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import av
import torch

from bitstream import FORMAT_MAJOR, FORMAT_MINOR, BitstreamError, GopChunk, Keyframe
from bitstream.workfile import read_finished_gop, read_keyframes, write_finished_gop, write_keyframes

from ..core.gop import Gop
from ..core.video import FrameSource
from ..encoder.keyframes import CodedKeyframes
from ..encoder.train import GopResult
from ..errors import OutputError
from ..media.files import atomic_output, check_output
from ..settings import EncodeSettings
from ..version import __version__, encoder_digest

GOP_PATTERN = "gop-*.nrw"
MAX_WORK_FILE = 1 << 30  # refuse to read anything larger: no work file of ours comes near it
Log = Callable[[str], None]


def job_key(video: FrameSource, settings: EncodeSettings, device: str) -> bytes:
    """SHA-256 of everything that decides the encoder's output, its source included.

    `jobs` is left out: how many processes train the GOPs never changes the file.
    """
    chosen = dataclasses.asdict(settings)
    chosen.pop("jobs", None)
    described = {
        "nrff": __version__,
        "encoder": encoder_digest(),
        "format": [FORMAT_MAJOR, FORMAT_MINOR],
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": av.library_versions,
        "device": device,
        "settings": chosen,
        "video": [video.width, video.height, video.frame_count, str(video.fps), video.matrix, video.full_range],
        "source": video.content_sha256(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).digest()


def _gop_file(index: int) -> str:
    return f"gop-{index:06d}.nrw"


def _keyframes_file(gops: Sequence[Gop]) -> str:
    """A stretch's file, named for its frames and GOP count: plans of other GOP lengths keep theirs."""
    return f"keyframes-{gops[0].first:08d}-{gops[-1].end:08d}-{len(gops)}.nrw"


class Workdir:
    """One encode's finished keyframes and GOPs in a folder."""

    def __init__(
        self,
        folder: str | Path,
        key: bytes,
        log: Log,
        needed_bytes: int = 0,
        key_for: Callable[[EncodeSettings], bytes] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.key = key
        self._log = log
        self._needed_bytes = needed_bytes
        self._key_for = key_for  # the key of the same source at other settings (for_trial)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the work folder {self.folder}: {exc.strerror or exc}") from None
        check_output(self.folder / "keyframes-check.nrw", needed_bytes)
        self._gops: list[Gop] = []
        self._keyframes: Sequence[Keyframe] = ()
        self._reused_stretches = 0

    def for_trial(self, settings: EncodeSettings) -> Workdir:
        """A --bitrate or --min-psnr search's trial at `settings` keeps its work in a folder of its own
        (qp-NN), so that the search run again resumes every trial it made."""
        if self._key_for is None:
            raise ValueError("this work folder was made without key_for: it holds one encode only")
        folder = self.folder / f"qp-{settings.keyframe_qp:02d}"
        return Workdir(folder, self._key_for(settings), self._log, self._needed_bytes, self._key_for)

    # -- files
    def _read(self, name: str) -> bytes | None:
        path = self.folder / name
        try:
            if not path.is_file() or path.stat().st_size > MAX_WORK_FILE:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def _write(self, name: str, data: bytes) -> None:
        with atomic_output(self.folder / name) as tmp:
            tmp.write_bytes(data)

    def _discard(self, name: str, why: BitstreamError) -> None:
        self._log(f"work folder: {name} not reused ({why})")
        (self.folder / name).unlink(missing_ok=True)

    # -- keyframes
    def held_stretch(self, gops: Sequence[Gop]) -> CodedKeyframes | None:
        """The stretch of the chain for `gops`, when an earlier run of this encode coded it."""
        name = _keyframes_file(gops)
        data = self._read(name)
        if data is None:
            return None
        try:
            parameter_sets, chunks = read_keyframes(data, self.key, name)
            if [(c.gop_index, c.first_frame, c.frame_count, c.key_offset) for c in chunks] != [
                (g.index, g.first, g.count, g.key_offset) for g in gops
            ]:
                raise BitstreamError(f"{name}: GOPs differ from this encode's")
        except BitstreamError as exc:
            self._discard(name, exc)
            return None
        self._reused_stretches += 1
        return CodedKeyframes(tuple(parameter_sets), tuple(c.keyframe for c in chunks))

    def keep_stretch(self, gops: Sequence[Gop], coded: CodedKeyframes) -> None:
        """Keep a stretch of the chain the moment it is coded."""
        records = [GopChunk(g.index, g.first, g.count, g.key_offset, k, []) for g, k in zip(gops, coded.records)]
        self._write(_keyframes_file(gops), write_keyframes(self.key, coded.parameter_sets, records))

    def use_keyframes(self, gops: Sequence[Gop], keyframes: CodedKeyframes) -> None:
        """The whole chain of the plan whose GOPs train next (call before `finished`)."""
        self._gops, self._keyframes = list(gops), keyframes.records  # read from disk when asked for
        if self._reused_stretches:
            count = self._reused_stretches
            self._log(f"resuming from {self.folder}: {count} stretch{'es' * (count != 1)} of keyframes already coded")
            self._reused_stretches = 0

    # -- trained GOPs
    def finished(self, shapes: Sequence[Sequence[tuple[int, ...]]], parameter_set_count: int) -> Iterator[GopResult]:
        """GOPs trained by an earlier run of this encode, one at a time (call after `use_keyframes`)."""
        done = 0
        wanted = {_gop_file(g.index): g for g in self._gops}
        for path in sorted(self.folder.glob(GOP_PATTERN)):
            gop = wanted.get(path.name)
            data = self._read(path.name)
            if gop is None or data is None:
                continue
            try:
                chunk = read_finished_gop(data, self.key, shapes, parameter_set_count, path.name)
                placement = (chunk.gop_index, chunk.first_frame, chunk.frame_count, chunk.key_offset)
                if (
                    placement != (gop.index, gop.first, gop.count, gop.key_offset)
                    or chunk.keyframe != self._keyframes[gop.index]
                ):
                    raise BitstreamError(f"{path.name}: GOP or keyframe differs from this encode's")
            except BitstreamError as exc:
                self._discard(path.name, exc)
                continue
            done += 1
            yield GopResult(gop.index, chunk.networks[0], chunk.networks[1], 0.0, math.nan)
        if done:
            self._log(f"resuming from {self.folder}: {done} GOPs already trained")

    def save(self, result: GopResult) -> None:
        """Keep a GOP the moment it is trained."""
        gop = self._gops[result.index]
        chunk = GopChunk(
            gop.index, gop.first, gop.count, gop.key_offset, self._keyframes[gop.index], [result.flow, result.residual]
        )
        self._write(_gop_file(gop.index), write_finished_gop(self.key, chunk))
