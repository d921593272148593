"""Unique ids made cheaply: a random prefix drawn once per process, then a counter, written
as a UUID (version 4 and its variant bits set, so they parse as one).

``uuid.uuid4()`` asks the kernel for fresh random bytes each time; under load that system
call was the largest single cost of a one-message post (its message id and its request id).
These ids must be unique, not secret: the prefix (60 random bits) keeps the processes of a
deployment apart, the counter the ids of one process.
"""

from __future__ import annotations

import itertools
import os
import uuid

_COUNTER_BITS = 62


class _Source:
    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = str(uuid.uuid4())[:18]
        self.counter = itertools.count()

    def next(self) -> str:
        number = next(self.counter) % (1 << _COUNTER_BITS)
        return f"{self.prefix}-{0x8000 | number >> 48:04x}-{number & 0xFFFFFFFFFFFF:012x}"


_source = _Source()
os.register_at_fork(after_in_child=_source.reseed)


def unique_id() -> str:
    """A new id, in the text form of a UUID, never given before by any process."""
    return _source.next()
