"""``limits.message_delete_with_claim_id``: deleting messages by id then needs their claims."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.support import assert_error, claim, post_messages
from tests.conftest import in_process_client
from tidings.clock import FakeClock
from tidings.config import Limits, NotificationSettings, Settings, StorageSettings


@pytest.fixture
async def strict_api(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        notification=NotificationSettings(workers=0),
        limits=Limits(message_delete_with_claim_id=True),
    )
    async with in_process_client(settings, clock) as client:
        yield client


async def test_delete_by_ids_without_claim_ids_is_refused(strict_api: httpx.AsyncClient) -> None:
    # Given a free message
    [message_id] = await post_messages(strict_api, "fizbit")
    # When it is deleted by id without a claim id
    response = await strict_api.delete(f"/v2/queues/fizbit/messages?ids={message_id}")
    # Then the request is refused and the message is still there
    assert_error(
        response, 400, "Invalid API request", "claim_ids are required when deleting messages by id."
    )
    kept = await strict_api.get(f"/v2/queues/fizbit/messages/{message_id}")
    assert kept.status_code == 200


async def test_delete_by_ids_with_their_claim_ids_deletes(strict_api: httpx.AsyncClient) -> None:
    # Given a claimed message
    [message_id] = await post_messages(strict_api, "fizbit")
    claim_id, _ = await claim(strict_api, "fizbit")
    # When it is deleted by id with its claim id
    response = await strict_api.delete(
        f"/v2/queues/fizbit/messages?ids={message_id}&claim_ids={claim_id}"
    )
    # Then it is gone
    assert response.status_code == 204
    gone = await strict_api.get(f"/v2/queues/fizbit/messages/{message_id}")
    assert gone.status_code == 404
