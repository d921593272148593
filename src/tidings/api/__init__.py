"""The one table of operations that every transport binds to."""

from __future__ import annotations

from tidings.api import claims, messages, queues, system
from tidings.api.operation import Operation, Reply, Request
from tidings.api.policy import authorize
from tidings.service import Service

OPERATIONS: dict[str, Operation] = {
    operation.name: operation
    for operation in (
        *system.OPERATIONS,
        *queues.OPERATIONS,
        *messages.OPERATIONS,
        *claims.OPERATIONS,
    )
}


async def call(operation: Operation, service: Service, request: Request) -> Reply:
    """Authorize and run one operation."""
    if operation.policy:
        authorize(operation.policy, request.context)
    return await operation.handler(service, request)


__all__ = ["OPERATIONS", "Operation", "Reply", "Request", "call"]
