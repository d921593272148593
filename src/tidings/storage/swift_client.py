"""Swift's HTTP API for the Swift driver and its pool catalog: the storage URL, v1 auth
(tempauth) or Keystone v3 auth, and requests on one account with httpx's async client.

URLs (percent-encode ``:`` and ``@`` inside the user and key)::

    swift://USER:KEY@HOST:PORT/auth/v1.0                  tempauth (v1 auth)
    swift+keystone://USER:PASSWORD@HOST:PORT/v3?project=P  Keystone v3 password auth

Options: ``prefix`` (the namespace of every container, default ``tidings``), ``tls=true``
(https), ``timeout`` (seconds per request, default 5), and for Keystone ``domain`` (of the user
and the project, default ``Default``), ``user_domain``, ``project_domain``, ``region`` and
``interface`` (default ``public``) of the object-store endpoint.

Failures to reach Swift, timeouts and 5xx answers become ``StorageUnavailable``; a token that
Swift stops accepting (401) is renewed once, then the request is retried. A read that Swift
answers with a 5xx is sent again after a short pause, twice at most.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import orjson

from tidings import errors
from tidings.storage.url_options import only_parameters

Doc = dict[str, Any]

TIMEOUT = 5.0
"""Seconds a Swift request may take (connecting: CONNECT_TIMEOUT) before it is a 503."""
CONNECT_TIMEOUT = 2.0
READ_PAUSES = (0.05, 0.2)
"""Seconds before a read (GET, HEAD) that Swift answered with a 5xx is sent again, as Swift's
own client does: a proxy under load answers 503 when its object servers are slow to answer,
and the next try usually gets through. Writes are not sent again: one answered with a 5xx
may have been stored."""
FOUND_ATTEMPTS = 3
"""Writes to a container just created, before the answer that it is missing is believed."""
READS = frozenset({"GET", "HEAD"})
CONNECTIONS = 64
PREFIX = re.compile(r"[A-Za-z0-9_-]{1,32}")
USAGE = (
    "Swift URLs look like swift://USER:KEY@HOST:PORT/auth/v1.0 or "
    "swift+keystone://USER:PASSWORD@HOST:PORT/v3?project=PROJECT"
)


@dataclass(frozen=True)
class SwiftConfig:
    auth_url: str
    user: str
    key: str
    keystone: bool = False
    project: str = ""
    user_domain: str = "Default"
    project_domain: str = "Default"
    region: str | None = None
    interface: str = "public"
    prefix: str = "tidings"
    timeout: float = TIMEOUT


OPTIONS = ("prefix", "tls", "timeout")
KEYSTONE_OPTIONS = (
    *OPTIONS,
    "project",
    "domain",
    "user_domain",
    "project_domain",
    "region",
    "interface",
)
TLS_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
INTERFACES = ("public", "internal", "admin")
"""The interfaces a Keystone catalog lists an endpoint under."""


def parse_url(url: str) -> SwiftConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("swift", "swift+keystone") or not parts.hostname:
        raise ValueError(USAGE)
    if parts.username is None or parts.password is None:
        raise ValueError(USAGE)
    keystone = parts.scheme == "swift+keystone"
    query = _options(parts.scheme, parts.query)
    scheme = "https" if _tls(query.get("tls", "false")) else "http"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    prefix = query.get("prefix", "tidings")
    if not PREFIX.fullmatch(prefix):
        raise ValueError("The Swift prefix holds 1 to 32 letters, digits, '_' or '-'.")
    if keystone and not query.get("project"):
        raise ValueError("swift+keystone URLs need ?project=PROJECT")
    interface = query.get("interface", "public")
    if interface not in INTERFACES:
        raise ValueError(f"interface is one of {', '.join(INTERFACES)}; got {interface!r}")
    domain = query.get("domain", "Default")
    return SwiftConfig(
        auth_url=f"{scheme}://{host}{port}{parts.path or '/auth/v1.0'}",
        user=unquote(parts.username),
        key=unquote(parts.password),
        keystone=keystone,
        project=query.get("project", ""),
        user_domain=query.get("user_domain", domain),
        project_domain=query.get("project_domain", domain),
        region=query.get("region"),
        interface=interface,
        prefix=prefix,
        timeout=_timeout(query.get("timeout", str(TIMEOUT))),
    )


def _options(scheme: str, text: str) -> dict[str, str]:
    """The URL's options; ValueError for one its scheme does not take, one given twice and
    one left empty."""
    allowed = KEYSTONE_OPTIONS if scheme == "swift+keystone" else OPTIONS
    return only_parameters(parse_qsl(text, keep_blank_values=True), allowed, f"{scheme}:// URLs")


def _tls(text: str) -> bool:
    tls = TLS_VALUES.get(text.lower())
    if tls is None:
        raise ValueError(f"tls is true or false; got {text!r}")
    return tls


def _timeout(text: str) -> float:
    """Seconds above 0; ValueError for anything else."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"timeout is seconds, a number above 0; got {text!r}")
    return seconds


