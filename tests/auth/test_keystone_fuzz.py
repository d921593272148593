"""schemathesis against a ``tidings serve`` that takes Keystone tokens: the document it
serves then says that a token names the project, and every answer is one it gives (the
checks of ``tests/e2e/test_fuzz.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_fuzz import RUN_WITHIN, assert_all_passed, run_schemathesis
from tests.processes import running
from tests.servers.keystone import GuardedServer, Keystone


@pytest.fixture
def guarded(keystone: Keystone, tmp_path: Path) -> Iterator[GuardedServer]:
    """Long polls last a second at most, as in the other fuzzing."""
    env = keystone.server_environment() | {"TIDINGS_LIMITS_MAX_WAIT_SECONDS": "1"}
    with running(GuardedServer(tmp_path / "tidings.db", env=env)) as server:
        yield server


@pytest.mark.timeout(RUN_WITHIN + 60)
def test_requests_with_a_token_get_the_answers_the_document_gives(
    guarded: GuardedServer, keystone: Keystone
) -> None:
    token = keystone.tokens["a-admin"]

    result = run_schemathesis(guarded, max_examples=15, headers={"X-Auth-Token": token})

    assert_all_passed(result, guarded)
