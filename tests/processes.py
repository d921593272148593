"""The servers the tests start, and processes seen through /proc (Linux)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import httpx


class Server(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Server)


def tidings(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``tidings ARGS`` run to its end as a user runs it, its output captured; ``env``, when
    given, is the whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "tidings.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=cwd,
    )


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    """``server`` started for the block, and stopped after it (after a failed start too)."""
    try:
        server.start()
        yield server
    finally:
        server.stop()


def wait_until_ready(
    name: str,
    answers: Callable[[], bool],
    processes: Iterable[subprocess.Popen[bytes]],
    log: Callable[[], str],
    timeout: float,
    not_yet: tuple[type[Exception], ...] = (httpx.TransportError,),
) -> None:
    """Ask ``answers()`` every 0.1 s until it holds (a ``not_yet`` error counts as not yet);
    RuntimeError, with the end of ``log()``, when one of ``processes`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"{name} exited: {log()[-3000:]}")
        with contextlib.suppress(*not_yet):
            if answers():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not become ready in {timeout} s: {log()[-3000:]}")


class Child:
    """A server the tests started: waited for until it ``answers()`` (within
    ``ready_timeout`` seconds), its log read, stopped (SIGTERM, then SIGKILL after
    ``stop_timeout`` seconds) or killed."""

    process: subprocess.Popen[bytes] | None
    stop_timeout = 20.0
    ready_timeout = 20.0
    not_yet: tuple[type[Exception], ...] = (httpx.TransportError,)
    """What ``answers()`` raises while the server is still starting."""

    def answers(self) -> bool:
        """Whether the server answers as a ready one does."""
        raise NotImplementedError

    def wait_ready(self) -> None:
        assert self.process is not None, "not started"
        wait_until_ready(
            type(self).__name__,
            self.answers,
            [self.process],
            self.log_text,
            self.ready_timeout,
            self.not_yet,
        )

    @property
    def log(self) -> Path:
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found
