"""Stage 2, the keyframe chain: one picture per GOP coded by the keyframe codec, then decoded back.

The encoder trains against the decoded keyframes, the very pictures the decoder will warp.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from bitstream import Keyframe, KeyframeCodec
from bitstream.av1 import pack_obus
from bitstream.keyframe_run import stored_run_bytes

from ..core.gop import Gop
from ..core.keychain import KeyframeGroups, decode_keyframes
from ..core.keyframes import keyframe_coder
from ..core.quality import rgb_mse
from ..core.video import FrameSource, Planes, SegmentReader, Video
from ..decoder import available_memory
from .plan import EncodePlan
from .progress import Progress
from .spool import KeyframeSpool, shared_ids
from .stretch_workers import StretchRunner, code_in_workers, workers_that_fit


@dataclasses.dataclass(frozen=True)
class CodedKeyframes:
    """The chain as the file stores it: shared parameter sets, then one record per GOP."""

    parameter_sets: tuple[bytes, ...]
    records: Sequence[Keyframe]  # by GOP index: a tuple, or read from disk (spool)

    @property
    def bytes(self) -> int:
        return sum(k.payload_bytes for k in self.records) + sum(len(p) for p in self.parameter_sets)

    def stored_bytes(self, gops: Sequence[Gop], codec: KeyframeCodec) -> int:
        """`bytes` as a file holds them, where `gops` are the plan's: consecutive AV1 keyframes of GOPs
        with nothing to predict are a run with modelled frame headers (a KHDR, format 4.2,
        docs/decisions/0063), a lone one is packed (KPAK's spelling, 0061)."""
        if codec != KeyframeCodec.AV1:
            return self.bytes
        sequence_header = self.parameter_sets[0] if len(self.parameter_sets) == 1 else None
        saved = 0
        for _, stretch in itertools.groupby(gops, key=lambda g: g.predicted):
            records = [self.records[g.index] for g in stretch if not g.predicted]
            if len(records) > 1:
                stored = stored_run_bytes([k.slices for k in records], sequence_header)
                saved += sum(k.payload_bytes for k in records) - stored
            elif records:
                saved += records[0].payload_bytes - len(pack_obus(records[0].slices) or b"".join(records[0].slices))
        return self.bytes - saved


class StretchStore(Protocol):
    """Where coded stretches of the chain are kept between runs (app.workdir.Workdir is one)."""

    def held_stretch(self, gops: Sequence[Gop]) -> CodedKeyframes | None: ...

    def keep_stretch(self, gops: Sequence[Gop], coded: CodedKeyframes) -> None: ...


def chain_stretches(plan: EncodePlan) -> list[tuple[Gop, ...]]:
    """The stretches of the chain coded apart: each from an intra keyframe up to the next one."""
    period = max(1, plan.keyframe_period)
    return [plan.gops[first : first + period] for first in range(0, len(plan.gops), period)]


def join_stretches(parts: Iterable[CodedKeyframes]) -> CodedKeyframes:
    """The chain of `parts` in order, each parameter set stored once."""
    parameter_sets: list[bytes] = []
    records = []
    for part in parts:
        for keyframe in part.records:
            ids = shared_ids((part.parameter_sets[i] for i in keyframe.parameter_set_ids), parameter_sets)
            records.append(Keyframe(ids, keyframe.slices))
    return CodedKeyframes(tuple(parameter_sets), tuple(records))


def code_stretch(
    reader: SegmentReader,
    plan: EncodePlan,
    stretch: Sequence[Gop],
    full_range: bool,
    preset: str,
    on_picture: Callable[[], None] | None = None,
) -> CodedKeyframes:
    """One stretch of the chain as its own stream; `reader` hands its pictures to the encoder one at a time."""

    def pictures() -> Iterator[Planes]:
        for gop in stretch:
            yield reader.frames(gop.key, gop.key + 1).planes(0)
            if on_picture:
                on_picture()

    codec = keyframe_coder(plan.keyframe_codec)
    coded = codec.encode_sequence(
        pictures(), plan.keyframe_qp, plan.keyframe_period, full_range, preset, plan.gop_length == 1
    )
    each = (
        CodedKeyframes(tuple(c.parameter_sets), (Keyframe(list(range(len(c.parameter_sets))), c.slices),))
        for c in coded
    )
    return join_stretches(each)  # each keyframe with its own parameter sets, each set stored once


def code_keyframes(
    video: FrameSource,
    plan: EncodePlan,
    preset: str,
    progress: Progress | None = None,
    store: StretchStore | None = None,
    jobs: int = 1,
    remote: StretchRunner | None = None,
    spool_folder: Path | None = None,
) -> CodedKeyframes:
    """Code every GOP's keyframe, intra every keyframe period; share identical parameter sets.

    Each stretch from one intra keyframe to the next (chain_stretches) is its own encoder's stream.
    So `store` keeps each stretch as it is coded and an interrupted encode resumes after it, and
    up to `jobs` processes code stretches side by side (stretch_workers), or `remote` codes them
    (a Ray cluster), with the same bytes. The pictures are read from the source as the encoder
    takes them; `progress` counts them. Each stretch waits on disk once coded, in `spool_folder`
    (in memory without one), and the records come back from there one at a time.
    """
    stretches = chain_stretches(plan)
    chain = KeyframeSpool(len(plan.gops), spool_folder)
    coded: set[int] = set()

    def add(index: int, part: CodedKeyframes) -> None:
        chain.add(index, stretches[index][0].index, part.parameter_sets, part.records)
        coded.add(index)

    for index, stretch in enumerate(stretches):
        held = store.held_stretch(stretch) if store else None
        if held is not None:
            add(index, held)
    todo = [index for index in range(len(stretches)) if index not in coded]
    pictures = len(plan.gops) - sum(len(stretches[i]) for i in todo)

    def report() -> None:
        if progress:  # a full bar closes: the last picture counts once the last stretch is back
            shown = pictures if len(coded) == len(stretches) else min(pictures, len(plan.gops) - 1)
            progress(shown, len(plan.gops), f"{len(coded)}/{len(stretches)} stretches")

    def count() -> None:
        nonlocal pictures
        pictures += 1
        report()

    def keep(index: int, part: CodedKeyframes) -> None:
        add(index, part)
        if store:
            store.keep_stretch(stretches[index], part)
        report()  # its pictures may have been counted before it came back

    if pictures:  # the stretches a store held count as coded
        report()
    workers = workers_that_fit(min(jobs, len(todo)), video.height, video.width, available_memory())
    code = functools.partial(code_stretch, plan=plan, full_range=video.full_range, preset=preset)
    if remote is not None and todo:
        remote.code_stretches(video, [(i, stretches[i]) for i in todo], code, keep, count)
    elif workers > 1:
        code_in_workers(video, [(i, stretches[i]) for i in todo], workers, code, keep, count)
    else:
        reader = video.reader()
        for index in todo:
            keep(index, code_stretch(reader, plan, stretches[index], video.full_range, preset, on_picture=count))
    parameter_sets, records = chain.joined()
    return CodedKeyframes(parameter_sets, records)


def decode_all(keyframes: CodedKeyframes, plan: EncodePlan, height: int, width: int) -> dict[int, Planes]:
    """Every GOP's keyframe as the decoder will see it."""
    return decode_keyframes(
        keyframe_coder(plan.keyframe_codec),
        keyframes.parameter_sets,
        dict(enumerate(keyframes.records)),
        range(len(plan.gops)),
        plan.keyframe_period,
        height,
        width,
    )


def keyframe_groups(keyframes: CodedKeyframes, plan: EncodePlan, height: int, width: int) -> KeyframeGroups:
    """Every GOP's keyframe as the decoder will see it, decoded as a walk in GOP order asks for it (KeyframeGroups)."""
    return KeyframeGroups(
        keyframe_coder(plan.keyframe_codec),
        keyframes.parameter_sets,
        keyframes.records.__getitem__,
        len(plan.gops),
        plan.keyframe_period,
        height,
        width,
    )


def keyframe_sse(video: Video, gops: Sequence[Gop], decoded: dict[int, Planes]) -> float:
    """Squared error of the decoded keyframes in 8-bit RGB, summed over pixels (mean over channels)."""
    return (
        sum(rgb_mse(video.planes(g.key), decoded[g.index], video.matrix, video.full_range) for g in gops)
        * video.width
        * video.height
    )
