"""Validating Keystone tokens on the event loop (what keystonemiddleware's ``auth_token`` does
for WSGI services).

With its own service token, the validator asks Keystone's identity v3 API about each user token
(``GET /v3/auth/tokens`` with ``X-Subject-Token``): 200 means valid, 404 invalid, expired or
revoked. Answers are cached by the token's SHA-256 until the token expires, but never longer
than ``RECHECK`` seconds, so a revoked token stops working within that time; invalid tokens are
remembered for ``NEGATIVE`` seconds. Concurrent requests with one token share one call.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from tidings import errors
from tidings.clock import Clock
from tidings.config import AuthSettings
from tidings.recent import Recent

log = logging.getLogger(__name__)

RECHECK = 60.0
NEGATIVE = 10.0
RENEW_BEFORE = 60.0
"""Seconds before its expiry that the service token is replaced."""
TIMEOUT = 5.0
MAX_CACHED = 10_000
MAX_TOKEN = 8192


@dataclass(frozen=True)
class Identity:
    """What a valid project-scoped token says about its bearer."""

    project_id: str
    user_id: str
    roles: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class _Cached:
    identity: Identity | None
    until: float


class KeystoneValidator:
    def __init__(
        self, settings: AuthSettings, clock: Clock, client: httpx.AsyncClient | None = None
    ) -> None:
        self._tokens_url = settings.keystone_url.rstrip("/") + "/auth/tokens"
        self._credentials = _password_auth(settings)
        self._clock = clock
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT)
        self._service: tuple[str, float] | None = None
        self._service_lock = asyncio.Lock()
        self._cache = Recent[str, _Cached](MAX_CACHED)
        self._pending: dict[str, asyncio.Task[Identity | None]] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def validate(self, token: str) -> Identity | None:
        """The token's identity, or None when it is not a valid project-scoped token.

        Raises ``IdentityUnavailable`` when Keystone cannot answer."""
        if not token.isascii() or not token.isprintable() or len(token) > MAX_TOKEN:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached.until > self._clock():
            return cached.identity
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch_and_remember(key, token))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._pending.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch_and_remember(self, key: str, token: str) -> Identity | None:
        identity = await self._fetch(token)
        now = self._clock()
        until = now + NEGATIVE if identity is None else min(now + RECHECK, identity.expires_at)
        self._cache.keep(key, _Cached(identity, until))
        return identity

    async def _fetch(self, token: str) -> Identity | None:
        response = await self._ask(token)
        if response.status_code == 401:
            response = await self._ask(token, renew=True)
        if response.status_code == 200:
            return _identity(response.json()["token"])
        if response.status_code in (400, 404):
            return None
        log.error("Keystone answered %d to a token validation", response.status_code)
        raise errors.IdentityUnavailable()

    async def _ask(self, token: str, renew: bool = False) -> httpx.Response:
        headers = {"X-Auth-Token": await self._service_token(renew), "X-Subject-Token": token}
        return await self._send("GET", self._tokens_url, headers=headers, params="nocatalog")

    async def _service_token(self, renew: bool) -> str:
        async with self._service_lock:
            if renew or self._service is None or self._service[1] - RENEW_BEFORE < self._clock():
                self._service = await self._issue_service_token()
            return self._service[0]

    async def _issue_service_token(self) -> tuple[str, float]:
        response = await self._send(
            "POST", self._tokens_url, json=self._credentials, params="nocatalog"
        )
        if response.status_code != 201:
            log.error("Keystone refused the service credentials: %d", response.status_code)
            raise errors.IdentityUnavailable()
        expires = _timestamp(response.json()["token"]["expires_at"])
        return response.headers["X-Subject-Token"], expires

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("Keystone at %s is unreachable: %s", url, exc)
            raise errors.IdentityUnavailable() from exc


def _identity(token: dict[str, Any]) -> Identity | None:
    """Only project-scoped tokens name a project to act in; others are refused."""
    if "project" not in token:
        return None
    return Identity(
        project_id=token["project"]["id"],
        user_id=token["user"]["id"],
        roles=frozenset(role["name"] for role in token.get("roles", ())),
        expires_at=_timestamp(token["expires_at"]),
    )


def _timestamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def _password_auth(settings: AuthSettings) -> dict[str, Any]:
    domain = {"name": settings.service_domain}
    user = {"name": settings.service_user, "password": settings.service_password, "domain": domain}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": settings.service_project, "domain": domain}},
        }
    }
