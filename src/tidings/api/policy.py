"""Which operations need more than a project: the default policy rules."""

from __future__ import annotations

from tidings import errors
from tidings.context import RequestContext

ADMIN_ONLY = frozenset({"health:get"})


def authorize(rule: str, context: RequestContext) -> None:
    if rule in ADMIN_ONLY and not context.is_admin:
        raise errors.Forbidden()
