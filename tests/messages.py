"""New messages for the storage tests: a fresh id each, from one producer."""

from __future__ import annotations

import uuid

from tidings.models import JSON, NewMessage, PostContext, PreparedPost

PRODUCER = "3381af92-2b9e-11e3-b191-71861300734c"


def new(
    *bodies: JSON, ttl: int = 300, delay: int = 0, client_id: str = PRODUCER
) -> list[NewMessage]:
    return [NewMessage(str(uuid.uuid4()), body, ttl, delay, client_id) for body in bodies]


def one_message(context: PostContext) -> PreparedPost:
    """A post's preparation that makes one message, whatever the queue's context."""
    return PreparedPost(new("x"), ())
