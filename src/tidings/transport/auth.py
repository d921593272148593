"""Who is calling: one authenticator, chosen by ``auth.strategy``, turns a request's headers,
method and path into a ``RequestContext``. Any transport can use it (HTTP today, WebSocket
frames tomorrow): it sees header names in lower case and nothing of Starlette.

A pre-signed request (one with ``URL-Signature``) acts as the signed project, with no roles,
whatever the strategy; otherwise ``noauth`` trusts ``X-Project-ID`` (and ``X-Roles`` when
``auth.trust_role_headers`` is on) and ``keystone`` believes only the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tidings import errors
from tidings.clock import Clock
from tidings.config import AuthSettings, Limits, Settings
from tidings.context import RequestContext
from tidings.transport import wire
from tidings.transport.keystone import Identity, KeystoneValidator
from tidings.transport.signed_url import SignedUrlVerifier, is_signed

Caller = tuple[str, frozenset[str]]
"""A project and its roles."""


class Strategy(Protocol):
    async def identify(self, headers: Mapping[str, str]) -> Caller: ...

    async def expires(self, headers: Mapping[str, str]) -> float | None:
        """When the credentials in ``headers`` stop being valid; None: never."""

    async def aclose(self) -> None: ...


class NoAuth:
    """The project is whatever ``X-Project-ID`` says (development and trusted networks)."""

    def __init__(self, trust_role_headers: bool) -> None:
        self._trust_roles = trust_role_headers

    async def identify(self, headers: Mapping[str, str]) -> Caller:
        roles: frozenset[str] = frozenset()
        if self._trust_roles:
            roles = frozenset(role.strip() for role in headers.get("x-roles", "").split(","))
        return wire.project_id(headers.get("x-project-id")), roles - {""}

    async def expires(self, headers: Mapping[str, str]) -> float | None:
        return None

    async def aclose(self) -> None:
        return None


class KeystoneAuth:
    """Project and roles come from the ``X-Auth-Token``, validated by Keystone; the
    ``X-Project-ID`` and ``X-Roles`` headers are ignored."""

    def __init__(self, settings: AuthSettings, clock: Clock) -> None:
        self._validator = KeystoneValidator(settings, clock)
        self._challenge = f'Keystone uri="{settings.keystone_url}"'

    async def identify(self, headers: Mapping[str, str]) -> Caller:
        identity = await self._identity(headers)
        if identity is None:
            raise errors.Unauthorized(challenge=self._challenge)
        return identity.project_id, identity.roles

    async def expires(self, headers: Mapping[str, str]) -> float | None:
        identity = await self._identity(headers)
        return None if identity is None else identity.expires_at

    async def _identity(self, headers: Mapping[str, str]) -> Identity | None:
        token = headers.get("x-auth-token", "")
        return await self._validator.validate(token) if token else None

    async def aclose(self) -> None:
        await self._validator.aclose()


class Authenticator:
    def __init__(self, strategy: Strategy, signed: SignedUrlVerifier, limits: Limits) -> None:
        self._strategy = strategy
        self._signed = signed
        self._limits = limits

    async def context(
        self, headers: Mapping[str, str], method: str, path: str, request_id: str = ""
    ) -> RequestContext:
        """The caller of ``method path``; raises ``Unauthorized``, ``NotFound`` (a pre-signed
        request that its signature does not grant) or a header error."""
        if is_signed(headers):
            project, roles = self._signed.project(headers, method, path), frozenset[str]()
        else:
            project, roles = await self._strategy.identify(headers)
        return RequestContext(
            project_id=project,
            client_id=wire.client_id(headers.get("client-id"), self._limits),
            roles=roles,
            request_id=request_id,
        )

    async def expires(self, headers: Mapping[str, str]) -> float | None:
        """When the caller's credentials (a token) expire; None: never. The WebSocket
        binding closes a socket authenticated with them then."""
        return await self._strategy.expires(headers)

    async def aclose(self) -> None:
        await self._strategy.aclose()


def authenticator(settings: Settings, clock: Clock) -> Authenticator:
    """The authenticator ``settings`` ask for."""
    strategy: Strategy
    if settings.auth.strategy == "keystone":
        strategy = KeystoneAuth(settings.auth, clock)
    else:
        strategy = NoAuth(settings.auth.trust_role_headers)
    return Authenticator(strategy, SignedUrlVerifier(settings.signed_url, clock), settings.limits)
