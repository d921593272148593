"""At-rest encryption of message bodies for queues with ``_enable_encrypt_messages``.

A sealed body is a string ``tidings-aesgcm:v1:<base64(nonce + ciphertext)>``: AES-256-GCM
under a key derived from the configured secret, with the project as associated data, so a
sealed body neither decrypts under another project nor can be altered unnoticed. Unlike
Zaqar, bodies are serialised as JSON (never pickled) and authenticated.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Iterable

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tidings import errors
from tidings.models import JSON, Message

PREFIX = "tidings-aesgcm:v1:"
NONCE_SIZE = 12


class BodyCipher:
    """Seals and opens message bodies; without a key it refuses to seal."""

    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(secret.encode()).digest() if secret else None
        self._aead = AESGCM(key) if key else None

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def require(self) -> None:
        if self._aead is None:
            raise errors.InvalidRequest(
                "Message encryption is not configured on this server (encryption.key)."
            )

    def seal(self, project: str, body: JSON) -> str:
        self.require()
        assert self._aead is not None
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, orjson.dumps(body), project.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, project: str, body: JSON) -> JSON:
        """The plain body; a body that is not sealed (or not by us) is returned unchanged."""
        if self._aead is None or not isinstance(body, str) or not body.startswith(PREFIX):
            return body
        try:
            raw = base64.b64decode(body[len(PREFIX) :], validate=True)
            plain = self._aead.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], project.encode())
        except (binascii.Error, InvalidTag, ValueError):
            return body
        return orjson.loads(plain)

    def open_all(self, project: str, messages: Iterable[Message]) -> list[Message]:
        if self._aead is None:
            return list(messages)
        return [
            dataclasses.replace(message, body=self.open(project, message.body))
            for message in messages
        ]