async def tempauth(client: httpx.AsyncClient, config: SwiftConfig) -> tuple[str, str]:
    """The storage URL and token that Swift's v1 auth (tempauth, swauth) gives the user."""
    headers = {"X-Auth-User": config.user, "X-Auth-Key": config.key}
    response = await client.get(config.auth_url, headers=headers)
    if response.status_code not in (200, 204):
        raise errors.StorageUnavailable(f"Swift auth answered {response.status_code}.")
    return response.headers["x-storage-url"], response.headers["x-auth-token"]


async def keystone(client: httpx.AsyncClient, config: SwiftConfig) -> tuple[str, str]:
    """A project-scoped Keystone v3 token, and the object-store endpoint of its catalog."""
    user = {"name": config.user, "domain": {"name": config.user_domain}, "password": config.key}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {
                "project": {"name": config.project, "domain": {"name": config.project_domain}}
            },
        }
    }
    response = await client.post(config.auth_url.rstrip("/") + "/auth/tokens", json=body)
    if response.status_code != 201:
        raise errors.StorageUnavailable(f"Keystone answered {response.status_code}.")
    return object_store_endpoint(response.json(), config), response.headers["x-subject-token"]


def object_store_endpoint(token: Doc, config: SwiftConfig) -> str:
    for service in token["token"].get("catalog", []):
        if service.get("type") != "object-store":
            continue
        for endpoint in service.get("endpoints", []):
            region = endpoint.get("region_id", endpoint.get("region"))
            if endpoint.get("interface") == config.interface and config.region in (None, region):
                return str(endpoint["url"]).rstrip("/")
    raise errors.StorageUnavailable("Keystone's catalog names no object-store endpoint.")


