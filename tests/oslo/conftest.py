"""Real oslo.messaging over the tidings driver, against one ``tidings serve`` per module; each
test talks through transports of its own project, so tests never see each other's queues."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Importing oslo.messaging imports eventlet-era modules that announce their deprecation;
    # the driver uses none of them (the threading executor is the default).
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    warnings.filterwarnings("ignore", message="eventletutils module is deprecated")
    warnings.filterwarnings(
        "ignore", message="The 'oslo_service.eventlet_backdoor' module usage is deprecated"
    )
    import oslo_messaging as om

from oslo_config import cfg

from tests.conftest import ServerProcess
from tests.processes import running

WAIT = 2
"""Long-poll seconds in the tests' transport URLs: short, so a listener notices a message
whose claim expired (no post wakes it) within a test's patience."""
PATIENCE = 10.0


@pytest.fixture(scope="module")
def tidings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory: Path = tmp_path_factory.mktemp("oslo")
    with running(ServerProcess(database=directory / "tidings.db")) as process:
        yield process


@pytest.fixture(scope="session")
def conf() -> cfg.ConfigOpts:
    """oslo.messaging registers some of its options on the global ``cfg.CONF`` only."""
    cfg.CONF([], project="tidings-tests")
    return cfg.CONF


@pytest.fixture
def project() -> str:
    """A project of the test's own."""
    return f"oslo-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def url(tidings: ServerProcess, project: str) -> str:
    return f"tidings://127.0.0.1:{tidings.port}/?project={project}&wait={WAIT}"


@pytest.fixture
def transports(conf: cfg.ConfigOpts, url: str) -> Iterator[Callable[..., Any]]:
    """Make RPC (or, with ``notification=True``) notification transports; all are cleaned up
    after the test."""
    made: list[Any] = []

    def make(notification: bool = False, transport_url: str = url) -> Any:
        factory = om.get_notification_transport if notification else om.get_rpc_transport
        made.append(factory(conf, url=transport_url))
        return made[-1]

    yield make
    for transport in made:
        transport.cleanup()


@pytest.fixture
def transport(transports: Callable[..., Any]) -> Any:
    return transports()


@pytest.fixture
def started() -> Iterator[Callable[[Any], Any]]:
    """Start an RPC server or notification listener; stopped and waited for after the test."""
    running: list[Any] = []

    def start(server: Any) -> Any:
        server.start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()
    # wait() takes a second (the executor's idle threads): wait for all at once
    with concurrent.futures.ThreadPoolExecutor(max(1, len(running))) as pool:
        list(pool.map(lambda server: server.wait(), running))


def eventually(check: Callable[[], bool], seconds: float = PATIENCE) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the patience"
        time.sleep(0.01)


def stays(check: Callable[[], bool], seconds: float = 0.5) -> bool:
    """Whether ``check`` holds for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.01)
    return True


class Recorder:
    """An RPC endpoint that answers and remembers what it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.casts: list[Any] = []

    def echo(self, ctxt: dict[str, Any], value: Any) -> dict[str, Any]:
        return {"server": self.name, "value": value, "user": ctxt.get("user")}

    def remember(self, ctxt: dict[str, Any], item: Any) -> None:
        self.casts.append(item)

    def fail(self, ctxt: dict[str, Any], message: str) -> None:
        raise ValueError(message)

    def sleep(self, ctxt: dict[str, Any], seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


def rpc_servers(
    transport: Any, started: Callable[[Any], Any], topic: str, names: Sequence[str]
) -> list[Recorder]:
    """Start a server of ``topic`` for each name; their endpoints."""
    endpoints = [Recorder(name) for name in names]
    for endpoint in endpoints:
        target = om.Target(topic=topic, server=endpoint.name)
        started(om.get_rpc_server(transport, target, [endpoint]))
    return endpoints
