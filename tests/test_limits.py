"""The ``[limits]`` a server may be configured with: each must leave the API usable, so a
default the API would refuse, or a page of no item, stops the server before it serves."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import assert_error
from tests.conftest import in_process_client
from tests.processes import tidings
from tidings.clock import FakeClock
from tidings.config import (
    COUNT_LIMITS,
    SHORTEST_TTL,
    ConfigError,
    Limits,
    NotificationSettings,
    Settings,
    StorageSettings,
)


def test_zaqar_s_defaults_and_the_edges_of_each_range_are_taken() -> None:
    Limits()
    one_each: dict[str, Any] = {name: 1 for name in COUNT_LIMITS}
    dataclasses.replace(
        Limits(),
        **one_each,
        max_message_ttl=SHORTEST_TTL,
        default_message_ttl=SHORTEST_TTL,
        max_claim_ttl=SHORTEST_TTL,
        default_claim_ttl=SHORTEST_TTL,
        max_claim_grace=SHORTEST_TTL,
        default_claim_grace=SHORTEST_TTL,
        max_message_delay=0,
        default_message_delay=0,
        max_wait_seconds=0,
        default_subscription_ttl=SHORTEST_TTL,
        min_length_client_id=36,
        client_id_uuid_safe="off",
    )


def none_of(name: str) -> dict[str, Any]:
    return {name: 0}


@pytest.mark.parametrize("name", COUNT_LIMITS)
def test_a_count_of_none_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^limits\.{name} must be at least 1, not 0$"):
        dataclasses.replace(Limits(), **none_of(name))


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"max_message_ttl": 59}, "limits.max_message_ttl must be at least 60, not 59"),
        ({"max_claim_ttl": 30}, "limits.max_claim_ttl must be at least 60, not 30"),
        ({"max_claim_grace": 0}, "limits.max_claim_grace must be at least 60, not 0"),
        ({"max_message_delay": -1}, "limits.max_message_delay must be at least 0, not -1"),
        ({"max_wait_seconds": -1}, "limits.max_wait_seconds must be at least 0, not -1"),
        ({"default_message_ttl": 59}, "limits.default_message_ttl must be from 60 to 1209600"),
        (
            {"default_message_ttl": 7200, "max_message_ttl": 3600},
            "limits.default_message_ttl must be from 60 to 3600, not 7200",
        ),
        ({"default_message_delay": -1}, "limits.default_message_delay must be from 0 to 900"),
        ({"default_message_delay": 901}, "limits.default_message_delay must be from 0 to 900"),
        ({"default_claim_ttl": 43201}, "limits.default_claim_ttl must be from 60 to 43200"),
        ({"default_claim_grace": 0}, "limits.default_claim_grace must be from 60 to 43200"),
        (
            {"default_subscription_ttl": 59},
            "limits.default_subscription_ttl must be at least 60, not 59",
        ),
        ({"min_length_client_id": 0}, "limits.min_length_client_id must be from 1 to 36, not 0"),
        ({"min_length_client_id": 40}, "limits.min_length_client_id must be from 1 to 36"),
        ({"client_id_uuid_safe": "lenient"}, "limits.client_id_uuid_safe must be one of"),
    ],
)
def test_a_limit_the_api_could_not_keep_is_refused(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ConfigError) as refused:
        dataclasses.replace(Limits(), **values)

    assert str(refused.value).startswith(complaint)


def test_the_server_will_not_start_with_such_a_limit(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text("[limits]\ndefault_message_ttl = 30\n")
    result = tidings("serve", "--config", str(config), cwd=tmp_path, timeout=30)

    assert result.returncode == 2
    assert result.stderr.startswith("tidings: limits.default_message_ttl must be from 60")
    assert "Traceback" not in result.stderr


async def test_a_client_id_that_need_not_be_a_uuid_is_checked_for_length_and_nul(
    clock: FakeClock,
) -> None:
    settings = Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        limits=Limits(client_id_uuid_safe="off", min_length_client_id=5),
        notification=NotificationSettings(workers=0),
    )
    async with in_process_client(settings, clock) as api:
        taken = await api.put("/v2/queues/q", headers={"Client-ID": "abcde"})
        too_short = await api.get("/v2/queues", headers={"Client-ID": "abcd"})
        too_long = await api.get("/v2/queues", headers={"Client-ID": "a" * 37})
        nul = await api.get("/v2/queues", headers={"Client-ID": "abcd\x00e"})

    assert taken.status_code == 201
    for refused in (too_short, too_long):
        assert_error(refused, 400, "Invalid header value", "Client-ID must be 5 to 36 characters")
    assert_error(nul, 400, "Invalid header value", "Client-ID may not hold a NUL character.")
