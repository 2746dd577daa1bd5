"""An adaptive model of AV1 frame headers: each field predicted from the frames before it.

Most of a header repeats: flags that never change, and values a frame shares with the last frame
of its temporal layer (the layer is read off the order hint: AV1 encoders build dyadic
hierarchies, so the trailing zeros of a frame's order hint say how deep it sits). A field is
coded as a hit on one of its predictions, tried in turn, else as its bits:

* semantic: a reference index as the slot that holds the frame at the distance the layer's last
  frame used for that reference; a frame shown again as the slot holding the next picture to show;
* next: an order hint as the frame after the last one shown, or one of its ancestors in a dyadic
  hierarchy not yet coded (the highest first);
* layer: the field's value in the last frame of the same layer;
* last: its value in the last frame.

docs/bitstream.md (KHDR) states the model in full.

Each flag and each escaped bit has an adaptive binary probability (integer counts, the
probability one IEEE division), so writer and reader follow the same path exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from .av1_syntax import ReferenceSlots, relative_distance

BitCoder = Callable[[list[int], int | None], int]  # (counts [zeros, ones], bit or None to decode) -> bit


def probability_of_one(counts: list[int]) -> float:
    return counts[1] / (counts[0] + counts[1])


class HeaderModel:
    """Codes header fields through a BitCoder; one instance follows one run of frames in order."""

    def __init__(self, slots: ReferenceSlots, hint_bits: int, coder: BitCoder) -> None:
        self.slots, self.hint_bits, self.coder = slots, hint_bits, coder
        self.counts: dict[tuple, list[int]] = {}
        self.last: dict[tuple, int] = {}
        self.ref_distance: dict[tuple, int] = {}
        self.previous_kind = 0  # the OBU before: 0 a frame shown, 1 a frame hidden, 2 a frame shown again
        self.shown, self.pending, self.deepest = 0, set(), 0  # last hint shown, hints coded to show later
        self.start_frame()

    def start_frame(self) -> None:
        self.layer: int | None = None
        self.order_hint, self.show_frame = 0, 1
        self.seen: dict[str, int] = {}

    def _layer(self, order_hint: int) -> int:
        if order_hint == 0:
            return self.hint_bits
        return (order_hint & -order_hint).bit_length() - 1

    def _bit(self, context: tuple, bit: int | None) -> int:
        counts = self.counts.setdefault(context, [1, 1])
        bit = self.coder(counts, bit)
        counts[bit] += 2
        return bit

    def _next_shown(self) -> int:
        return (self.shown + 1) & ((1 << self.hint_bits) - 1)

    def _context(self, name: str) -> int:
        """What the flags of the first fields depend on: whether the next picture to show was coded
        already (then it is shown again), and what the OBU before did."""
        if name in ("show_existing_frame", "show_frame", "showable_frame", "frame_type"):
            return self.previous_kind + 3 * (self._next_shown() in self.pending)
        return 0

    def _predictions(self, key: tuple) -> list[tuple[str, int]]:
        name, occurrence = key
        found: list[tuple[str, int]] = []
        if name == "frame_to_show_map_idx":
            holders = [s for s, hint in enumerate(self.slots.order_hints) if hint == self._next_shown()]
            if holders:
                found.append(("semantic", holders[0]))
        if name == "ref_frame_idx" and (occurrence, self.layer) in self.ref_distance:
            wanted = (self.order_hint - self.ref_distance[occurrence, self.layer]) % (1 << self.hint_bits)
            layer_slot = self.last.get((key, self.layer))
            holders = [s for s, hint in enumerate(self.slots.order_hints) if hint == wanted]
            if holders:
                found.append(("semantic", layer_slot if layer_slot in holders else holders[0]))
        if name == "order_hint":
            found += [("next", hint) for hint in self._next_hints()]
        if self.layer is not None and (key, self.layer) in self.last:
            found.append(("layer", self.last[key, self.layer]))
        if key in self.last:
            found.append(("last", self.last[key]))
        unique: list[tuple[str, int]] = []
        for kind, value in found:
            if all(value != v for _, v in unique):
                unique.append((kind, value))
        return unique

    def _next_hints(self) -> list[int]:
        """The order hints a dyadic hierarchy codes next, most likely first: the frame after the last one
        shown, and its ancestors not yet coded (the one highest up comes first)."""
        mask = (1 << self.hint_bits) - 1
        chain = [(self.shown + 1) & mask]
        while len(chain) < 6:
            hint = chain[-1]
            low = hint & -hint
            if not hint or low << 1 > 1 << self.deepest:
                break
            up = (hint + low) & mask
            parent = up if (up & -up) == low << 1 else (hint - low) & mask
            if parent in self.pending or relative_distance(parent, self.shown, self.hint_bits) <= 0:
                break
            chain.append(parent)
        return chain[::-1]

    def field(self, name: str, bits: int, value: int | None) -> int:
        """Code (value given) or decode (None) the next field."""
        occurrence = self.seen.get(name, 0)
        self.seen[name] = occurrence + 1
        key = (name, occurrence)
        predictions = self._predictions(key)
        context = occurrence if name == "ref_frame_idx" else self._context(name)
        for kind, predicted in predictions:
            if self._bit((name, kind, context), None if value is None else int(value == predicted)):
                value = predicted
                break
        else:
            value = self._raw_escape(name, bits, value)
        self._remember(key, value)
        return value

    def _raw_escape(self, name: str, bits: int, value: int | None) -> int:
        """A value without a prediction to measure from: its bits, the first three in context of
        the bits before them."""
        decoded = 0
        for i in range(bits):
            given = None if value is None else value >> (bits - 1 - i) & 1
            decoded = decoded << 1 | self._bit((name, "bit", i, decoded if i < 3 else -1), given)
        return decoded

    def _remember(self, key: tuple, value: int) -> None:
        name, occurrence = key
        mask = (1 << self.hint_bits) - 1
        if name == "show_frame":
            self.show_frame = value
            self.previous_kind = 1 - value
        elif name == "show_existing_frame":
            self.previous_kind = 2 if value else self.previous_kind
        elif name == "frame_to_show_map_idx" and self.slots.order_hints[value] is not None:
            self._show(self.slots.order_hints[value])
        elif name == "order_hint":
            self.order_hint, self.layer = value, self._layer(value)
            if value:
                self.deepest = max(self.deepest, min(self.layer, self.hint_bits - 1))
            if self.show_frame:
                self._show(value)
            else:
                self.pending.add(value)
        elif name == "ref_frame_idx" and self.layer is not None:
            hint = self.slots.order_hints[value]
            if hint is not None:
                self.ref_distance[occurrence, self.layer] = (self.order_hint - hint) & mask
        self.last[key] = value
        if self.layer is not None:
            self.last[key, self.layer] = value

    def _show(self, hint: int) -> None:
        self.shown = hint
        self.pending = {h for h in self.pending if relative_distance(h, hint, self.hint_bits) > 0}
