"""A private OpenStack Keystone for the test session: PyPI ``keystone`` in a venv of its own,
SQLite, fernet tokens, ``keystone-manage bootstrap``, served by gunicorn on a free loopback
port. It holds two projects, each with a member and an admin, and a service user that
validates tokens.

The venv and a freshly bootstrapped state (database and keys) are cached under
``~/.cache/tidings-tests`` (``TIDINGS_TEST_CACHE`` moves it), keyed by the Keystone and Python
versions: the first session on a machine installs and bootstraps (a minute or two); later ones
copy the state into their temp dir and start in seconds. A lock file lets concurrent sessions
share the cache.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import getpass
import grp
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.processes import Child, running
from tidings.config import AuthSettings

KEYSTONE_VERSION = "30.0.0"
GUNICORN_VERSION = "27.0.1"
HOST = "127.0.0.1"
DOMAIN = "Default"
ADMIN_PASSWORD = "admin-secret"
PASSWORD = "user-secret"
SERVICE = ("tidings", "service", "service")
"""The service user, its project and its role."""
USERS = {
    "a-member": ("tidings-a", "member"),
    "a-admin": ("tidings-a", "admin"),
    "b-member": ("tidings-b", "member"),
    "b-admin": ("tidings-b", "admin"),
}
"""Test users: their project and their role in it."""
START_TIMEOUT = 900
"""Seconds the first test that needs Keystone may take: on a new machine it installs it."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "tidings-tests"
    return Path(os.environ.get("TIDINGS_TEST_CACHE", default))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stderr[-3000:]}")


def installed_venv() -> Path:
    """A venv holding Keystone and gunicorn, installed once per machine."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    venv = cache_dir() / f"keystone-{KEYSTONE_VERSION}-{python}"
    marker = venv / ".installed"
    with _locked(venv.with_name(venv.name + ".lock")):
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", str(venv)])
            pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
            _run([*pip, f"keystone=={KEYSTONE_VERSION}", f"gunicorn=={GUNICORN_VERSION}"])
            marker.touch()
    return venv


def _config(state: Path) -> str:
    return f"""[DEFAULT]
