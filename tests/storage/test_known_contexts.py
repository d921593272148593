"""When a kept context is used as it is, and when its version or the whole context is read
again (``KnownContexts.current``, as the SQLite driver calls it)."""

from __future__ import annotations

from tidings.models import JSON, PostContext
from tidings.storage.known_contexts import KnownContexts

PROJECT = "project-a"
QUEUE = "fizbit"


class Store:
    """A queue's context version and metadata, counting the reads of each."""

    def __init__(self) -> None:
        self.version = "1"
        self.metadata: dict[str, JSON] = {"a": 1}
        self.version_reads = 0
        self.context_reads = 0

    def read_version(self) -> str:
        self.version_reads += 1
        return self.version

    def read_context(self) -> PostContext:
        self.context_reads += 1
        return PostContext(dict(self.metadata), [])


def _current(kept: KnownContexts, store: Store, clock: int) -> PostContext:
    return kept.current(PROJECT, QUEUE, clock, store.read_version, store.read_context).context


def test_a_context_confirmed_at_the_same_clock_is_used_without_a_read() -> None:
    kept, store = KnownContexts(), Store()
    _current(kept, store, clock=5)

    assert _current(kept, store, clock=5).metadata == {"a": 1}
    assert (store.version_reads, store.context_reads) == (1, 1)


def test_a_moved_clock_reads_the_version_and_keeps_the_context_it_did_not_change() -> None:
    kept, store = KnownContexts(), Store()
    _current(kept, store, clock=5)

    _current(kept, store, clock=6)  # another queue changed
    assert (store.version_reads, store.context_reads) == (2, 1)

    _current(kept, store, clock=6)  # confirmed at 6 since
    assert (store.version_reads, store.context_reads) == (2, 1)


def test_a_moved_version_reads_the_context_again() -> None:
    kept, store = KnownContexts(), Store()
    _current(kept, store, clock=5)

    store.version, store.metadata = "6", {"a": 2}
    assert _current(kept, store, clock=6).metadata == {"a": 2}
    assert (store.version_reads, store.context_reads) == (2, 2)
