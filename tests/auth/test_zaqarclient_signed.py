"""python-zaqarclient, unchanged, shares a queue and uses the URL with its ``signed-url`` auth
backend against a real ``tidings serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zaqarclient.queues.v2.client import Client
from zaqarclient.transport import errors as transport_errors

from tests.conftest import ServerProcess
from tests.processes import running

PROJECT = "sharing-project"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A noauth server with a signing key."""
    env = {"TIDINGS_SIGNED_URL_SECRET_KEY": "zaqar-key"}
    with running(ServerProcess(database=tmp_path / "tidings.db", env=env)) as process:
        yield process


def client(server: ServerProcess, backend: str, options: dict[str, Any]) -> Any:
    return Client(
        server.url, version=2, conf={"auth_opts": {"backend": backend, "options": options}}
    )


def test_a_url_shared_by_zaqarclient_works_in_zaqarclient(server: ServerProcess) -> None:
    # Given a project's queue with a message, shared for reading and posting
    owner = client(server, "noauth", {"os_project_id": PROJECT})
    queue = owner.queue("orders", force_create=True)
    queue.post({"body": "for-the-bearer", "ttl": 300})
    shared = queue.signed_url(paths=["messages"], ttl_seconds=600, methods=["GET", "POST"])

    # When a client with only the URL uses it
    bearer = client(server, "signed-url", {**shared, "os_project_id": shared["project"]})
    granted = bearer.queue("orders", auto_create=False)
    granted.post({"body": "from-the-bearer", "ttl": 300})

    # Then it reads and posts there, and nowhere else
    bodies = [message.body for message in granted.messages(echo=True)]
    assert bodies == ["for-the-bearer", "from-the-bearer"]
    with pytest.raises(transport_errors.ResourceNotFound):
        list(bearer.queue("elsewhere", auto_create=False).messages())
