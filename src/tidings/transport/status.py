"""The one table from domain errors to status codes (HTTP, and WebSocket frames alike)."""

from __future__ import annotations

from tidings import errors

STATUS: dict[type[errors.TidingsError], int] = {
    errors.InvalidRequest: 400,
    errors.InvalidBody: 400,
    errors.InvalidParameter: 400,
    errors.InvalidQueueName: 400,
    errors.MissingHeader: 400,
    errors.InvalidHeader: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.NotAcceptable: 406,
    errors.Conflict: 409,
    errors.UnsupportedMediaType: 415,
    errors.StorageUnavailable: 503,
    errors.IdentityUnavailable: 503,
}


def error_document(error: errors.TidingsError) -> dict[str, str]:
    """The body of an HTTP answer that reports ``error``."""
    return {"title": error.title, "description": error.description}


def status_of(error: errors.TidingsError) -> int:
    """The status of the nearest listed ancestor of the error's class; 500 if none."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500
