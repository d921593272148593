"""A private OpenStack Swift all-in-one for the test session, from Debian's packages.

Memcached and the object, container, account and proxy servers run as subprocesses of the test
session on free loopback ports, each in a session of its own (Swift kills its process group on
shutdown), with every file in a temp dir: configs with their own hash prefix and suffix, one-
replica rings built by one Python process, and the device directory (``mount_check = false``),
which is in RAM (``/dev/shm``) where there is one: Swift syncs every object and container
write, and on a disk the syncs made the API suite on Swift a third slower.
Nothing touches ``/etc/swift`` and no init system is used. tempauth authenticates (it keeps its
tokens in memcached) and the proxy creates accounts on first use.

The servers are ``/usr/bin/swift-*`` scripts run by Debian's own ``python3``, whatever venv the
tests run in. When they are missing, the Debian packages are installed; a test never skips for
want of them. Each test gets a fresh namespace (``?prefix=``) in the one account, so no test
sees another's queues and nothing needs emptying.
"""

from __future__ import annotations

import contextlib
import getpass
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.processes import wait_until_ready
from tests.servers import debian

HOST = "127.0.0.1"
USER, KEY = "test:tester", "testing"
"""The tempauth user, admin of the account ``AUTH_test``."""
PACKAGES = ("swift", "swift-proxy", "swift-account", "swift-container", "swift-object", "memcached")
PROGRAMS = (
    "swift-proxy-server",
    "swift-account-server",
    "swift-container-server",
    "swift-object-server",
    "memcached",
)
SERVERS = ("object", "container", "account")
SYSTEM_PYTHON = "/usr/bin/python3"
"""The interpreter of Debian's swift scripts (the one that can import ``swift``)."""
RAM_DISK = Path("/dev/shm")

BUILD_RINGS = """
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for pair in sys.argv[2:]:
    name, port = pair.split("=")
    builder = RingBuilder(6, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
                     "device": "d1", "weight": 100})
    builder.rebalance()
    builder.get_ring().save(f"{etc}/{name}.ring.gz")
"""

PROXY_CONF = """[DEFAULT]
bind_ip = {host}
bind_port = {port}
swift_dir = {etc}
workers = 0
user = {user}
log_name = proxy
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempauth \
proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = {host}:{memcached}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats
"""

SERVER_CONF = """[DEFAULT]
bind_ip = {host}
bind_port = {port}
swift_dir = {etc}
devices = {devices}
mount_check = false
workers = 0
user = {user}
recon_cache_path = {cache}
log_name = {name}
log_level = WARNING

[pipeline:main]
pipeline = {name}-server

[app:{name}-server]
use = egg:swift#{name}
# No updater runs here: an object's (or container's) listing update that timed out on a busy
# machine would be kept for an updater and never reach the listing, so give it time instead
# (connecting included: with the default 0.5 s, a listing missed a message under full load).
container_update_timeout = 30
node_timeout = 30
conn_timeout = 30

[{name}-replicator]
[{name}-auditor]
"""


