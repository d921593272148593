"""Which queue or topic a request names, and where its records are stored."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tidings.api.operation import Operation, Request
from tidings.api.params import QUEUE_NAME, TOPIC_NAME
from tidings.service.scope import Kind, space_of


@dataclass(frozen=True)
class Source:
    space: str
    """The storage project: the caller's project for a queue, its topic space for a topic."""
    name: str
    kind: Kind

    @property
    def href(self) -> str:
        return f"/v2/{self.kind}/{self.name}"


def source(request: Request) -> Source:
    """The topic a ``topic_name`` parameter names, else the queue of ``queue_name``."""
    project = request.context.project_id
    if "topic_name" in request.params:
        return Source(space_of(project, "topics"), request.params["topic_name"], "topics")
    return Source(project, request.params["queue_name"], "queues")


def on_topics(operation: Operation, name: str, policy: str | None = None) -> Operation:
    """The same operation on ``/v2/topics/{topic_name}/...`` instead of a queue."""
    params = tuple(TOPIC_NAME if param == QUEUE_NAME else param for param in operation.params)
    return dataclasses.replace(
        operation,
        name=name,
        path=operation.path.replace("/v2/queues/{queue_name}", "/v2/topics/{topic_name}", 1),
        summary=re.sub(r"(?<!another )queue", "topic", operation.summary),
        params=params,
        policy=operation.policy if policy is None else policy,
    )
