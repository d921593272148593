"""``tidings bench URL`` and ``tidings bench compare``: arguments in, figures out."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from tidings.bench import compare, plot, report
from tidings.bench.arguments import (
    add_load_arguments,
    at_least,
    load_options,
    server_url,
    writable_file,
)
from tidings.bench.progress import LiveProgress
from tidings.bench.runner import FAILURES, Options, run, run_async
from tidings.bench.scenarios import SCENARIOS, Scenario
from tidings.bench.servers import ServerFailed

ROLE_FLAGS = (
    "producers",
    "consumers",
    "observers",
    "batch_size",
    "messages_per_claim",
    "messages_per_list",
    "consumer_mode",
)


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["compare"]:
        comparing = compare_parser()
        args = comparing.parse_args(argv[1:])
        template = _load_options(comparing, args, "")
        return _in_one_line("tidings bench compare", lambda: compare.main(args, template))
    parser = bench_parser()
    args = parser.parse_args(argv)
    chosen = scenarios(args)
    if not all(scenario.clients for scenario in chosen):
        parser.error("every role of the scenario has 0 clients: give one of them at least 1")
    if args.plot is not None:
        plot.require()
    settings = _load_options(parser, args, args.url)
    settings = dataclasses.replace(settings, keep_queues=args.keep_queues)
    return _in_one_line(
        f"tidings bench: {args.url}", lambda: run_async(_bench(args, chosen, settings))
    )


def _load_options(parser: argparse.ArgumentParser, args: argparse.Namespace, url: str) -> Options:
    try:
        return load_options(args, url, os.environ)
    except ValueError as exc:
        parser.error(str(exc))


def _in_one_line(label: str, command: Callable[[], int]) -> int:
    """``command``'s exit code; 1, with one line on stderr, when a request failed for good
    (the server or Keystone unreachable or refusing), or a server to compare did not start
    (then with the server's log)."""
    try:
        return command()
    except FAILURES as exc:
        print(f"{label}: {exc!r}", file=sys.stderr)
    except ServerFailed as exc:
        print(f"{label}: {exc}", file=sys.stderr)
    return 1


async def _bench(args: argparse.Namespace, chosen: list[Scenario], settings: Options) -> int:
    console = Console(stderr=True)
    show_progress = console.is_terminal and not args.no_progress
    results = []
    for scenario in chosen:
        progress = LiveProgress(console) if show_progress else None
        outcome = await run(scenario, settings, progress)
        result = report.summary(scenario, settings, outcome)
        results.append(result)
        if not args.json:
            report.stdout_console().print(report.table(result))
            for failed in report.failures(result):
                print(failed)
    if args.json:
        print(orjson.dumps({"runs": results}, option=orjson.OPT_INDENT_2).decode())
    for result in results:
        if args.plot is not None:
            plot.plot(result, _plot_path(args.plot, result, len(results)))
    return 0


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The named scenarios (default ``mixed``), with --clients and the role flags applied."""
    chosen = []
    for name in args.scenario or ["mixed"]:
        scenario = SCENARIOS[name]
        if args.clients is not None:
            scenario = scenario.with_clients(args.clients)
        given = {
            flag: getattr(args, flag) for flag in ROLE_FLAGS if getattr(args, flag) is not None
        }
        chosen.append(dataclasses.replace(scenario, **given))
    return chosen


def _plot_path(path: Path, result: dict[str, Any], runs: int) -> Path:
    if runs == 1:
        return path
    return path.with_name(f"{path.stem}-{result['scenario']['name']}{path.suffix}")


def bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings bench",
        description="Load a Zaqar v2 server (tidings or Zaqar) and report its rates and "
        "latencies. See also: tidings bench compare --help.",
    )
    parser.add_argument("url", type=server_url, help="the server, e.g. http://127.0.0.1:8888")
    add_load_arguments(parser)
    parser.add_argument("--producers", type=at_least(0), help="concurrent posting workers")
    parser.add_argument("--consumers", type=at_least(0), help="concurrent claiming workers")
    parser.add_argument("--observers", type=at_least(0), help="concurrent listing workers")
    parser.add_argument("--batch-size", type=at_least(1), help="messages per post")
    parser.add_argument("--messages-per-claim", type=at_least(1), help="claim limit")
    parser.add_argument("--messages-per-list", type=at_least(1), help="listing page size")
    parser.add_argument(
        "--consumer-mode",
        choices=["each", "bulk"],
        help="after a claim, delete each message or all at once",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--plot", type=writable_file, help="write throughput and latency to a PNG")
    parser.add_argument("--keep-queues", action="store_true", help="do not delete the queues")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    return parser


def compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings bench compare",
        description="Run the same scenarios against two servers, alternating, and print "
        "the candidate/base ratio of msgs/s for each with its spread over the rounds.",
    )
    compare.add_arguments(parser)
    add_load_arguments(parser)
    parser.set_defaults(duration=5.0)
    return parser
