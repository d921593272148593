"""A bounded mapping that forgets the entries kept least recently first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most ``limit`` entries: keeping one makes it the newest, and the oldest goes once
    there are more."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: dict[K, V] = {}
        """Oldest first."""

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def keep(self, key: K, value: V) -> V:
        self._entries.pop(key, None)
        self._entries[key] = value
        if len(self._entries) > self._limit:
            del self._entries[next(iter(self._entries))]
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        """The keys, oldest first, as they are now: entries may be forgotten meanwhile."""
        return iter(list(self._entries))
