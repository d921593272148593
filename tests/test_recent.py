"""The bounded mapping of the caches: the entries kept least recently go first."""

from __future__ import annotations

from tidings.recent import Recent


def test_the_oldest_entry_goes_once_there_are_more_than_the_limit() -> None:
    recent = Recent[str, int](2)

    recent.keep("a", 1)
    recent.keep("b", 2)
    recent.keep("c", 3)

    assert list(recent) == ["b", "c"]
    assert recent.get("a") is None
    assert recent.get("c") == 3


def test_keeping_an_entry_again_makes_it_the_newest() -> None:
    recent = Recent[str, int](2)
    recent.keep("a", 1)
    recent.keep("b", 2)

    recent.keep("a", 10)
    recent.keep("c", 3)

    assert list(recent) == ["a", "c"]
    assert recent.get("a") == 10


def test_entries_may_be_forgotten_while_the_keys_are_walked() -> None:
    recent = Recent[str, int](3)
    for value, key in enumerate("abc"):
        recent.keep(key, value)

    for key in recent:
        recent.forget(key)

    assert len(recent) == 0
