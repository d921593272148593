"""A private PostgreSQL cluster for tests: initdb in a temp dir, loopback on a free port.

The cluster never touches the machine's own one (port 5432, /etc/postgresql): it lives in its
own directory with its socket beside it, trusts local connections, and runs with ``fsync=off``
because tests only kill tidings, never PostgreSQL. ``initdb`` and ``postgres`` refuse to run
as root, so under root they run as the ``postgres`` system user. When no server binaries are
installed, the Debian ``postgresql`` package is installed; a test never skips for lack of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from tests.processes import children
from tests.servers import debian
from tests.servers.certificates import Certificate

T = TypeVar("T")

SYSTEM_USER = "postgres"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
DURABLE_SETTINGS = SETTINGS | {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
"""What an operator runs (the defaults): a commit is on disk before it is acknowledged."""
CERTIFIED_ROLE = "certified"
CERTIFIED_RULES = (
    f"hostssl all {CERTIFIED_ROLE} 127.0.0.1/32 trust clientcert=verify-ca\n"
    f"host all {CERTIFIED_ROLE} 127.0.0.1/32 reject\n"
)
"""pg_hba.conf's rules for ``CERTIFIED_ROLE`` on a server with TLS."""
STATISTICS_COUNTED = 20.0
"""Seconds within which PostgreSQL's statistics count the rows other connections wrote (an
idle connection reports them within 10)."""
SHARED_DATABASE = "tidings_shared"
EMPTY_ALL_TABLES = """
DO $$
DECLARE tables text;
BEGIN
    SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
    FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations';
    IF tables IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY';
    END IF;
END $$
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    """The command, run as the postgres system user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SYSTEM_USER, "--", *command]
    return command


def _candidate_bindirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0:
            yield Path(found.stdout.strip())
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    yield from sorted(versions, key=lambda path: int(path.parent.name), reverse=True)
    initdb = shutil.which("initdb")
    if initdb is not None:
        yield Path(initdb).resolve().parent


