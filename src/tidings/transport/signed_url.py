"""Verifying pre-signed requests: the ``URL-*`` headers that ``POST .../share`` handed out.

Checked as Zaqar checks them (``verify_pre_signed_url``): the method is one of ``URL-Methods``,
a path of ``URL-Paths`` covers the request path, ``URL-Expires`` is in the future and
``URL-Signature`` is the signature of these values and ``X-Project-ID``. Every failure is the
same ``NotFound``, so a prober learns nothing. Unlike Zaqar, a signed path covers exactly itself
and what lies below it (Zaqar treats it as a regular expression, so ``/v2/queues/a.b`` also
matched ``/v2/queues/aXb``), and signatures are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from tidings import errors
from tidings.clock import Clock
from tidings.config import ConfigError, SignedUrlSettings
from tidings.service.share import DATE_FORMAT, parse_expires, signature, utc

SIGNATURE = "url-signature"


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether the request claims to be pre-signed (an empty signature counts: it fails)."""
    return SIGNATURE in headers


class SignedUrlVerifier:
    """Verifies with the current key, and with the previous keys until their deadline."""

    def __init__(self, settings: SignedUrlSettings, clock: Clock) -> None:
        keys = (settings.secret_key, *settings.previous_keys)
        if any("," in key for key in keys):
            raise ConfigError("signed_url keys may not contain commas")
        self._key = settings.secret_key
        self._previous = settings.previous_keys
        self._deadline = settings.previous_keys_deadline() if self._previous else 0.0
        self._clock = clock

    def project(self, headers: Mapping[str, str], method: str, path: str) -> str:
        """The project that signed this request, when the signature grants it."""
        project = headers.get("x-project-id")
        methods = headers.get("url-methods", "").split(",")
        paths = headers.get("url-paths", "").split(",")
        if project is None or method not in methods or not any(_covers(p, path) for p in paths):
            raise errors.NotFound()
        expires = self._unexpired(headers.get("url-expires", ""))
        given = headers[SIGNATURE].encode()
        for key in self._keys():
            if hmac.compare_digest(
                given, signature(key, paths, methods, project, expires).encode()
            ):
                return project
        raise errors.NotFound()

    def _unexpired(self, expires: str) -> str:
        """``URL-Expires`` normalised as Zaqar signs it, if it is still in the future."""
        try:
            moment = parse_expires(expires)
        except ValueError:
            raise errors.NotFound() from None
        if moment <= utc(self._clock()):
            raise errors.NotFound()
        return moment.strftime(DATE_FORMAT)

    def _keys(self) -> list[str]:
        keys = [self._key] if self._key else []
        if self._clock() < self._deadline:
            keys += self._previous
        return keys


def _covers(signed: str, path: str) -> bool:
    return bool(signed) and (path == signed or path.startswith(signed.rstrip("/") + "/"))
