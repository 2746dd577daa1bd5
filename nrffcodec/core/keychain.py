"""The keyframe chain: every intra-period group of keyframes is one stream, decoded from its intra keyframe on.

The encoder decodes its own keyframes through this module, so that the references it trains
against are exactly the ones the decoder will warp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

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


class KeyframeGroups:
    """Decoded keyframes for a walk through the GOPs in order, in the memory of two intra groups.

    keys[i] decodes keyframe i's whole intra group once (one decoder run, as decode_keyframes
    would); release_before(i) forgets the groups that end before keyframe i.
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

    def __getitem__(self, index: int) -> Planes:
        if index not in self._decoded:
            first = index - index % self._period
            group = range(first, min(first + self._period, self._count))
            records = {i: self._record(i) for i in group}
            self._decoded.update(
                decode_keyframes(self._codec, self._parameter_sets, records, group, self._period, *self._size)
            )
        return self._decoded[index]

    def release_before(self, index: int) -> None:
        for i in [i for i in self._decoded if i < index - index % self._period]:
            del self._decoded[i]
