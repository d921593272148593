"""``tidings bench URL`` and ``tidings bench compare``: arguments in, figures out."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from tidings.bench import compare, plot, report
from tidings.bench.arguments import at_least, seconds
from tidings.bench.progress import LiveProgress
from tidings.bench.runner import FAILURES, Options, run, run_async
from tidings.bench.scenarios import SCENARIOS, TARGET_SCENARIOS, Scenario
from tidings.client.keystone import Credentials

KEYSTONE_ENVIRONMENT = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME")
"""What ``--keystone`` reads, as the openstack CLI does; OS_USER_DOMAIN_NAME and
OS_PROJECT_DOMAIN_NAME may be added (default ``Default``)."""
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
        return compare.main(compare_parser().parse_args(argv[1:]))
    parser = bench_parser()
    args = parser.parse_args(argv)
    chosen = scenarios(args)
    if not all(scenario.clients for scenario in chosen):
        parser.error("every role of the scenario has 0 clients: give one of them at least 1")
    if args.plot is not None:
        plot.require()
    try:
        settings = options(args, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        return run_async(_bench(args, chosen, settings))
    except FAILURES as exc:
        print(f"tidings bench: {args.url}: {exc!r}", file=sys.stderr)
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


def options(args: argparse.Namespace, environment: Mapping[str, str]) -> Options:
    """The run's options; ValueError when ``--keystone`` finds its credentials missing."""
    return Options(
        url=args.url.rstrip("/"),
        duration=args.duration,
        queues=args.queues,
        message_size=args.message_size,
        queue_prefix=args.queue_prefix,
        project=args.project,
        prefill=args.prefill,
        keep_queues=args.keep_queues,
        token=args.token,
        keystone=keystone_credentials(environment) if args.keystone else None,
    )


def keystone_credentials(environment: Mapping[str, str]) -> Credentials:
    missing = [name for name in KEYSTONE_ENVIRONMENT if not environment.get(name)]
    if missing:
        raise ValueError(f"--keystone needs {', '.join(missing)} in the environment")
    auth_url, username, password, project = (environment[name] for name in KEYSTONE_ENVIRONMENT)
    return Credentials(
        auth_url,
        username,
        password,
        project,
        user_domain=environment.get("OS_USER_DOMAIN_NAME") or "Default",
        project_domain=environment.get("OS_PROJECT_DOMAIN_NAME") or "Default",
    )


def _plot_path(path: Path, result: dict[str, Any], runs: int) -> Path:
    if runs == 1:
        return path
    return path.with_name(f"{path.stem}-{result['scenario']['name']}{path.suffix}")


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """What every run takes: scenarios, clients, sizes, duration."""
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help=f"a named scenario (repeatable); the speed target's are {', '.join(TARGET_SCENARIOS)}",
    )
    parser.add_argument(
        "--clients", type=at_least(1), help="concurrent workers in the scenario's roles"
    )
    parser.add_argument("--duration", type=seconds, default=10.0, help="seconds (default 10)")
    parser.add_argument("--queues", type=at_least(1), default=4, help="queues to spread load over")
    parser.add_argument("--message-size", type=at_least(0), default=100, help="bytes of each body")
    parser.add_argument("--queue-prefix", default="tidings-bench")
    parser.add_argument("--project", default="tidings-bench", help="X-Project-ID to use")
    parser.add_argument(
        "--prefill",
        type=at_least(0),
        help="messages posted before a consumer run (default 40000/s)",
    )


def bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings bench",
        description="Load a Zaqar v2 server (tidings or Zaqar) and report its rates and "
        "latencies. See also: tidings bench compare --help.",
    )
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8888")
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
    parser.add_argument("--plot", type=Path, help="write throughput and latency to a PNG")
    parser.add_argument("--keep-queues", action="store_true", help="do not delete the queues")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--token", help="a Keystone token to send as X-Auth-Token (openstack token issue)"
    )
    auth.add_argument(
        "--keystone",
        action="store_true",
        help="ask Keystone for a token, and again before it expires, with the password "
        f"credentials of {', '.join(KEYSTONE_ENVIRONMENT)} (and OS_USER_DOMAIN_NAME, "
        "OS_PROJECT_DOMAIN_NAME) in the environment, as the openstack CLI reads them",
    )
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
