"""The rules that hold for every backend, over one storage driver. No I/O of its own."""

from __future__ import annotations

from tidings.clock import Clock
from tidings.config import Limits
from tidings.service.claims import ClaimService
from tidings.service.messages import MessageService
from tidings.service.queues import QueueService
from tidings.storage.base import Storage


class Service:
    def __init__(self, storage: Storage, limits: Limits, clock: Clock) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        self.queues = QueueService(storage, limits, clock)
        self.messages = MessageService(storage, limits, clock)
        self.claims = ClaimService(storage, limits, clock)

    async def is_alive(self) -> bool:
        return await self.storage.is_alive()
