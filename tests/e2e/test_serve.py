"""``tidings serve`` as operators run it: several workers, SIGTERM, config file and environment."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers, free_port, wait_for
from tests.processes import children, running, tidings
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

PROJECT = "serve-project"


def worker_pids(pid: int) -> set[int]:
    """uvicorn's worker processes under the supervisor ``pid`` (not multiprocessing helpers)."""
    workers = set()
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
    return workers


def raw_request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    headers = caller_headers(PROJECT)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += ["Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_head(sock: socket.socket) -> bytes:
    """A response's status line and headers."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def server_side_owner(server_port: int, client_port: int, pids: set[int]) -> int | None:
    """The process holding the accepted end of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        local_port = int(columns[1].rsplit(":", 1)[1], 16)
        remote_port = int(columns[2].rsplit(":", 1)[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            inode = columns[9]
    assert inode is not None, "connection not in /proc/net/tcp"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if fd.readlink().name == f"socket:[{inode}]":
                    return pid
    return None


def listening_sockets(port: int) -> set[str]:
    """The inodes of the sockets listening on ``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        if int(columns[1].rsplit(":", 1)[1], 16) == port and columns[3] == "0A":
            inodes.add(columns[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = fd.readlink().name
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(ServerProcess(database=tmp_path / "workers.db", workers=2)) as server:
        yield server


def test_two_workers_share_one_port_and_one_store(two_workers: ServerProcess) -> None:
    # Given a server started with --workers 2
    # (a loaded machine may still be starting the second one)
    wait_for(lambda: len(worker_pids(two_workers.pid)) == 2, 30)
    workers = worker_pids(two_workers.pid)

    # When many clients post concurrently, each on a fresh connection
    def post(n: int) -> int:
        response = httpx.post(
            f"{two_workers.url}/v2/queues/shared/messages",
            json={"messages": [{"body": n}]},
            headers=caller_headers(PROJECT),
            timeout=10,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, range(200)))

    # Then every post succeeds and all messages land in the one store
    assert statuses == [201] * 200
    stats = httpx.get(
        f"{two_workers.url}/v2/queues/shared/stats", headers=caller_headers(PROJECT), timeout=10
    )
    assert stats.json()["messages"]["total"] == 200

    # And both worker processes accept connections on the one port
    owners: set[int | None] = set()
    held: list[socket.socket] = []
    try:
        while owners != workers and len(held) < 200:
            sock = socket.create_connection(("127.0.0.1", two_workers.port), timeout=10)
            held.append(sock)
            sock.sendall(raw_request(two_workers.port, "GET", "/v2/ping"))
            assert read_head(sock).startswith(b"HTTP/1.1 204")
            owners.add(server_side_owner(two_workers.port, sock.getsockname()[1], workers))
    finally:
        for sock in held:
            sock.close()
    assert owners == workers


def test_each_worker_listens_on_a_socket_of_its_own_and_gets_its_share(
    two_workers: ServerProcess,
) -> None:
    # Given a server started with --workers 2, both workers listening
    wait_for(lambda: len(listening_sockets(two_workers.port)) == 2, 30)
    workers = worker_pids(two_workers.pid)

    # Then each worker listens on a socket of its own, and the supervisor on none
    listening = listening_sockets(two_workers.port)
    assert [len(socket_inodes(pid) & listening) for pid in workers] == [1, 1]
    assert not socket_inodes(two_workers.pid) & listening

    # And when 32 clients connect at once, the kernel spreads them over both workers (a
    # worker that woke first used to take every connection waiting: 32 / 0)
    held = [socket.create_connection(("127.0.0.1", two_workers.port)) for _ in range(32)]
    try:
        for sock in held:
            sock.sendall(raw_request(two_workers.port, "GET", "/v2/ping"))
        owners = []
        for sock in held:
            assert read_head(sock).startswith(b"HTTP/1.1 204")
            owners.append(server_side_owner(two_workers.port, sock.getsockname()[1], workers))
    finally:
        for sock in held:
            sock.close()
    assert min(owners.count(pid) for pid in workers) >= 4  # 3 or fewer: odds of 1 in 400,000


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path: Path) -> None:
    # Given a server in the middle of receiving a POST (headers and half the body sent)
    database = tmp_path / "graceful.db"
    server = ServerProcess(database=database)
    server.start()
    assert server.process is not None
    body = json.dumps({"messages": [{"body": "sent across a shutdown"}]}).encode()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            request = raw_request(server.port, "POST", "/v2/queues/graceful/messages", body)
            sock.sendall(request[:-10])
            time.sleep(0.3)

            # When it receives SIGTERM
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)

            # Then it waits for that request, answers it once the body arrives, then exits 0
            assert server.process.poll() is None
            sock.sendall(request[-10:])
            response = read_head(sock)
            assert response.startswith(b"HTTP/1.1 201"), response
            assert server.process.wait(timeout=10) == 0
    finally:
        server.kill()

    # And the message it acknowledged was stored
    restarted = ServerProcess(database=database)
    with running(restarted):
        listed = httpx.get(
            f"{restarted.url}/v2/queues/graceful/messages?echo=true",
            headers=caller_headers(PROJECT),
            timeout=10,
        )
        assert [m["body"] for m in listed.json()["messages"]] == ["sent across a shutdown"]


def test_spaces_after_a_header_value_are_not_part_of_it(server: ServerProcess) -> None:
    # Given a queue made with a project header that ends in spaces and a tab (the server
    # stack hands those over; Zaqar's WSGI servers drop them)
    head = raw_request(server.port, "PUT", "/v2/queues/spaced").replace(
        f"X-Project-ID: {PROJECT}".encode(), f"X-Project-ID: {PROJECT}  \t".encode()
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        assert read_head(sock).startswith(b"HTTP/1.1 201")

    # Then it is the project's queue
    listed = httpx.get(f"{server.url}/v2/queues", headers=caller_headers(PROJECT), timeout=10)
    assert [queue["name"] for queue in listed.json()["queues"]] == ["spaced"]


def refusal(port: int, request: bytes) -> tuple[str, dict[str, Any]]:
    """The status line and the JSON body of the answer the server sends, then closing the
    connection; the answer is checked to be JSON with a request id."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    assert headers["content-type"] == "application/json"
    assert headers["x-openstack-request-id"].startswith("req-")
    return status, json.loads(body)


@pytest.mark.parametrize(
    ("spoiled", "spoiler"),
    [
        (f"X-Project-ID: {PROJECT}", f"X-Project-ID: {PROJECT}\x01"),
        ("Content-Length: 0", "Content-Length: zero"),
        ("Content-Length: 0", "Transfer-Encoding: chunked\r\n\r\nnot a chunk size"),
        ("PUT /v2/queues/malformed HTTP/1.1", "PUT /v2/queues/malformed HTTP/1.1 more"),
    ],
    ids=["control-character-in-a-header", "content-length", "chunk", "request-line"],
)
def test_a_request_that_is_not_http_gets_a_json_error_with_a_request_id(
    server: ServerProcess, spoiled: str, spoiler: str
) -> None:
    request = raw_request(server.port, "PUT", "/v2/queues/malformed")
    assert spoiled.encode() in request

    status, body = refusal(server.port, request.replace(spoiled.encode(), spoiler.encode()))

    assert status == "HTTP/1.1 400 Bad Request"
    assert body == {
        "title": "Malformed request",
        "description": "The request is not well-formed HTTP/1.1.",
    }


HANDSHAKE = (
    "GET /v2/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)


@pytest.mark.parametrize(
    ("handshake", "status", "title", "description"),
    [
        (
            HANDSHAKE + "\r\n",
            "400 Bad Request",
            "Bad Request",
            "Failed to open a WebSocket connection: missing Sec-WebSocket-Key header.",
        ),
        (
            HANDSHAKE + "Sec-WebSocket-Key: not base64\r\n\r\n",
            "400 Bad Request",
            "Bad Request",
            "Failed to open a WebSocket connection: invalid Sec-WebSocket-Key header: not "
            "base64; Only base64 data is allowed.",
        ),
        (
            HANDSHAKE.replace("/v2/ws", "/v2/nowhere")
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            "404 Not Found",
            "Not found",
            "The resource could not be found.",
        ),
    ],
    ids=["no-key", "bad-key", "no-such-endpoint"],
)
def test_a_refused_websocket_handshake_gets_a_json_error_with_a_request_id(
    server: ServerProcess, handshake: str, status: str, title: str, description: str
) -> None:
    answer = refusal(server.port, handshake.encode())

    assert answer == (f"HTTP/1.1 {status}", {"title": title, "description": description})


def test_sigterm_during_a_burst_gives_no_server_errors(server: ServerProcess) -> None:
    # Given clients sending a steady burst of posts and reads
    assert server.process is not None
    statuses: list[int] = []
    lock = threading.Lock()

    def hammer(client_number: int) -> None:
        headers = caller_headers(PROJECT)
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            for n in range(100_000):
                try:
                    if n % 2:
                        response = client.get("/v2/queues/burst/messages?echo=true")
                    else:
                        body = {"messages": [{"body": [client_number, n]}]}
                        response = client.post("/v2/queues/burst/messages", json=body)
                except httpx.TransportError:
                    return
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(statuses) < 200:
        assert time.monotonic() < deadline, "burst too slow"
        time.sleep(0.01)

    # When the server receives SIGTERM mid-burst
    server.process.send_signal(signal.SIGTERM)

    # Then it exits 0 within a few seconds, and no response was a server error
    assert server.process.wait(timeout=10) == 0
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert statuses
    assert all(status < 500 for status in statuses), sorted(set(statuses))


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_workers_on_a_port_in_use_stop_the_server_with_exit_code_3(tmp_path: Path) -> None:
    # Given a port another program listens on, one that lets others share it
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When a server with two workers is started on it
        done = subprocess.run(
            ServerProcess(database=tmp_path / "t.db", workers=2, port=port).command(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    # Then it says so and exits with uvicorn's start-up failure code
    assert done.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize("winner", ["file", "env", "flag"])
def test_settings_come_from_flags_over_environment_over_file(tmp_path: Path, winner: str) -> None:
    # Given a port and a database for each layer, the file always present
    ports = {layer: free_port() for layer in ("file", "env", "flag")}
    databases = {layer: tmp_path / f"{layer}.db" for layer in ("file", "env", "flag")}
    config = tmp_path / "tidings.toml"
    config.write_text(
        f'[server]\nport = {ports["file"]}\n\n[storage]\nurl = "sqlite:///{databases["file"]}"\n'
    )
    flags = ["--config", str(config)]
    env = {}
    if winner in ("env", "flag"):
        env = {
            "TIDINGS_SERVER_PORT": str(ports["env"]),
            "TIDINGS_STORAGE_URL": f"sqlite:///{databases['env']}",
        }
    if winner == "flag":
        flags += ["--port", str(ports["flag"]), "--storage", f"sqlite:///{databases['flag']}"]

    # When the server starts
    server = ServerProcess(
        database=tmp_path / "unused.db", port=ports[winner], flags=flags, env=env
    )
    with running(server):
        posted = httpx.post(
            f"{server.url}/v2/queues/configured/messages",
            json={"messages": [{"body": winner}]},
            headers=caller_headers(PROJECT),
            timeout=10,
        )
        assert posted.status_code == 201

        # Then it listens on the winning layer's port and stores in its database only
        assert [layer for layer, port in ports.items() if listens(port)] == [winner]
        assert [layer for layer, path in databases.items() if path.exists()] == [winner]


def test_config_file_errors_stop_the_server_with_exit_code_2(tmp_path: Path) -> None:
    # Given a config file with an unknown key
    config = tmp_path / "tidings.toml"
    config.write_text("[server]\nprot = 1234\n")

    # When the server is started with it
    result = subprocess.run(
        ServerProcess(database=tmp_path / "unused.db", flags=["--config", str(config)]).command(),
        capture_output=True,
        text=True,
        timeout=30,
    )

    # Then it refuses to start and says why
    assert result.returncode == 2
    assert "server.prot" in result.stderr


@pytest.mark.parametrize(
    ("flags", "environ", "problem"),
    [
        (["--workers", "0"], {}, "server.workers must be at least 1, not 0"),
        (["--workers", "-3"], {}, "server.workers must be at least 1, not -3"),
        (["--port", "70000"], {}, "server.port must be from 0 to 65535, not 70000"),
        (["--port", "-1"], {}, "server.port must be from 0 to 65535, not -1"),
        ([], {"TIDINGS_STORAGE_GC_INTERVAL": "0"}, "storage.gc_interval must be more than 0"),
        (
            [],
            {"TIDINGS_NOTIFICATION_WEBHOOK_TIMEOUT": "nan"},
            "notification.webhook_timeout must be a finite number, not nan",
        ),
        ([], {"TIDINGS_STORAGE_CATALOG_REFRESH": "-1"}, "storage.catalog_refresh must be"),
    ],
)
def test_a_server_setting_out_of_range_stops_the_server_with_exit_code_2(
    tmp_path: Path, flags: list[str], environ: dict[str, str], problem: str
) -> None:
    storage = f"sqlite:///{tmp_path / 'unused.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}

    result = tidings("serve", *flags, "--storage", storage, env={**env, **environ})

    assert result.returncode == 2
    assert result.stderr.startswith(f"tidings: {problem}")
    assert "Traceback" not in result.stderr


def test_a_bad_policy_file_stops_the_server_with_exit_code_2(tmp_path: Path) -> None:
    # Given a policy file whose rule does not parse
    policy = tmp_path / "policy.yaml"
    policy.write_text('"queues:get_all": "role:admin and ("\n')
    config = tmp_path / "tidings.toml"
    config.write_text(f'[auth]\npolicy_file = "{policy}"\n')

    # When the server is started with it
    result = subprocess.run(
        ServerProcess(database=tmp_path / "unused.db", flags=["--config", str(config)]).command(),
        capture_output=True,
        text=True,
        timeout=30,
    )

    # Then it refuses to start with one clear line, not a traceback
    assert result.returncode == 2
    assert result.stderr.startswith("tidings: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "storage", "problem"),
    [
        (["serve"], "nosuch://host/db", "unknown storage URL scheme 'nosuch'"),
        (["serve"], "postgresql:///tidings", "PostgreSQL URLs look like"),
        (["serve"], "postgresql://127.0.0.1/tidings?pool_size=many", "pool_size must be"),
        (["gc"], "postgresql://127.0.0.1/tidings?pool_size=0", "pool_size must be"),
        (["migrate"], "nosuch://host/db", "unknown storage URL scheme 'nosuch'"),
        (["pool", "list"], "postgresql://127.0.0.1/tidings?pool_size=0", "pool_size must be"),
        (["flavor", "list"], "redis://", "invalid Redis host ''"),
        (["serve"], "redis://127.0.0.1/0?ssl=true", "Redis URLs take no parameter but"),
        (["serve"], "sqlite:///tidings.db?mode=ro", "SQLite URLs take no parameter"),
    ],
)
def test_a_storage_url_no_driver_takes_stops_the_command_with_exit_code_2(
    tmp_path: Path, command: list[str], storage: str, problem: str
) -> None:
    result = tidings(*command, "--storage", storage, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"tidings: {problem}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        (f"redis://127.0.0.1:{free_port()}/0", "Redis: Error 111 connecting to 127.0.0.1"),
        (
            f"postgresql://tidings@127.0.0.1:{free_port()}/tidings",
            "PostgreSQL is not reachable (ConnectionRefusedError)",
        ),
        (f"swift://u:k@127.0.0.1:{free_port()}/auth/v1.0", "Swift auth failed: ConnectError"),
        ("sqlite:////proc/no-such-folder/tidings.db", "SQLite: [Errno 2] No such file"),
        ("sqlite:////proc/tidings.db", "SQLite: unable to open database file"),
    ],
    ids=["redis", "postgres", "swift", "sqlite-folder", "sqlite-file"],
)
def test_a_store_that_does_not_answer_stops_the_server_in_one_line(
    storage: str, problem: str
) -> None:
    result = tidings("serve", "--port", str(free_port()), "--storage", storage)

    # Each worker failed its start-up with the driver's traceback before
    assert result.returncode == 3
    assert f"tidings: cannot open the store: {problem}" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_a_store_that_refuses_the_url_stops_the_server_in_one_line(
    redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    for storage, problem in [
        (f"redis://127.0.0.1:{redis_server.port}/99", "Redis: DB index is out of range"),
        (postgres_server.url("no_such_database"), "(InvalidCatalogNameError)"),
    ]:
        result = tidings("serve", "--port", str(free_port()), "--storage", storage)

        assert result.returncode == 3, result.stderr
        assert problem in result.stderr.splitlines()[-1]
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command", [["gc"], ["migrate"], ["pool", "list"], ["flavor", "list"], ["pool", "remove", "p"]]
)
def test_a_command_on_a_store_that_does_not_answer_fails_in_one_line(command: list[str]) -> None:
    result = tidings(*command, "--storage", f"redis://127.0.0.1:{free_port()}/0")

    assert result.returncode == 1
    assert result.stderr.startswith("tidings: Redis: Error 111 connecting to 127.0.0.1")
    assert "Traceback" not in result.stderr


def test_in_memory_storage_serves_and_writes_no_file(tmp_path: Path) -> None:
    # Given a server on sqlite:///:memory:
    database = tmp_path / "never-created.db"
    server = ServerProcess(database=database, storage_url="sqlite:///:memory:")
    with running(server):
        headers = caller_headers(PROJECT)
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            # When a message is posted and claimed
            posted = client.post(
                "/v2/queues/ephemeral/messages", json={"messages": [{"body": {"k": "v"}}]}
            )
            claimed = client.post("/v2/queues/ephemeral/claims", json={"ttl": 60, "grace": 60})

            # Then the store keeps it across requests, yet nothing is written to disk
            assert posted.status_code == 201
            assert claimed.status_code == 201
            assert [m["body"] for m in claimed.json()["messages"]] == [{"k": "v"}]
            queues = client.get("/v2/queues").json()["queues"]
            assert [queue["name"] for queue in queues] == ["ephemeral"]
    assert [path.name for path in tmp_path.iterdir() if path != server.log] == []
