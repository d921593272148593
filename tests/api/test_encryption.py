"""Queues with ``_enable_encrypt_messages``: bodies are sealed at rest and opened on the way out."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.support import assert_error, claim, post_messages
from tests.conftest import in_process_client
from tidings.clock import FakeClock
from tidings.config import EncryptionSettings, Settings, StorageSettings
from tidings.service.encryption import PREFIX, BodyCipher

SECRET_BODY = {"card": "4111-1111-1111-1111"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "tidings.db"


@pytest.fixture
async def sealed_api(database: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{database}"),
        encryption=EncryptionSettings(key="a server secret"),
    )
    async with in_process_client(settings, clock) as client:
        yield client


def stored_bodies(database: Path) -> list[bytes]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT body FROM messages")]


async def test_bodies_are_sealed_at_rest_and_plain_on_every_read(
    sealed_api: httpx.AsyncClient, database: Path
) -> None:
    # Given an encrypted queue with one message
    await sealed_api.put("/v2/queues/vault", json={"_enable_encrypt_messages": True})
    [message_id] = await post_messages(sealed_api, "vault", {"body": SECRET_BODY})

    # Then the store holds no plaintext
    [stored] = stored_bodies(database)
    assert b"4111" not in stored
    assert PREFIX.encode() in stored

    # And every read path shows the plain body
    one = await sealed_api.get(f"/v2/queues/vault/messages/{message_id}")
    assert one.json()["body"] == SECRET_BODY
    listed = await sealed_api.get("/v2/queues/vault/messages", params={"echo": "true"})
    assert [m["body"] for m in listed.json()["messages"]] == [SECRET_BODY]
    by_ids = await sealed_api.get("/v2/queues/vault/messages", params={"ids": message_id})
    assert by_ids.json()["messages"][0]["body"] == SECRET_BODY
    claim_id, claimed = await claim(sealed_api, "vault")
    assert claimed[0]["body"] == SECRET_BODY
    claim_view = await sealed_api.get(f"/v2/queues/vault/claims/{claim_id}")
    assert claim_view.json()["messages"][0]["body"] == SECRET_BODY


async def test_popped_messages_are_opened(sealed_api: httpx.AsyncClient) -> None:
    await sealed_api.put("/v2/queues/vault", json={"_enable_encrypt_messages": True})
    await post_messages(sealed_api, "vault", {"body": SECRET_BODY})

    popped = await sealed_api.delete("/v2/queues/vault/messages", params={"pop": 1})

    assert popped.json()["messages"][0]["body"] == SECRET_BODY


async def test_plain_queues_stay_plain(sealed_api: httpx.AsyncClient, database: Path) -> None:
    await post_messages(sealed_api, "open", {"body": SECRET_BODY})

    assert b"4111" in stored_bodies(database)[0]


async def test_enabling_encryption_without_a_server_key_is_refused(
    api: httpx.AsyncClient,
) -> None:
    response = await api.put("/v2/queues/vault", json={"_enable_encrypt_messages": True})

    assert_error(response, 400, text="Message encryption is not configured")


def test_a_sealed_body_does_not_open_in_another_project() -> None:
    cipher = BodyCipher("a server secret")
    sealed = cipher.seal("project-a", SECRET_BODY)

    assert cipher.open("project-a", sealed) == SECRET_BODY
    assert cipher.open("project-b", sealed) == sealed


def test_a_tampered_or_foreign_body_is_left_as_it_is() -> None:
    cipher = BodyCipher("a server secret")
    sealed = cipher.seal("project-a", SECRET_BODY)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")

    assert cipher.open("project-a", tampered) == tampered
    assert BodyCipher("another secret").open("project-a", sealed) == sealed
    assert cipher.open("project-a", PREFIX + "not base64!") == PREFIX + "not base64!"
