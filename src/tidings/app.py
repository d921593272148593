"""Assembling a server: settings → storage driver → service → HTTP app, plus background GC."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette

from tidings.clock import Clock, system_clock
from tidings.config import Settings, load_settings
from tidings.service import Service
from tidings.service.encryption import BodyCipher
from tidings.storage.base import storage_from_url
from tidings.transport.http import create_app

log = logging.getLogger(__name__)


def build_app(settings: Settings, clock: Clock = system_clock) -> Starlette:
    storage = storage_from_url(settings.storage.url)
    service = Service(storage, settings.limits, clock, BodyCipher(settings.encryption.key))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await storage.open()
        collector = asyncio.create_task(_collect_garbage(service, settings.storage.gc_interval))
        try:
            yield
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            await storage.close()

    return create_app(service, settings, lifespan)


def app_from_environ() -> Starlette:
    """The app as configured by ``TIDINGS_*`` variables (and ``TIDINGS_CONFIG``); used by
    each server process."""
    config = os.environ.get("TIDINGS_CONFIG")
    settings = load_settings(Path(config) if config else None, os.environ)
    return build_app(settings)


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
