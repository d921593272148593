"""The one tree of domain errors.

Each error's docstring is its default description; ``title`` is the short summary every
transport shows beside it. Transports map these classes to their status codes in one table.
"""

from __future__ import annotations


class TidingsError(Exception):
    """Something went wrong."""

    title = "Internal server error"

    def __init__(self, description: str | None = None) -> None:
        # A docstring wrapped over several lines is still one line on the wire.
        self.description = description or " ".join((self.__doc__ or "").split())
        super().__init__(self.description)


class InvalidRequest(TidingsError):
    """The request is not valid."""

    title = "Invalid API request"


class MalformedRequest(InvalidRequest):
    """The request is not well-formed HTTP/1.1."""

    title = "Malformed request"


class InvalidBody(TidingsError):
    """Request body could not be parsed."""

    title = "Invalid request body"


class InvalidParameter(TidingsError):
    """A query parameter is not valid."""

    title = "Invalid parameter"


class InvalidQueueName(TidingsError):
    """Queue names may only contain ASCII letters, digits, underscores, dashes and periods,
    and may not be more than 64 characters long."""

    title = "Invalid queue identification"


class MissingHeader(TidingsError):
    """A required header is missing."""

    title = "Missing header value"


class InvalidHeader(TidingsError):
    """A header has an invalid value."""

    title = "Invalid header value"


class NotAcceptable(TidingsError):
    """The requested media type is not supported; this API only speaks application/json."""

    title = "Media type not acceptable"


class UnsupportedMediaType(TidingsError):
    """The media type of the request body is not supported."""

    title = "Unsupported media type"


class NotFound(TidingsError):
    """The resource could not be found."""

    title = "Not found"


class QueueNotFound(NotFound):
    """Queue does not exist."""


class MessageNotFound(NotFound):
    """Message does not exist."""


class SubscriptionNotFound(NotFound):
    """Subscription does not exist."""


class ClaimNotFound(NotFound):
    """The specified claim does not exist or has expired."""


class PoolNotFound(NotFound):
    """Pool does not exist."""


class FlavorNotFound(NotFound):
    """Flavor does not exist."""


class MethodNotAllowed(TidingsError):
    """The method is not allowed on this resource."""

    title = "Method not allowed"


class Conflict(TidingsError):
    """The request conflicts with the current state of the resource."""

    title = "Resource conflict"


class SubscriptionExists(Conflict):
    """Such subscription already exists. Subscriptions are unique by project + queue +
    subscriber URI."""


class PoolInUse(Conflict):
    """The pool still holds queues or subscriptions; it cannot be deleted."""


class Unauthorized(TidingsError):
    """The request you have made requires authentication."""

    title = "Unauthorized"

    def __init__(self, description: str | None = None, challenge: str = "") -> None:
        super().__init__(description)
        self.challenge = challenge  # how to authenticate: HTTP's WWW-Authenticate value


class Forbidden(TidingsError):
    """You are not authorized to complete this action."""

    title = "Not authorized"


class MessageIsClaimed(Forbidden):
    """This message is claimed; it cannot be deleted without a valid claim ID."""

    title = "Unable to delete"


class PoolInFlavor(Forbidden):
    """This pool is used by a flavor; it cannot be deleted."""

    title = "Unable to delete"


class MessageNotClaimed(InvalidRequest):
    """A claim ID was given but this message is not claimed."""


class ClaimExpired(InvalidRequest):
    """The specified claim does not exist or has expired."""


class StorageUnavailable(TidingsError):
    """The storage backend is not reachable. Please try again in a few seconds."""

    title = "Service temporarily unavailable"


class IdentityUnavailable(TidingsError):
    """The identity service is not reachable. Please try again in a few seconds."""

    title = "Service temporarily unavailable"
