"""The keyframe chain: every intra-period group of keyframes is one stream, decoded from its intra keyframe on.

The encoder decodes its own keyframes through this module, so that the references it trains
against are exactly the ones the decoder will warp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from bitstream import Keyframe

from .keyframes import KeyframeCoder
from .video import Planes


def intra_group(index: int, period: int) -> range:
    """Keyframes to decode, in order, to reach keyframe `index`: from the intra one at or before it."""
    start = index - index % max(1, period)
    return range(start, index + 1)


def keyframes_to_read(wanted: Sequence[int], period: int) -> list[int]:
    """Every keyframe whose units the keyframes `wanted` decode from."""
    return sorted({k for i in wanted for k in intra_group(i, period)})


def decode_keyframes(
    codec: KeyframeCoder,
    parameter_sets: Sequence[bytes],
    records: Mapping[int, Keyframe],
    wanted: Sequence[int],
    period: int,
    height: int,
    width: int,
) -> dict[int, Planes]:
    """Keyframes `wanted`, each decoded from the intra keyframe of its group on.

    `records` must hold every keyframe from those intra keyframes on (keyframes_to_read).
    """
    out: dict[int, Planes] = {}
    for index in sorted(wanted, reverse=True):
        if index in out:
            continue
        chain = intra_group(index, period)
        coded = [([parameter_sets[p] for p in records[i].parameter_set_ids], records[i].slices) for i in chain]
        where = f"keyframes of GOPs {chain.start}-{chain.stop - 1}"
        out.update(zip(chain, codec.decode_sequence(coded, height, width, where)))
    return {i: out[i] for i in wanted}


KEYFRAMES_HELD = 3 + 8  # a walk's previous, own and next keyframe, and the decoder's 8 reference pictures


class KeyframeGroups:
    """Decoded keyframes for a walk through the GOPs in order, in the memory of a few keyframes.

    keys[i] runs the decoder of keyframe i's intra group forward to i, reading each keyframe's units
    as the decoder needs them: from the group's intra keyframe when the walk enters the group (or
    goes back past what it kept). release_before(i) forgets the keyframes before i. What it holds
    (KEYFRAMES_HELD): the keyframes asked for and not yet released, and one decoder's references,
    whatever the intra period; at GOP length 1 that period is hundreds of frames.
    """

    def __init__(
        self,
        codec: KeyframeCoder,
        parameter_sets: Sequence[bytes],
        record: Callable[[int], Keyframe],
        count: int,
        period: int,
        height: int,
        width: int,
    ) -> None:
        self._codec, self._parameter_sets, self._record = codec, parameter_sets, record
        self._count, self._period, self._size = count, max(1, period), (height, width)
        self._decoded: dict[int, Planes] = {}
        self._kept_from = 0  # release_before's last index: nothing before it is kept
        self._stream: Iterator[Planes] | None = None
        self._next = 0  # the keyframe self._stream yields next
        self._stream_first = -1  # the intra keyframe self._stream started from

    def __getitem__(self, index: int) -> Planes:
        if index in self._decoded:
            return self._decoded[index]
        first = index - index % self._period
        if self._stream is None or self._stream_first != first or self._next > index:
            self._stream, self._stream_first, self._next = self._decode_group(first), first, first
        while self._next <= index:
            planes = next(self._stream, None)
            if planes is None:  # decode_stream has checked the count: only a caller past `count` gets here
                raise IndexError(f"keyframe {index} of {self._count}")
            if self._next >= self._kept_from or self._next == index:
                self._decoded[self._next] = planes
            self._next += 1
        return self._decoded[index]

    def _decode_group(self, first: int) -> Iterator[Planes]:
        group = range(first, min(first + self._period, self._count))

        def units() -> Iterator[tuple[list[bytes], list[bytes]]]:
            for i in group:
                record = self._record(i)
                yield [self._parameter_sets[p] for p in record.parameter_set_ids], record.slices

        where = f"keyframes of GOPs {group.start}-{group.stop - 1}"
        return self._codec.decode_stream(units(), *self._size, where)

    @property
    def held(self) -> int:
        """How many decoded keyframes it holds now."""
        return len(self._decoded)

    def release_before(self, index: int) -> None:
        self._kept_from = max(self._kept_from, index)
        for i in [i for i in self._decoded if i < index]:
            del self._decoded[i]