def ensure_installed() -> None:
    """Install Swift and memcached from the Debian packages when they are missing."""
    debian.ensure_programs(PROGRAMS, PACKAGES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SwiftServers:
    """The processes of one all-in-one Swift whose state lives in ``root``, objects and
    containers in ``devices``."""

    root: Path
    devices: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def auth_url(self) -> str:
        return f"http://{HOST}:{self.ports['proxy']}/auth/v1.0"

    def url(self, prefix: str | None = None) -> str:
        """A ``swift://`` storage URL; ``prefix`` names the namespace (fresh when None)."""
        prefix = prefix or f"t{uuid.uuid4().hex[:12]}"
        user = USER.replace(":", "%3A")
        return f"swift://{user}:{KEY}@{HOST}:{self.ports['proxy']}/auth/v1.0?prefix={prefix}"

    def start(self) -> None:
        ensure_installed()
        for name in ("memcached", "proxy", *SERVERS):
            self.ports[name] = free_port()
        self._configure()
        memcached = ["memcached", "-l", HOST, "-p", str(self.ports["memcached"]), "-U", "0"]
        self._launch("memcached", [*memcached, "-u", getpass.getuser()])
        for name in SERVERS:
            self._launch(
                name, [f"swift-{name}-server", str(self.etc / f"{name}-server.conf"), "-v"]
            )
        self._launch("proxy", ["swift-proxy-server", str(self.etc / "proxy-server.conf"), "-v"])
        self.wait_ready()

    def _configure(self) -> None:
        devices, cache = self.devices, self.root / "cache"
        for directory in (self.etc, devices / "d1", cache, self.root / "log"):
            directory.mkdir(parents=True, exist_ok=True)
        hashes = f"[swift-hash]\nswift_hash_path_suffix = {uuid.uuid4().hex}\n"
        policy = "[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
        (self.etc / "swift.conf").write_text(hashes + policy)
        common = {"host": HOST, "etc": self.etc, "user": getpass.getuser()}
        for name in SERVERS:
            conf = SERVER_CONF.format(
                **common, port=self.ports[name], devices=devices, cache=cache, name=name
            )
            (self.etc / f"{name}-server.conf").write_text(conf)
        proxy = PROXY_CONF.format(
            **common, port=self.ports["proxy"], memcached=self.ports["memcached"]
        )
        (self.etc / "proxy-server.conf").write_text(proxy)
        rings = [f"{name}={self.ports[name]}" for name in SERVERS]
        subprocess.run(
            [SYSTEM_PYTHON, "-c", BUILD_RINGS, str(self.etc), *rings],
            check=True,
            capture_output=True,
        )

    def _launch(self, name: str, command: list[str]) -> None:
        with (self.root / "log" / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        processes = self.processes.values()
        wait_until_ready(
            "swift", self._authenticates, processes, self._failure_log, 60.0, (httpx.HTTPError,)
        )

    def _failure_log(self) -> str:
        """The logs of the processes that exited, else the proxy's."""
        exited = [name for name, process in self.processes.items() if process.poll() is not None]
        return "\n".join(f"{name}: {self.log_text(name)}" for name in exited or ["proxy"])

    def _authenticates(self) -> bool:
        headers = {"X-Auth-User": USER, "X-Auth-Key": KEY}
        reply = httpx.get(self.auth_url, headers=headers, timeout=2)
        if reply.status_code != 200:
            return False
        token = {"X-Auth-Token": reply.headers["x-auth-token"]}
        return httpx.head(reply.headers["x-storage-url"], headers=token, timeout=2).is_success

    def log_text(self, name: str) -> str:
        log = self.root / "log" / f"{name}.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_private_swift(root: Path, devices: Path, attempts: int = 3) -> SwiftServers:
    """Start a Swift in ``root`` and ``devices``; again on other ports when a port was taken
    meanwhile."""
    for attempt in range(attempts):
        servers = SwiftServers(root / f"run{attempt}", devices / f"run{attempt}")
        try:
            servers.start()
            return servers
        except RuntimeError:
            servers.stop()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def swift_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwiftServers]:
    """A private Swift all-in-one for the whole session."""
    with ram_dir() as devices:
        servers = start_private_swift(tmp_path_factory.mktemp("swift"), devices)
        try:
            yield servers
        finally:
            servers.stop()


@contextlib.contextmanager
def ram_dir() -> Iterator[Path]:
    """A temp dir in RAM, or on disk when the machine has no ``/dev/shm``."""
    parent = RAM_DISK if RAM_DISK.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="tidings-swift-", dir=parent) as directory:
        yield Path(directory)


@pytest.fixture
def swift_url(swift_server: SwiftServers) -> str:
    """A storage URL on the session's Swift, in a namespace of its own (an empty store)."""
    return swift_server.url()