log_file = {state / "keystone.log"}
use_stderr = false
[database]
connection = sqlite:///{state / "keystone.db"}
[token]
provider = fernet
expiration = 14400
caching = false
[revoke]
caching = false
[fernet_tokens]
key_repository = {state / "fernet-keys"}
[fernet_receipts]
key_repository = {state / "fernet-keys"}
[credential]
key_repository = {state / "credential-keys"}
[cache]
enabled = true
backend = dogpile.cache.memory
[identity]
password_hash_rounds = 4
"""


def bootstrapped_state(venv: Path) -> Path:
    """A database and keys after ``db_sync``, key setup and ``bootstrap``, made once."""
    state = cache_dir() / f"keystone-{KEYSTONE_VERSION}-state"
    marker = state / ".bootstrapped"
    with _locked(state.with_name(state.name + ".lock")):
        if not marker.exists():
            shutil.rmtree(state, ignore_errors=True)
            state.mkdir(parents=True)
            (state / "keystone.conf").write_text(_config(state))
            _bootstrap(venv, state / "keystone.conf")
            marker.touch()
    return state


def _bootstrap(venv: Path, conf: Path) -> None:
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(conf)]
    owner = ["--keystone-user", getpass.getuser(), "--keystone-group", grp.getgrgid(os.getgid())[0]]
    _run([*manage, "db_sync"])
    # Each keystone-manage run spends seconds importing: set up both key sets at once.
    setups = [
        subprocess.Popen(
            [*manage, setup, *owner], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for setup in ("fernet_setup", "credential_setup")
    ]
    for setup in setups:
        _, stderr = setup.communicate()
        if setup.returncode != 0:
            raise RuntimeError(f"keystone-manage key setup failed: {stderr.decode()[-3000:]}")
    _run([*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class KeystoneServer(Child):
    """gunicorn serving Keystone from ``directory`` (a copy of the bootstrapped state)."""

    stop_timeout = 15.0
    ready_timeout = 120.0
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v3"

    @property
    def log(self) -> Path:
        return self.directory / "gunicorn.log"

    def start(self) -> None:
        venv = installed_venv()
        shutil.copytree(bootstrapped_state(venv), self.directory, dirs_exist_ok=True)
        (self.directory / "keystone.conf").write_text(_config(self.directory))
        # Keystone parses sys.argv with oslo.config, so gunicorn gets no arguments: its
        # settings go in ./gunicorn.conf.py, which it reads from its working directory.
        (self.directory / "gunicorn.conf.py").write_text(
            f'wsgi_app = "keystone.wsgi.api:application"\nbind = "{HOST}:{self.port}"\n'
            "workers = 1\nthreads = 8\ntimeout = 60\ngraceful_timeout = 5\n"
            f'errorlog = "{self.log}"\ncontrol_socket_disable = True\n'
        )
        env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(self.directory / "keystone.conf")}
        self.process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn")],
            cwd=self.directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise

    def answers(self) -> bool:
        return httpx.get(self.url, timeout=2).status_code == 200


@dataclass(frozen=True)
class Keystone:
    """The running Keystone as tests see it: its URL, projects, users and their tokens."""

    url: str
    projects: Mapping[str, str]
    """Project name → id."""
    users: Mapping[str, str]
    """User name → id."""
    tokens: Mapping[str, str]
    """User name → a token scoped to the user's project, valid for the whole session."""

    def auth_settings(self, **overrides: Any) -> AuthSettings:
        """Settings for a tidings that validates tokens with this Keystone."""
        return AuthSettings(**(self._auth_values() | overrides))

    def server_environment(self) -> dict[str, str]:
        """The environment of a ``tidings serve`` that validates tokens with this Keystone."""
        values = self._auth_values().items()
        return {f"TIDINGS_AUTH_{name.upper()}": value for name, value in values}

    def _auth_values(self) -> dict[str, str]:
        user, project, _ = SERVICE
        return {
            "strategy": "keystone",
            "keystone_url": self.url,
            "service_user": user,
            "service_password": PASSWORD,
            "service_project": project,
            "service_domain": DOMAIN,
        }

    async def issue(self, user: str) -> str:
        """A new token of ``user``, scoped to its project."""
        return await self._issue(_password(user), _scope(user))

    async def issue_unscoped(self, user: str) -> str:
        return await self._issue(_password(user), None)

    async def issue_short_lived(self, user: str, seconds: float) -> tuple[str, float]:
        """A token of ``user`` that expires in ``seconds`` (Keystone caps a token issued for an
        application credential at the credential's expiry), and that expiry."""
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
        body = {"name": str(uuid.uuid4()), "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.url}/users/{self.users[user]}/application_credentials",
                json={"application_credential": body},
                headers={"X-Auth-Token": self.tokens[user]},
            )
        assert response.status_code == 201, response.text
        credential = response.json()["application_credential"]
        identity = {
            "methods": ["application_credential"],
            "application_credential": {"id": credential["id"], "secret": credential["secret"]},
        }
        return await self._issue(identity, None), expires.timestamp()

    async def revoke(self, token: str) -> None:
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        async with httpx.AsyncClient() as client:
            response = await client.delete(f"{self.url}/auth/tokens", headers=headers)
        assert response.status_code == 204, response.text

    async def revoke_all_tokens_of(self, user: str) -> None:
        """Revoke every token of ``user``, as Keystone does when a password is set."""
        admin = await self._issue(_password("admin", ADMIN_PASSWORD), {"system": {"all": True}})
        async with httpx.AsyncClient() as client:
            response = await client.patch(
                f"{self.url}/users/{self.users[user]}",
                json={"user": {"password": PASSWORD}},
                headers={"X-Auth-Token": admin},
            )
        assert response.status_code == 200, response.text

    async def _issue(self, identity: dict[str, Any], scope: dict[str, Any] | None) -> str:
        auth: dict[str, Any] = {"identity": identity} | ({"scope": scope} if scope else {})
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/auth/tokens", json={"auth": auth})
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]


