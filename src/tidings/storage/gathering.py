"""When storage calls gathered for the store go to it (SQLite's batches, Redis's pipelines):
at the end of the turn of the event loop after the one that made the first of them.

A request read in one turn of the loop makes its storage call in the next. So a batch sent
at the end of the turn that made its first call left out the requests that arrived
meanwhile, and they started the next one. One turn later, they join it: fewer, larger
batches, each one's own cost (a transaction, a round trip) shared by more calls. Waiting
longer (while each turn added calls, up to eight turns) made SQLite's `post-10` p99 at 32
clients two to three times longer (docs/performance.md, the seventh round).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def after_next_turn(loop: asyncio.AbstractEventLoop, then: Callable[[], None]) -> None:
    """Call ``then`` at the end of the next turn of ``loop``, not of this one."""
    loop.call_soon(loop.call_soon, then)
