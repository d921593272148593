"""The one table of operations that every transport binds to."""

from __future__ import annotations

from tidings.api import claims, messages, pools, queues, subscriptions, system, topics
from tidings.api.operation import Operation, Reply, Request
from tidings.api.policy import Policy
from tidings.service import Service

OPERATIONS: dict[str, Operation] = {
    operation.name: operation
    for operation in (
        *system.OPERATIONS,
        *queues.OPERATIONS,
        *messages.OPERATIONS,
        *claims.OPERATIONS,
        *subscriptions.OPERATIONS,
        *topics.OPERATIONS,
        *pools.OPERATIONS,
    )
}


async def call(operation: Operation, service: Service, request: Request, policy: Policy) -> Reply:
    """Authorize and run one operation."""
    if operation.policy:
        policy.enforce(operation.policy, request.context)
    return await operation.handler(service, request)


__all__ = ["OPERATIONS", "Operation", "Reply", "Request", "call"]
