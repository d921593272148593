"""RPC through the driver with real oslo.messaging: RPCServer and RPCClient over tidings."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import oslo_messaging as om
import pytest

from tests.conftest import ServerProcess, caller_headers, free_port
from tests.oslo.conftest import PATIENCE, eventually, rpc_servers, stays
from tests.processes import running
from tests.servers.certificates import Certificate
from tests.servers.tls import TlsServer
from tidings.integrations.oslo_messaging import rpc_queue

CTXT = {"user": "alice", "request_id": "req-1"}


def client(transport: Any, topic: str, timeout: float = 10, **options: Any) -> Any:
    return om.get_rpc_client(transport, om.Target(topic=topic), timeout=timeout, **options)


def test_the_transport_url_loads_the_tidings_driver(transport: Any) -> None:
    assert type(transport._driver).__name__ == "TidingsDriver"


def test_a_call_returns_what_a_server_of_the_topic_answered(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    rpc_servers(transport, started, "calls", ["s1", "s2"])

    answer = client(transport, "calls").call(CTXT, "echo", value=[1, "two", {"three": 3}])

    assert answer["value"] == [1, "two", {"three": 3}]
    assert answer["server"] in {"s1", "s2"}
    assert answer["user"] == "alice"


@pytest.fixture
def tls_tidings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsServer]:
    """tidings over HTTPS only, its certificate trusted here through ``SSL_CERT_FILE``."""
    certificate = Certificate.create(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.certificate))
    database = tmp_path / "tls.db"
    storage = {"TIDINGS_STORAGE_URL": f"sqlite:///{database}"}
    with running(TlsServer(database=database, env=storage, certificate=certificate)) as server:
        yield server


def test_a_call_over_https(
    tls_tidings: TlsServer, transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(transport_url=f"tidings+https://127.0.0.1:{tls_tidings.port}/?wait=2")
    rpc_servers(transport, started, "secure", ["s1"])

    answer = client(transport, "secure").call(CTXT, "echo", value="over TLS")

    assert answer == {"server": "s1", "value": "over TLS", "user": "alice"}


def test_a_cast_reaches_exactly_one_server_of_the_topic(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    servers = rpc_servers(transport, started, "casts", ["s1", "s2"])

    client(transport, "casts").cast(CTXT, "remember", item="once")

    eventually(lambda: sum(len(server.casts) for server in servers) == 1)
    assert stays(lambda: sum(len(server.casts) for server in servers) == 1)


def test_a_fanout_cast_reaches_every_server_of_the_topic(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    servers = rpc_servers(transport, started, "fanned", ["s1", "s2", "s3"])

    client(transport, "fanned").prepare(fanout=True).cast(CTXT, "remember", item="all")

    eventually(lambda: all(server.casts == ["all"] for server in servers))


def test_a_call_and_a_cast_prepared_for_one_server_reach_only_it(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    s1, s2 = rpc_servers(transport, started, "direct", ["s1", "s2.example.org"])
    to_s2 = client(transport, "direct").prepare(server="s2.example.org")

    answers = {to_s2.call(CTXT, "echo", value=n)["server"] for n in range(5)}
    to_s2.cast(CTXT, "remember", item="direct")

    assert answers == {"s2.example.org"}
    eventually(lambda: s2.casts == ["direct"])
    assert s1.casts == []


def test_fifty_concurrent_calls_each_get_their_own_answer(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    rpc_servers(transport, started, "busy", ["s1", "s2"])
    caller = client(transport, "busy")

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda n: caller.call(CTXT, "echo", value=n), range(50)))

    assert [answer["value"] for answer in answers] == list(range(50))


def test_calls_from_another_transport_are_answered(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    rpc_servers(transports(), started, "apart", ["s1"])

    assert client(transports(), "apart").call(CTXT, "echo", value="hi")["value"] == "hi"


def test_a_remote_builtin_exception_is_raised_as_itself(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    rpc_servers(transport, started, "failing", ["s1"])

    with pytest.raises(ValueError, match="bad queue name"):
        client(transport, "failing").call(CTXT, "fail", message="bad queue name")


def test_an_exception_of_a_module_not_allowed_is_raised_as_a_remote_error(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    rpc_servers(transport, started, "unknown", ["s1"])

    # oslo_messaging.rpc.dispatcher is not among the transport's allowed_remote_exmods
    with pytest.raises(om.RemoteError) as raised:
        client(transport, "unknown").call(CTXT, "no_such_method")

    assert raised.value.exc_type == "NoSuchMethod"


def test_a_call_nobody_answers_times_out(transport: Any) -> None:
    start = time.monotonic()

    with pytest.raises(om.MessagingTimeout):
        client(transport, "nobody", timeout=0.5).call(CTXT, "echo", value=1)

    assert 0.5 <= time.monotonic() - start < 2


def test_heartbeats_keep_a_call_alive_beyond_its_monitor_timeout(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    rpc_servers(transport, started, "slow", ["s1"])
    monitored = client(transport, "slow", timeout=20, call_monitor_timeout=2)

    assert monitored.call(CTXT, "sleep", seconds=3) == "slept"


def test_a_cast_waits_in_its_queue_for_a_server_to_start(
    transport: Any, started: Callable[[Any], Any]
) -> None:
    client(transport, "later").cast(CTXT, "remember", item="stored")

    (server,) = rpc_servers(transport, started, "later", ["s1"])

    eventually(lambda: server.casts == ["stored"])


def test_sending_to_an_unreachable_tidings_fails_after_its_retries(
    transports: Callable[..., Any],
) -> None:
    transport = transports(transport_url=f"tidings://127.0.0.1:{free_port()}/")

    with pytest.raises(om.MessageDeliveryFailure):
        client(transport, "nowhere").prepare(retry=1).cast(CTXT, "remember", item=1)
    with pytest.raises(om.MessagingTimeout):
        client(transport, "nowhere", timeout=0.5).call(CTXT, "echo", value=1)


class AckWatcher:
    """An RPC endpoint that waits, within its dispatch, for its request to leave the queue."""

    def __init__(self, tidings: ServerProcess, project: str, queue: str) -> None:
        self.stats = f"{tidings.url}/v2/queues/{queue}/stats"
        self.headers = caller_headers(project)

    def acknowledged(self, ctxt: dict[str, Any]) -> bool:
        deadline = time.monotonic() + PATIENCE
        with httpx.Client(headers=self.headers) as http:
            while time.monotonic() < deadline:
                if http.get(self.stats).json()["messages"]["total"] == 0:
                    return True
                time.sleep(0.01)
        return False


def test_a_call_is_acknowledged_while_its_dispatch_runs(
    transport: Any, started: Callable[[Any], Any], tidings: ServerProcess, project: str
) -> None:
    endpoint = AckWatcher(tidings, project, rpc_queue("openstack", "patient"))
    started(om.get_rpc_server(transport, om.Target(topic="patient", server="s1"), [endpoint]))

    assert client(transport, "patient").call(CTXT, "acknowledged") is True
