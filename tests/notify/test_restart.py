"""A ``tidings serve`` killed with SIGKILL while it delivers: after a restart every
notification reaches the receiver (at least once, each with its stable id)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers, wait_for
from tests.notify.receivers import TIMEOUT, Receiver
from tests.processes import running
from tests.reliability.support import private_backend

PROJECT = "restart-project"
MESSAGES = 40
WORKERS = 4
DELIVERY = {
    "TIDINGS_NOTIFICATION_POLL_INTERVAL": "0.05",
    "TIDINGS_NOTIFICATION_WEBHOOK_TIMEOUT": "2",
    "TIDINGS_NOTIFICATION_WORKERS": str(WORKERS),
}


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "redis-cluster", "postgres"])
def test_sigkill_mid_delivery_loses_no_notification(tmp_path: Path, backend: str) -> None:
    # The first deliveries hang, so the kill finds them in flight
    receiver = Receiver(answers=[TIMEOUT] * WORKERS, hold=5.0)
    with receiver, private_backend(backend, tmp_path) as store:
        first = ServerProcess(tmp_path / "server.db", storage_url=store.url, env=DELIVERY)
        first.start()
        try:
            # Given a slow webhook subscribed to a queue, and messages posted to it
            with httpx.Client(base_url=first.url, headers=caller_headers(PROJECT)) as client:
                created = client.post(
                    "/v2/queues/orders/subscriptions", json={"subscriber": receiver.url}
                )
                sid = created.json()["subscription_id"]
                ids = post_all(client)

            # When the server is killed while deliveries are in flight
            wait_for(lambda: len(receiver.hits) >= WORKERS, seconds=20)
            first.kill()
        finally:
            first.kill()
        in_flight = [hit.notification_id for hit in receiver.hits]

        # And started again on the same store
        second = ServerProcess(tmp_path / "server.db", storage_url=store.url, env=DELIVERY)
        with running(second):
            expected = {f"{message_id}/{sid}" for message_id in ids}
            wait_for(lambda: answered(receiver) >= expected, 60)

    # Then every message was notified, those in flight at the kill once more
    assert len(in_flight) == WORKERS
    assert answered(receiver) == expected


def answered(receiver: Receiver) -> set[str]:
    """Notification ids the receiver answered (it never answers its first hits)."""
    return {hit.notification_id for hit in receiver.hits[WORKERS:]}


def post_all(client: httpx.Client) -> list[str]:
    """Post the messages in one batch, so the worker's first claim takes ``WORKERS`` jobs."""
    batch = [{"body": n} for n in range(MESSAGES)]
    response = client.post("/v2/queues/orders/messages", json={"messages": batch})
    assert response.status_code == 201, response.text
    return [href.rsplit("/", 1)[1] for href in response.json()["resources"]]
