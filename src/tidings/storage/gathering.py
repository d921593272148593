"""Storage calls that go to the store together, gathered over the turns of the event loop
while requests keep adding to them (SQLite's batches, Redis's pipelines).

A request read in one turn of the loop makes its storage call in the next. So a batch sent
at the end of the turn that made its first call leaves out the requests arriving meanwhile,
and they start the next one. Waiting while each turn adds calls makes fewer, larger
batches, and each batch's own cost (a transaction, a round trip) is shared by more calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

MOST_TURNS = 8
"""Turns of the event loop that a batch waits at most for more calls."""


def when_settled(
    loop: asyncio.AbstractEventLoop, waiting: Callable[[], int], then: Callable[[], None]
) -> None:
    """Call ``then`` once a turn of ``loop`` added nothing to ``waiting()`` (the number of calls
    gathered), or after ``MOST_TURNS`` turns."""

    def look(before: int, turns: int) -> None:
        gathered = waiting()
        if gathered > before and turns < MOST_TURNS:
            loop.call_soon(look, gathered, turns + 1)
        else:
            then()

    loop.call_soon(look, 0, 0)