class SwiftClient:
    """Swift's HTTP API on one account: a token, renewed once on a 401; failures to reach
    Swift, timeouts and 5xx answers become StorageUnavailable."""

    def __init__(self, config: SwiftConfig) -> None:
        self._config = config
        self._client: httpx.AsyncClient | None = None
        self._session: tuple[str, str] | None = None
        self._auth_lock = asyncio.Lock()

    async def open(self) -> None:
        timeout = httpx.Timeout(self._config.timeout, connect=CONNECT_TIMEOUT)
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits)
        await self._renew(None)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise errors.StorageUnavailable("The Swift store is closed.")
        return self._client

    async def _renew(self, stale: str | None) -> tuple[str, str]:
        async with self._auth_lock:
            if self._session is None or self._session[1] == stale:
                authenticate = keystone if self._config.keystone else tempauth
                try:
                    self._session = await authenticate(self._http(), self._config)
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    raise errors.StorageUnavailable(f"Swift auth failed: {exc!r}.") from exc
            return self._session

    async def request(
        self,
        method: str,
        path: str = "",
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        again: bool = True,
    ) -> httpx.Response:
        """Send the request (with a renewed token after a 401). A request sent on a kept-alive
        connection that turns out broken is sent once more if ``again``."""
        session = self._session or await self._renew(None)
        for last in (False, True):
            url, token = session
            headers = {**(headers or {}), "X-Auth-Token": token}
            response = await self._send(method, url + path, headers, params, content, again)
            if response.status_code != 401 or last:
                break
            session = await self._renew(token)
        if response.status_code >= 500 or response.status_code in (401, 403, 429, 498):
            raise errors.StorageUnavailable(f"Swift answered {response.status_code}.")
        return response

    async def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        content: bytes | None,
        again: bool,
    ) -> httpx.Response:
        pauses = iter(READ_PAUSES if method in READS else ())
        while True:
            try:
                response = await self._http().request(
                    method, url, headers=headers, params=params, content=content
                )
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if not again:
                    raise errors.StorageUnavailable(f"Swift: {exc!r}. Please try again.") from exc
                again = False
                continue
            except httpx.HTTPError as exc:
                raise errors.StorageUnavailable(f"Swift: {exc!r}. Please try again.") from exc
            pause = next(pauses, None) if response.status_code >= 500 else None
            if pause is None:
                return response
            await asyncio.sleep(pause)

    async def create(self, container: str, headers: dict[str, str] | None = None) -> bool:
        """Create the container; False when it exists, or was deleted by a request that
        started after this one (409). Of concurrent creators, only one gets True."""
        # never sent twice: the answer to the first one (created or not) would be lost
        response = await self.request("PUT", _path(container), headers, again=False)
        return _expect(response.status_code, 201, 202, 409) == 201

    async def listing(self, container: str, **params: str) -> list[Doc] | None:
        """A page of the container's (or, for "", the account's) listing; None when absent."""
        path = _path(container) if container else ""
        response = await self.request("GET", path, params={"format": "json", **params})
        if _expect(response.status_code, 200, 204, 404) != 200:
            return None if response.status_code == 404 else []
        rows: list[Doc] = orjson.loads(response.content)
        return rows

    async def get(self, container: str, name: str) -> httpx.Response | None:
        response = await self.request("GET", _path(container, name))
        return response if _expect(response.status_code, 200, 404) == 200 else None

    async def put(self, container: str, name: str, content: bytes, headers: dict[str, str]) -> int:
        """201, or 412 for If-None-Match on an existing object, or 404 without container."""
        response = await self.request("PUT", _path(container, name), headers, content=content)
        return _expect(response.status_code, 201, 404, 412)

    async def post(self, container: str, name: str, headers: dict[str, str]) -> int:
        return _expect(
            (await self.request("POST", _path(container, name), headers)).status_code, 202, 404
        )

    async def delete(self, container: str, name: str = "") -> int:
        """204, 404 when absent, 409 for a container that is not empty."""
        path = _path(container, name) if name else _path(container)
        return _expect((await self.request("DELETE", path)).status_code, 204, 404, 409)

    async def head(self, container: str, name: str | None = None) -> httpx.Response | None:
        """The object's (or, without a name, the container's) headers; None when absent."""
        response = await self.request("HEAD", _path(container, name))
        return response if _expect(response.status_code, 200, 204, 404) != 404 else None

    async def exists(self, container: str, name: str | None = None) -> bool:
        return await self.head(container, name) is not None

    async def put_creating(
        self, container: str, name: str, content: bytes, headers: dict[str, str]
    ) -> None:
        """PUT an object, creating its container when Swift answers that it is missing."""

        async def put() -> bool:
            return await self.put(container, name, content, headers) != 404

        if not await put():
            await self.create(container)
            await self.until_found(container, put)

    async def until_found(self, container: str, write: Callable[[], Awaitable[bool]]) -> None:
        """``write`` (False: Swift answered that the container is missing) to a container
        just created, again after a HEAD of the container while that finds it. Swift's proxy
        keeps a container's absence in memcached for a while, and a request of another writer
        that found it missing before the creation can put that back just after; a HEAD asks
        the container servers and puts what they say in the proxy's cache."""
        for _ in range(FOUND_ATTEMPTS):
            if await write():
                return
            if not await self.exists(container):
                break
        raise errors.StorageUnavailable("The container vanished while it was written to.")


def _path(container: str, name: str | None = None) -> str:
    path = "/" + quote(container, safe="")
    return path if name is None else path + "/" + quote(name, safe="/")


def _expect(status: int, *expected: int) -> int:
    if status not in expected:
        raise errors.StorageUnavailable(f"Swift answered {status}.")
    return status
