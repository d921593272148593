"""The rules that hold for every backend, over one storage driver. No I/O of its own."""

from __future__ import annotations

from tidings.clock import Clock
from tidings.config import Limits, NotificationSettings
from tidings.models import JSON
from tidings.service.claims import ClaimService
from tidings.service.encryption import BodyCipher
from tidings.service.messages import MessageService
from tidings.service.outbox import OutboxRules
from tidings.service.pools import PoolService
from tidings.service.queues import QueueService
from tidings.service.share import ShareService
from tidings.service.subscriptions import SubscriptionService
from tidings.storage.base import Storage


class Service:
    def __init__(
        self,
        storage: Storage,
        limits: Limits,
        clock: Clock,
        cipher: BodyCipher | None = None,
        signing_key: str = "",
        notification: NotificationSettings | None = None,
        pools: PoolService | None = None,
    ) -> None:
        self.storage = storage
        self.pools = pools
        """Pool and flavor administration; None where the storage has no pool catalog."""
        self.limits = limits
        self.clock = clock
        cipher = cipher or BodyCipher("")
        notification = notification or NotificationSettings()
        outbox = OutboxRules(notification.require_confirmation, limits.max_message_ttl)
        self.queues = QueueService(storage, limits, clock, cipher)
        self.messages = MessageService(storage, limits, clock, cipher, outbox)
        self.claims = ClaimService(storage, limits, clock, cipher)
        self.shares = ShareService(signing_key, clock)
        self.subscriptions = SubscriptionService(
            storage, limits, clock, outbox, signing_key, notification.public_url
        )

    async def is_alive(self) -> bool:
        return await self.storage.is_alive()

    async def health(self) -> tuple[bool, dict[str, JSON]]:
        """Whether this node can serve, and the report of ``GET /v2/health``."""
        if self.pools is not None:
            return await self.pools.health()
        alive = await self.is_alive()
        return alive, {"storage_reachable": alive}
