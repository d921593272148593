"""``tidings serve | gc | migrate | bench | pool | flavor``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from tidings import __version__, cli_pools
from tidings.api.policy import Policy
from tidings.clock import system_clock
from tidings.config import ConfigError, Settings, load_settings, settings_as_environ
from tidings.errors import TidingsError
from tidings.observability import logs, metrics
from tidings.storage.base import storage_from_url
from tidings.storage.pooled import pooled_from_url

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from tidings.bench.cli import main as bench  # the load generator needs no server code

        return bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.observability.log_format, settings.observability.log_level)
    if args.command in ("serve", "gc"):
        try:
            pooled_from_url(settings.storage.url)  # a URL no driver takes is refused up front
        except ValueError as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 2
    if args.command == "serve":
        return serve(settings, args.config)
    if args.command == "migrate":
        return asyncio.run(migrate(settings))
    if args.command in ("pool", "flavor"):
        return asyncio.run(cli_pools.run(settings, args))
    return asyncio.run(collect_garbage(settings))


WORKER_STARTUP_SECONDS = 30
"""How long a worker may take to start (or answer its supervisor) before uvicorn replaces it:
its default of 5 s kills workers that a busy machine is still starting."""

WEBSOCKETS = "websockets-sansio"
"""uvicorn's WebSocket implementation on the current websockets API (``auto`` picks the
deprecated legacy one)."""


def serve(settings: Settings, config: Path | None) -> int:
    """Serve until SIGINT/SIGTERM; in-flight requests finish before the process exits."""
    if settings.server.workers > 1 and settings.storage.url.endswith(":memory:"):
        print("tidings: an in-memory store cannot be shared by several workers", file=sys.stderr)
        return 2
    try:
        Policy.from_file(settings.auth.policy_file)  # refuse a bad policy before serving
    except ConfigError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    os.environ.update(settings_as_environ(settings))
    if config is not None:
        os.environ["TIDINGS_CONFIG"] = str(config)
    # After its graceful shutdown uvicorn re-raises the SIGTERM it caught, which would end a
    # single-worker server "killed by signal"; exit with 0 instead.
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        with _metrics_across_workers(settings):
            run_server(
                "tidings.app:app_from_environ",
                settings.server.host,
                settings.server.port,
                settings.server.workers,
                factory=True,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def run_server(app: str, host: str, port: int, workers: int, factory: bool = False) -> None:
    """Serve the ASGI app ``module:name`` on the server stack of ``tidings serve`` (uvicorn
    picks httptools and uvloop itself); the bench's reference server uses it too."""
    options: dict[str, Any] = {
        "factory": factory,
        "host": host,
        "port": port,
        "workers": workers,
        "timeout_graceful_shutdown": 30,
        "timeout_worker_healthcheck": WORKER_STARTUP_SECONDS,
        "access_log": False,
        "ws": WEBSOCKETS,
    }
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, **options)
        return
    try:
        listener = _WorkersListener.bound(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(uvicorn.Config(app, **options), sockets=[listener]).run()


class _WorkersListener(socket.socket):
    """The server's address, held by the supervisor but never listened on: each worker process
    receives it as a listening socket of its own on the same address (``SO_REUSEPORT``), and
    the kernel spreads new connections over the workers.

    Sharing one listening socket, the worker that woke first took every connection waiting:
    the bench's 32 connections went 32 / 0 and 30 / 2 in 2 starts of 10, and a worker runs
    on one core. Spread by the kernel, 21 / 11 was the most uneven of 10."""

    @classmethod
    def bound(cls, host: str, port: int) -> _WorkersListener:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # A port that another program holds, even with SO_REUSEPORT, is refused: a second
        # server started there by mistake would silently share the connections
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        listener = cls(family)
        _share_address(listener)
        listener.bind((host, port))
        log.info("tidings listening on %s:%d", host, listener.getsockname()[1])
        return listener

    def __reduce__(self) -> tuple[Callable[..., socket.socket], tuple[Any, ...]]:
        return _socket_of_its_own, (self.family, self.getsockname())


def _socket_of_its_own(family: socket.AddressFamily, address: Any) -> socket.socket:
    """In a worker: a socket bound to the supervisor's address, for uvicorn to listen on."""
    own = socket.socket(family)
    _share_address(own)
    own.bind(address)
    return own


def _share_address(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def _metrics_across_workers(settings: Settings) -> AbstractContextManager[None]:
    """Worker processes pool their metrics, so any of them can answer ``/metrics``."""
    if settings.observability.metrics and settings.server.workers > 1:
        return metrics.shared_across_processes()
    return contextlib.nullcontext()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


async def collect_garbage(settings: Settings) -> int:
    """Drop expired messages and claims once (for cron), in the default storage and every pool."""
    storage = pooled_from_url(settings.storage.url)
    await storage.open()
    try:
        removed = await storage.gc(system_clock())
    finally:
        await storage.close()
    print(f"removed {removed} expired records")
    return 0


async def migrate(settings: Settings) -> int:
    """Apply the storage's pending schema migrations and name them."""
    try:
        applied = await storage_from_url(settings.storage.url).migrate()
    except (ValueError, TidingsError) as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 1
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("the schema is up to date")
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    flags = {
        "server.host": getattr(args, "host", None),
        "server.port": getattr(args, "port", None),
        "server.workers": getattr(args, "workers", None),
        "storage.url": args.storage,
    }
    return load_settings(args.config, os.environ, flags)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidings", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the Zaqar v2 HTTP API")
    serve_cmd.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (default 8888)")
    serve_cmd.add_argument("--workers", type=int, help="server processes sharing the port")
    gc_cmd = commands.add_parser("gc", help="drop expired messages and claims once")
    migrate_cmd = commands.add_parser("migrate", help="apply pending storage schema migrations")
    commands.add_parser("bench", help="load a Zaqar v2 server (see: tidings bench --help)")
    for command in (serve_cmd, gc_cmd, migrate_cmd, *cli_pools.add_parsers(commands)):
        command.add_argument("--storage", help="storage URL, e.g. sqlite:///./data/tidings.db")
        command.add_argument("--config", type=Path, help="TOML config file")
    return parser


if __name__ == "__main__":
    sys.exit(main())
