"""Who is asking: built by the transport, read by the api and service layers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    project_id: str
    client_id: str
    roles: frozenset[str] = frozenset()
    request_id: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def anonymous(request_id: str) -> RequestContext:
    """The caller of an operation that needs no authentication (ping, the home document)."""
    return RequestContext(project_id="", client_id="", request_id=request_id)
