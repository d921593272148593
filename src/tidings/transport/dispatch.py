"""The short way from an HTTP request to its operation's endpoint.

Starlette's stack (error middleware, exception middleware, router, route, request-response
wrappers, each with its own ``send`` wrapper) cost about as much CPU per request as the
operation itself. The operation routes are known up front, so they are matched here, in
Starlette's order and with its path syntax, and called directly; every other request
(WebSocket, lifespan, ``/metrics``, unknown paths, a method a path does not allow, a mounted
``root_path``) goes on to the Starlette app, which answers it as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class OperationRoute:
    path: str
    methods: frozenset[str]
    app: ASGIApp

    @classmethod
    def of(cls, path: str, method: str, app: ASGIApp) -> OperationRoute:
        """As Starlette's ``Route``, a GET route also answers HEAD."""
        methods = {method, "HEAD"} if method == "GET" else {method}
        return cls(path, frozenset(methods), app)


class Dispatch:
    def __init__(self, routes: Iterable[OperationRoute], fallback: ASGIApp) -> None:
        self._routes: dict[str, list[tuple[re.Pattern[str], OperationRoute]]] = {}
        """By method, in their order: the first whose path matches is Starlette's choice."""
        for route in routes:
            pattern = compile_path(route.path)[0]
            for method in route.methods:
                self._routes.setdefault(method, []).append((pattern, route))
        self._fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            found = self._match(scope["method"], scope["path"])
            if found is not None:
                scope["path_params"] = found[1]
                await found[0].app(scope, receive, send)
                return
        await self._fallback(scope, receive, send)

    def _match(self, method: str, path: str) -> tuple[OperationRoute, dict[str, str]] | None:
        """The first route that takes this method and path, as Starlette's router picks it."""
        for pattern, route in self._routes.get(method, ()):
            match: re.Match[str] | None = pattern.match(path)
            if match is not None:
                return route, match.groupdict()
        return None
