"""A sequence whose items are made each time they are asked for, never kept: how the encoder hands a
long clip's keyframes and chunks around without holding them all."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class MadeOnRequest(Sequence[T]):
    """Subclasses give `__len__` and `make(index)` for 0 <= index < len; this adds negative indices,
    slices (as lists), the IndexError that ends an iteration, and equality by items."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def make(self, index: int) -> T:
        """Item `index`, made now."""

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self.make(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self.make(index % len(self))

    def __eq__(self, other: object) -> bool:  # the same items, wherever each sequence keeps them
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # compared by value, as a list is
