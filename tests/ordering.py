"""Message order as every storage driver guarantees it.

A driver that declares FIFO lists, gets, claims, pops and moves messages in post order. One that
does not (Swift, whose container listings are eventually consistent) still returns the right
messages, each once, in an order of its own. ``PostOrder`` is the expected side of an assert
about order: equal to a sequence of exactly its items, in post order on a FIFO driver and in any
order elsewhere, so one assert states what each driver guarantees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidings.storage.base import FIFO, Storage


@dataclass(frozen=True, eq=False)
class PostOrder:
    items: tuple[object, ...]
    fifo: bool

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        if self.fifo:
            return list(other) == list(self.items)
        return _as_multiset(other) == _as_multiset(self.items)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{list(self.items)!r} {'in this' if self.fifo else 'in any'} order"


def _as_multiset(items: Sequence[object]) -> list[str]:
    """The items, order aside (by their repr: JSON bodies need not be hashable or comparable)."""
    return sorted(repr(item) for item in items)


PostOrderOf = Callable[..., PostOrder]
"""``post_order(*items)``: the expected value of a listing of ``items``, posted in this order."""


def post_order_of(driver: Storage) -> PostOrderOf:
    fifo = FIFO in driver.capabilities

    def post_order(*items: object) -> PostOrder:
        return PostOrder(items, fifo)

    return post_order
