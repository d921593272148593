"""``tidings serve | gc | migrate | bench | pool | flavor``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType

from uvicorn.config import STARTUP_FAILURE

from tidings import __version__, cli_pools
from tidings.api.policy import Policy
from tidings.clock import system_clock
from tidings.config import ConfigError, Settings, load_settings, settings_as_environ
from tidings.errors import TidingsError
from tidings.observability import logs, metrics
from tidings.serving import run_server
from tidings.storage.base import storage_from_url
from tidings.storage.pooled import pooled_from_url


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
    try:
        pooled_from_url(settings.storage.url)  # a URL no driver takes is refused up front
    except ValueError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(settings, args.config)
    try:
        return asyncio.run(_on_the_store(settings, args))
    except TidingsError as exc:  # refused, or the store does not answer
        print(f"tidings: {exc.description}", file=sys.stderr)
        return 1


async def _on_the_store(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "migrate":
        return await migrate(settings)
    if args.command in ("pool", "flavor"):
        return await cli_pools.run(settings, args)
    return await collect_garbage(settings)


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
    try:
        asyncio.run(_open_and_close(settings.storage.url))
    except TidingsError as exc:
        print(f"tidings: cannot open the store: {exc.description}", file=sys.stderr)
        return STARTUP_FAILURE
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


async def _open_and_close(url: str) -> None:
    """Open the store and close it: one that does not answer raises ``TidingsError``, so that
    the command says so in one line (each of serve's workers would otherwise fail its
    start-up with the traceback of the driver's error)."""
    storage = pooled_from_url(url)
    try:
        await storage.open()
    finally:
        await storage.close()


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
    """Apply the storage's pending schema migrations and name them; then open the store once,
    which makes the schema of a backend that keeps no versioned one (SQLite) and shows that
    the store answers (Redis, Swift)."""
    applied = await storage_from_url(settings.storage.url).migrate()
    await _open_and_close(settings.storage.url)
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
    parser = argparse.ArgumentParser(
        prog="tidings",
        description="A multi-tenant messaging service speaking the OpenStack Zaqar v2 API.",
        epilog="Every option is also a TOML key (--config) and a TIDINGS_<SECTION>_<KEY>"
        " environment variable.",
    )
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
