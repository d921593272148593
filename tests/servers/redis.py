"""Private Redis servers: a standalone one and a 3-master cluster, owned by the test session.

Each node is a ``redis-server --daemonize no`` subprocess on a free loopback port with its files
in a temp dir, so nothing touches the machine's own Redis. ``redis-server`` is installed from
the Debian packages when it is missing; a test never skips for want of it.
"""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.processes import Child, running, wait_until_ready
from tests.servers import debian
from tests.servers.certificates import Certificate

HOST = "127.0.0.1"
BUS_OFFSET = 10000
"""A cluster node also listens on its port + 10000 (the cluster bus)."""


def ensure_installed() -> None:
    """Install redis-server and redis-cli from the Debian packages when they are missing."""
    debian.ensure_programs(("redis-server", "redis-cli"), ("redis-server", "redis-tools"))


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port is free too (and neither one among ``taken``)."""
    for _ in range(1000):
        port = random.randint(20000, 50000)
        pair = {port, port + BUS_OFFSET}
        if not pair & taken and all(_is_free(each) for each in pair):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def tls_parameters(tls: Certificate, client_certificates: bool) -> str:
    """The query of a URL that trusts ``tls``, and shows it as the client's certificate when
    the server asks for one."""
    query = f"ca_file={tls.certificate}"
    if client_certificates:
        query += f"&cert_file={tls.certificate}&key_file={tls.key}"
    return query


@dataclass
class RedisServer(Child):
    """One ``redis-server`` process in ``directory``; ``start`` again after ``kill`` to restart
    it on the same port with the same files (with ``appendonly`` its data survives)."""

    ready_timeout = 10.0
    not_yet = (redis.exceptions.RedisError,)
    directory: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = False
    appendfsync: str = "everysec"
    cluster: bool = False
    tls: Certificate | None = None
    """With a certificate, the server speaks TLS only, on ``port``."""
    client_certificates: bool = False
    """With TLS, the server asks each client for a certificate that ``tls`` signed (clients
    show ``tls`` itself)."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.tls is not None:
            query = tls_parameters(self.tls, self.client_certificates)
            return f"rediss://{HOST}:{self.port}/0?{query}"
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    def command(self) -> list[str]:
        command = ["redis-server", "--port", str(self.port), "--bind", HOST]
        if self.tls is not None:
            command[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            command += ["--tls-cert-file", str(self.tls.certificate)]
            command += ["--tls-key-file", str(self.tls.key)]
            command += ["--tls-ca-cert-file", str(self.tls.certificate)]
            command += ["--tls-auth-clients", "yes" if self.client_certificates else "no"]
        command += ["--dir", str(self.directory), "--daemonize", "no", "--save", ""]
        command += ["--logfile", str(self.log), "--appendonly", "yes" if self.appendonly else "no"]
        command += ["--appendfsync", self.appendfsync]
        if self.cluster:
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--cluster-node-timeout", "2000"]
            if self.tls is not None:
                command += ["--tls-cluster", "yes"]
        return command

    def client(self) -> redis.Redis:
        if self.tls is not None:
            certificate = str(self.tls.certificate)
            return redis.Redis(
                host=HOST,
                port=self.port,
                socket_timeout=5,
                ssl=True,
                ssl_ca_certs=certificate,
                ssl_certfile=certificate if self.client_certificates else None,
                ssl_keyfile=str(self.tls.key) if self.client_certificates else None,
            )
        return redis.Redis(host=HOST, port=self.port, socket_timeout=5)

    def start(self) -> None:
        ensure_installed()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready()

    def answers(self) -> bool:
        with self.client() as client:
            return bool(client.ping())

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()


@dataclass
class RedisClusterServers:
    """Three masters with no replicas, every slot covered."""

    directory: Path
    nodes: list[RedisServer] = field(default_factory=list)
    appendonly: bool = False
    appendfsync: str = "everysec"
    tls: Certificate | None = None
    """With a certificate, the nodes speak TLS only, to clients and to each other."""
    client_certificates: bool = False
    """As ``RedisServer.client_certificates``, on every node."""

    @property
    def url(self) -> str:
        nodes = ",".join(f"{HOST}:{node.port}" for node in self.nodes)
        if self.tls is not None:
            return f"rediss+cluster://{nodes}?{tls_parameters(self.tls, self.client_certificates)}"
        return f"redis+cluster://{nodes}"

    def start(self, masters: int = 3) -> None:
        """Create the cluster; ``start`` again after ``kill`` restarts the same nodes, which
        rejoin from their own cluster files."""
        if self.nodes:
            for node in self.nodes:
                node.start()
            self.wait_ok()
            return
        taken: set[int] = set()
        for number in range(masters):
            port = free_cluster_port(taken)
            taken |= {port, port + BUS_OFFSET}
            node = RedisServer(
                self.directory / f"node{number}",
                port=port,
                cluster=True,
                appendonly=self.appendonly,
                appendfsync=self.appendfsync,
                tls=self.tls,
                client_certificates=self.client_certificates,
            )
            self.nodes.append(node)
            node.start()
        addresses = [f"{HOST}:{node.port}" for node in self.nodes]
        client = ["redis-cli"]
        if self.tls is not None:
            client += ["--tls", "--cacert", str(self.tls.certificate)]
            if self.client_certificates:
                client += ["--cert", str(self.tls.certificate), "--key", str(self.tls.key)]
        create = [*client, "--cluster", "create", *addresses, "--cluster-replicas", "0"]
        subprocess.run(
            [*create, "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        self.wait_ok()

    def wait_ok(self) -> None:
        """Until every node reports cluster_state:ok with all 16384 slots ok."""
        wait_until_ready(
            "the Redis Cluster",
            lambda: all(self._is_ok(node) for node in self.nodes),
            [node.process for node in self.nodes if node.process is not None],
            lambda: "\n".join(node.log_text()[-1000:] for node in self.nodes),
            30.0,
            RedisServer.not_yet,
        )

    @staticmethod
    def _is_ok(node: RedisServer) -> bool:
        with node.client() as client:
            info = client.cluster("INFO")
        return bool(info["cluster_state"] == "ok" and info["cluster_slots_ok"] == "16384")

    def flush(self) -> None:
        for node in self.nodes:
            node.flush()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private standalone Redis without persistence, for the whole session."""
    with running(RedisServer(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A private 3-master Redis Cluster without persistence, for the whole session."""
    with running(RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))) as cluster:
        yield cluster


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the session's standalone Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterServers) -> str:
    """The URL of the session's Redis Cluster, emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url
