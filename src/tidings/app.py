"""Assembling a server: settings → storage (the default driver, its catalog and pools) →
service, authenticator and policy → HTTP app, plus background GC and notification delivery."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette

from tidings.api.policy import Policy
from tidings.clock import Clock, system_clock
from tidings.config import Settings, load_settings
from tidings.notify import Notifier
from tidings.notify.worker import DeliverySetup, keep_no_figures
from tidings.observability import Instruments, logs
from tidings.service import Service
from tidings.service.encryption import BodyCipher
from tidings.service.pools import PoolService
from tidings.storage.pooled import pooled_from_url
from tidings.transport import auth
from tidings.transport.http import create_app

log = logging.getLogger(__name__)


def build_app(
    settings: Settings, clock: Clock = system_clock, instruments: Instruments | None = None
) -> Starlette:
    instruments = instruments or Instruments.from_settings(settings.observability)
    url = settings.storage.url
    storage = pooled_from_url(url, settings.storage.catalog_refresh, instruments.watch)
    instruments.read_backlog(storage, clock)
    cipher = BodyCipher(settings.encryption.key)
    service = Service(
        storage,
        settings.limits,
        clock,
        cipher,
        settings.signed_url.secret_key,
        settings.notification,
        pools=PoolService(storage, settings.limits),
    )
    observe = (
        keep_no_figures if instruments.metrics is None else instruments.metrics.observe_delivery
    )
    job_ttl = settings.limits.max_message_ttl
    notifier = Notifier(
        DeliverySetup(storage, settings.notification, clock, cipher, job_ttl, observe)
    )
    policy = Policy.from_file(settings.auth.policy_file)
    authenticator = auth.authenticator(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await storage.open()
        instruments.start()
        collector = asyncio.create_task(_collect_garbage(service, settings.storage.gc_interval))
        await notifier.start()
        try:
            yield
        finally:
            await notifier.stop()
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            await storage.close()
            await authenticator.aclose()
            await instruments.stop()

    return create_app(service, settings, lifespan, authenticator, policy, instruments)


def app_from_environ() -> Starlette:
    """The app as configured by ``TIDINGS_*`` variables (and ``TIDINGS_CONFIG``); used by
    each server process."""
    config = os.environ.get("TIDINGS_CONFIG")
    settings = load_settings(Path(config) if config else None, os.environ)
    logs.configure(settings.observability.log_format, settings.observability.log_level)
    app = build_app(settings)
    _collect_garbage_cycles_less_often()
    return app


YOUNG_OBJECTS_BEFORE_COLLECTION = 100_000
"""Python's default is 700: under load that ran a full collection of every tracked object
every few hundred requests, a pause of milliseconds that made the p99 on Redis (``post-1``
at 32 clients: 26-29 ms, 11-13 ms with this)."""


def _collect_garbage_cycles_less_often() -> None:
    """A server process keeps what it has loaded by now for its whole life: leave it out of
    the cycle collector's scans, and collect the young objects less often."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTION, older, oldest)


async def _collect_garbage(service: Service, interval: float) -> None:
    """Expired messages and claims are already invisible; this reclaims their space."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await service.storage.gc(service.clock())
        except Exception:
            log.exception("garbage collection failed")
        else:
            log.debug("garbage collection removed %d records", removed)
