"""A transport that authenticates with Keystone: it asks Keystone v3 for a project-scoped token
with a user's password, sends it as ``X-Auth-Token``, and asks again shortly before the token
expires or once when the server answers 401."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from tidings.client.transport import ConnectFailed, Response, Transport

RENEW_BEFORE = 60.0
"""Seconds before its expiry at which a token is replaced."""


@dataclass(frozen=True)
class Credentials:
    auth_url: str
    """The identity v3 endpoint, e.g. ``http://keystone:5000/v3``."""
    username: str
    password: str = field(repr=False)
    project: str
    """The name of the project the token is scoped to."""
    user_domain: str = "Default"
    project_domain: str = "Default"

    def request(self) -> dict[str, object]:
        user = {"name": self.username, "password": self.password}
        project = {"name": self.project, "domain": {"name": self.project_domain}}
        return {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {**user, "domain": {"name": self.user_domain}}},
                },
                "scope": {"project": project},
            }
        }


class KeystoneTransport:
    def __init__(self, inner: Transport, credentials: Credentials, timeout: float = 30.0) -> None:
        self._inner = inner
        self._credentials = credentials
        self._timeout = timeout
        self._token = ""
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        token = await self._current_token()
        response = await self._inner.request(
            method, target, {**headers, "X-Auth-Token": token}, body
        )
        if response.status != 401:
            return response
        token = await self._current_token(rejected=token)
        return await self._inner.request(method, target, {**headers, "X-Auth-Token": token}, body)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _current_token(self, rejected: str = "") -> str:
        async with self._lock:
            if self._token == rejected or time.time() > self._expires - RENEW_BEFORE:
                self._token, self._expires = await self._issue()
            return self._token

    async def _issue(self) -> tuple[str, float]:
        url = self._credentials.auth_url.rstrip("/") + "/auth/tokens"
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(url, json=self._credentials.request())
        except httpx.ConnectError as exc:
            raise ConnectFailed(f"cannot reach Keystone at {url}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ConnectionError(f"Keystone at {url}: {exc!r}") from exc
        if response.status_code != 201:
            raise PermissionError(f"Keystone refused a token ({response.status_code})")
        expires = response.json()["token"]["expires_at"]
        return response.headers["X-Subject-Token"], _timestamp(expires)


def _timestamp(iso: str) -> float:
    moment = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.timestamp()