def _password(user: str, password: str = PASSWORD) -> dict[str, Any]:
    credentials = {"name": user, "password": password, "domain": {"name": DOMAIN}}
    return {"methods": ["password"], "password": {"user": credentials}}


def _scope(user: str) -> dict[str, Any]:
    return {"project": {"name": USERS[user][0], "domain": {"name": DOMAIN}}}


class _Admin:
    """Keystone's bootstrap admin, system-scoped (needed to create projects and users)."""

    def __init__(self, client: httpx.Client) -> None:
        auth = {"identity": _password("admin", ADMIN_PASSWORD), "scope": {"system": {"all": True}}}
        response = client.post("/auth/tokens", json={"auth": auth})
        response.raise_for_status()
        client.headers["X-Auth-Token"] = response.headers["X-Subject-Token"]
        self.client = client

    def create(self, kind: str, **body: Any) -> str:
        response = self.client.post(f"/{kind}s", json={kind: body})
        response.raise_for_status()
        created: str = response.json()[kind]["id"]
        return created

    def role(self, name: str) -> str:
        found = self.client.get("/roles", params={"name": name}).json()["roles"]
        return str(found[0]["id"]) if found else self.create("role", name=name)

    def grant(self, project: str, user: str, role: str) -> None:
        self.client.put(f"/projects/{project}/users/{user}/roles/{role}").raise_for_status()


class GuardedServer(ServerProcess):
    """A ``tidings serve`` whose environment makes it validate tokens (give it
    ``Keystone.server_environment``); ready when it answers ``GET /``, the one request that
    needs no token."""

    def answers(self) -> bool:
        return httpx.get(f"{self.url}/", timeout=1).status_code == 300


def register_endpoint(url: str, service_type: str, endpoint: str) -> str:
    """Add a service of ``service_type`` to the catalog, with a public ``endpoint`` in a region
    of its own (so that tests' entries never meet); the region's name."""
    region = f"{service_type}-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, timeout=30) as client:
        admin = _Admin(client)
        admin.client.post("/regions", json={"region": {"id": region}}).raise_for_status()
        service = admin.create("service", type=service_type, name=service_type)
        admin.create(
            "endpoint", service_id=service, interface="public", url=endpoint, region_id=region
        )
    return region


def populate(url: str) -> Keystone:
    """Create the test projects, users and the service user; get each user a token."""
    with httpx.Client(base_url=url, timeout=30) as client:
        admin = _Admin(client)
        service_user, service_project, service_role = SERVICE
        names = {project for project, _ in USERS.values()} | {service_project}
        projects = {name: admin.create("project", name=name, domain_id="default") for name in names}
        grants = {**USERS, service_user: (service_project, service_role)}
        users = {}
        for user, (project, role) in grants.items():
            users[user] = admin.create("user", name=user, password=PASSWORD, domain_id="default")
            admin.grant(projects[project], users[user], admin.role(role))
    tokens = {user: _sync_issue(url, user) for user in USERS}
    return Keystone(url, projects, users, tokens)


def _sync_issue(url: str, user: str) -> str:
    auth = {"identity": _password(user), "scope": _scope(user)}
    response = httpx.post(f"{url}/auth/tokens", json={"auth": auth}, timeout=30)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


@pytest.fixture(scope="session", name="keystone")
def keystone_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A private Keystone for the whole session, with projects tidings-a and tidings-b."""
    with running(KeystoneServer(tmp_path_factory.mktemp("keystone"))) as server:
        yield populate(server.url)


@pytest.fixture(scope="module", name="guarded")
def guarded_fixture(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GuardedServer]:
    """A ``tidings serve`` that validates tokens with the session's Keystone, for the module."""
    directory = tmp_path_factory.mktemp("guarded")
    env = keystone.server_environment()
    with running(GuardedServer(directory / "tidings.db", env=env)) as process:
        yield process