def _find_bindir() -> Path | None:
    for bindir in _candidate_bindirs():
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def postgres_bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` live; installs them when missing."""
    bindir = _find_bindir()
    if bindir is None:
        debian.install("postgresql")
        bindir = _find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found, even after apt-get install")
    return bindir


def run_coroutine(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a fresh event loop in another thread.

    Fixtures that set up databases are synchronous and may run while a test's event loop is
    running in this thread, so they cannot use that loop.
    """
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, work).result()


@dataclass
class PostgresServer:
    """One private cluster: ``root`` holds the data directory, the socket and the log."""

    root: Path
    bindir: Path
    port: int = 0
    has_shared_database: bool = False
    durable: bool = False
    tls: Certificate | None = None
    """With a certificate, the server also speaks TLS (``sslmode=verify-full`` with
    ``sslrootcert`` naming the certificate), and the role ``CERTIFIED_ROLE`` may log in only
    over TLS with a client certificate that the certificate signed (``sslcert``, ``sslkey``:
    the certificate itself does)."""

    @classmethod
    def create(cls) -> PostgresServer:
        """initdb a new cluster in a fresh temp dir (not started)."""
        root = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, SYSTEM_USER, SYSTEM_USER)
        server = cls(root=root, bindir=postgres_bindir())
        server._tool(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        return server

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _tool(self, name: str, *args: str) -> None:
        command = _as_postgres([str(self.bindir / name), *args])
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed: {done.stderr or done.stdout}\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> None:
        """Start on the port used before, or on a free one; retried if the port was taken."""
        for attempt in range(5):
            self.port = self.port or free_port()
            try:
                self._pg_ctl_start()
                return
            except RuntimeError:
                if attempt == 4 or "could not bind" not in self.log_text():
                    raise
                self.port = 0

    def _pg_ctl_start(self) -> None:
        settings = (DURABLE_SETTINGS if self.durable else SETTINGS) | self._tls_settings()
        options = f"-p {self.port} -k {self.root} " + " ".join(
            f"-c {key}={value}" for key, value in settings.items()
        )
        self._tool(
            "pg_ctl",
            "start",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "-o",
            options,
        )

    def _tls_settings(self) -> dict[str, str]:
        """The certificate and key copied where the server's user may read them, the key
        readable by that user alone, as PostgreSQL demands; the certificate is also the
        authority of client certificates, which ``CERTIFIED_ROLE`` must show."""
        if self.tls is None:
            return {}
        certificate, key = self.root / "server.crt", self.root / "server.key"
        shutil.copyfile(self.tls.certificate, certificate)
        shutil.copyfile(self.tls.key, key)
        key.chmod(0o600)
        if os.geteuid() == 0:
            for path in (certificate, key):
                shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
        rules = self.data / "pg_hba.conf"
        if CERTIFIED_RULES not in rules.read_text():  # the first rule a connection matches wins
            rules.write_text(CERTIFIED_RULES + rules.read_text())
        return {
            "ssl": "on",
            "ssl_cert_file": str(certificate),
            "ssl_key_file": str(key),
            "ssl_ca_file": str(certificate),
        }

    def stop(self, mode: str = "fast") -> None:
        """``fast`` shuts down cleanly; ``immediate`` is a crash (recovery at the next start)."""
        if (self.data / "postmaster.pid").exists():
            self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")

    @contextlib.contextmanager
    def hung(self) -> Iterator[None]:
        """The cluster's processes stopped (SIGSTOP) for the block: its connections stay open
        and nothing answers."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        processes = [postmaster, *children(postmaster)]
        for pid in processes:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in processes:
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one SQL script as the superuser (from sync code, even inside a running loop)."""

        async def run() -> None:
            connection = await asyncpg.connect(self.url(database))
            try:
                await connection.execute(sql)
            finally:
                await connection.close()

        run_coroutine(run())

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def new_database(self) -> Iterator[str]:
        """The URL of a new, empty database (no schema yet), dropped on leaving."""
        name = f"tidings_{uuid.uuid4().hex[:12]}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)

    @contextlib.contextmanager
    def rows_only_role(self, url: str) -> Iterator[str]:
        """``url`` for a new role that may read and write the rows of its database's tables
        and nothing more (no table of its own, not their owner), dropped on leaving."""
        database = url.rsplit("/", 1)[1]
        role = f"app_{database}"
        self.execute(
            f"CREATE ROLE {role} LOGIN;"
            f"REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};"
            f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};",
            database,
        )
        try:
            yield url.replace(f"{SYSTEM_USER}@", f"{role}@")
        finally:
            self.execute(f"DROP OWNED BY {role}; DROP ROLE {role}", database)

    def emptied_shared_database(self) -> str:
        """The URL of one database kept for the server's life, created on first use, with every
        table but ``schema_migrations`` emptied."""
        if not self.has_shared_database:
            self.create_database(SHARED_DATABASE)
            self.has_shared_database = True
        self.execute(EMPTY_ALL_TABLES, SHARED_DATABASE)
        return self.url(SHARED_DATABASE)


MESSAGES_STATISTICS = """
SELECT n_live_tup, analyze_count FROM pg_stat_user_tables WHERE relid = 'messages'::regclass
"""


async def messages_counted(connection: asyncpg.Connection, rows: int) -> bool:
    """Whether PostgreSQL's statistics count ``rows`` live messages by now (they count them
    late: see STATISTICS_COUNTED)."""
    return int((await connection.fetchrow(MESSAGES_STATISTICS))["n_live_tup"]) >= rows


async def messages_analyzed(connection: asyncpg.Connection) -> int:
    """How many times messages was ANALYZEd other than by autovacuum."""
    return int((await connection.fetchrow(MESSAGES_STATISTICS))["analyze_count"])


def start_private_postgres(durable: bool = False, tls: Certificate | None = None) -> PostgresServer:
    server = PostgresServer.create()
    server.durable = durable
    server.tls = tls
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster for the whole session."""
    server = start_private_postgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database (no schema yet), dropped after the test."""
    with postgres_server.new_database() as url:
        yield url


@pytest.fixture
def postgres_clean_url(postgres_server: PostgresServer) -> str:
    """The URL of the server's shared database with every table emptied (the schema kept).

    Cheaper than a database per test: the contract suite uses it once per test.
    """
    return postgres_server.emptied_shared_database()
