"""The rules that hold for every backend, over one storage driver. No I/O of its own."""

from __future__ import annotations

from tidings.clock import Clock
from tidings.config import Limits
from tidings.service.claims import ClaimService
from tidings.service.encryption import BodyCipher
from tidings.service.messages import MessageService
from tidings.service.queues import QueueService
from tidings.storage.base import Storage


class Service:
    def __init__(
        self,
        storage: Storage,
        limits: Limits,
        clock: Clock,
        cipher: BodyCipher | None = None,
    ) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        cipher = cipher or BodyCipher("")
        self.queues = QueueService(storage, limits, clock, cipher)
        self.messages = MessageService(storage, limits, clock, cipher)
        self.claims = ClaimService(storage, limits, clock, cipher)

    async def is_alive(self) -> bool:
        return await self.storage.is_alive()
