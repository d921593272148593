"""The two sides of a comparison: servers to start (a git revision installed in its own
virtual environment, the working tree, a command) or one already running (a URL)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from tidings.bench.arguments import server_url

WORKTREE = "."
REFERENCE = "reference"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
EXTRAS = {
    "redis": "redis",
    "redis+cluster": "redis",
    "postgres": "postgres",
    "postgresql": "postgres",
}
"""Storage URL scheme to the extra a revision needs installed to serve it."""


@dataclass(frozen=True)
class Server:
    url: str
    pid: int | None = None
    """The process started for it (None: a server someone else runs)."""

    def cpu_seconds(self) -> float | None:
        """User and system CPU its processes (the process and its children, such as the
        workers) used so far; None for a server this command did not start."""
        if self.pid is None:
            return None
        root = psutil.Process(self.pid)
        total = 0.0
        for process in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total


class ServerFailed(RuntimeError):
    """A side's server could not be installed, or exited or stayed silent when started."""


def side(text: str) -> str:
    """An argparse ``type`` for a side: one of the forms ``serving`` takes, a revision
    included, checked before any server is installed or started."""
    if text in (WORKTREE, REFERENCE):
        return text
    if text.startswith(("http://", "https://")):
        return server_url(text)
    if text.startswith("cmd:"):
        if not text[4:].strip():
            raise argparse.ArgumentTypeError("cmd: needs a command to run")
        return text
    try:
        _git("rev-parse", "--verify", "--quiet", f"{text}^{{commit}}")
    except (OSError, subprocess.CalledProcessError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is none of '.', 'reference', a URL, cmd:COMMAND or a git revision here"
        ) from None
    return text


def describe(spec: str) -> str:
    if spec == WORKTREE:
        return "the working tree"
    if spec == REFERENCE:
        return "the reference server (answers without storing)"
    if spec.startswith(("http://", "https://")):
        return spec
    if spec.startswith("cmd:"):
        return f"`{spec[4:]}`"
    return f"revision {spec}"


@contextlib.contextmanager
def serving(spec: str, storage: str, workers: int, workdir: Path) -> Iterator[Server]:
    """A server for ``spec``, started (and stopped afterwards) unless it is a URL.

    ``spec`` is a URL; ``.`` (the working tree, with this interpreter); ``reference`` (an
    app that answers without storing, on the same server stack: ``bench.reference``);
    ``cmd:COMMAND`` (a shell command, run where compare runs; ``{port}`` in it is replaced by
    a free port); or a git revision, installed into a virtual environment cached by commit.
    The others run in ``workdir``.
    """
    if spec.startswith(("http://", "https://")):
        yield Server(spec.rstrip("/"))
        return
    python = sys.executable
    if spec not in (WORKTREE, REFERENCE) and not spec.startswith("cmd:"):
        python = str(installed(spec, storage) / "bin/python")
    port = free_port()  # after the install, whose downloads could take the port meanwhile
    cwd = workdir
    if spec.startswith("cmd:"):
        command = ["bash", "-c", spec[4:].replace("{port}", str(port))]
        cwd = Path.cwd()
    elif spec == REFERENCE:
        command = [python, "-m", "tidings.bench.reference", "--port", str(port)]
        command += ["--workers", str(workers)]
    else:
        command = [python, "-m", "tidings.cli", "serve", "--port", str(port)]
        command += ["--workers", str(workers), "--storage", storage]
    with _process(command, port, cwd, workdir / f"server-{port}.log") as server:
        yield server


@contextlib.contextmanager
def _process(command: list[str], port: int, cwd: Path, log_path: Path) -> Iterator[Server]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log_path)
        yield Server(url, process.pid)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process and whatever it started (its session: a ``cmd:`` side's shell may
    have left its server running in the background): SIGTERM to all, then SIGKILL to those
    still there after ``STOP_TIMEOUT``."""
    group = process.pid
    _signal(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)
    while _signal(group, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(group, signal.SIGKILL)
    process.wait()


def _signal(group: int, number: int) -> bool:
    """Send ``number`` to the process group; False when none of it is left."""
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        return False
    return True


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    headers = {"Client-ID": "5f8e2d52-3c3c-4b7e-9a83-7a1c1b2f6d10", "X-Project-ID": "bench"}
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace").strip() or "(it logged nothing)"
            raise ServerFailed(f"the server exited with code {process.returncode}: {log}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/v2/ping", headers=headers, timeout=1).status_code == 204:
                return
        time.sleep(0.2)
    raise ServerFailed(f"the server did not answer within {READY_TIMEOUT:.0f} s: see {log_path}")


def installed(revision: str, storage: str) -> Path:
    """A virtual environment with ``revision`` installed (cached by commit and extras)."""
    commit = _git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    extra = EXTRAS.get(urlsplit(storage).scheme)
    venv = _cache() / (commit + (f"-{extra}" if extra else ""))
    if (venv / "bin/python").exists():
        return venv
    with tempfile.TemporaryDirectory(prefix="tidings-rev-") as source:
        archive = subprocess.run(
            ["git", "archive", commit], check=True, capture_output=True, cwd=_repository()
        ).stdout
        subprocess.run(["tar", "-x", "-C", source], input=archive, check=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        target = source + (f"[{extra}]" if extra else "")
        pip = [str(venv / "bin/pip"), "install", "--quiet", target]
        result = subprocess.run(pip, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise ServerFailed(f"installing {revision} failed: {shlex.join(pip)}\n{result.stderr}")
    return venv


def _cache() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "tidings" / "bench-venvs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _repository() -> Path:
    return Path(_git("rev-parse", "--show-toplevel").strip())


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
