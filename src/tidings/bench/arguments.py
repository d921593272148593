"""The options of every bench run, ``tidings bench`` and ``bench compare`` alike. Numbers are
checked as they are parsed: a run with no client, no time or no queue would print an empty
table, and a post of no message would be refused by the server thousands of times."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from tidings.bench.runner import Options
from tidings.bench.scenarios import SCENARIOS, TARGET_SCENARIOS
from tidings.client.keepalive import server_address
from tidings.client.keystone import Credentials

KEYSTONE_ENVIRONMENT = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME")
"""What ``--keystone`` reads, as the openstack CLI does; OS_USER_DOMAIN_NAME and
OS_PROJECT_DOMAIN_NAME may be added (default ``Default``)."""


def at_least(least: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number no smaller than ``least``."""

    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value

    return whole_number


def server_url(text: str) -> str:
    """An argparse ``type``: the ``http://`` or ``https://`` URL of a server, as the bench's
    transport takes it."""
    try:
        server_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def writable_file(text: str) -> Path:
    """An argparse ``type``: a file that can be written once the run is over (its folder
    exists and takes files), so that a run does not end in a traceback."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write in {path.parent}: {exc.strerror}") from None
    return path


def seconds(text: str) -> float:
    """An argparse ``type``: a length of time above zero."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type``: a share from 0 up to (not including) 1."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 up to 1 (say 0.05), not {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """What every run takes: scenarios, clients, sizes, duration, and how to authenticate."""
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


def load_options(args: argparse.Namespace, url: str, environment: Mapping[str, str]) -> Options:
    """A run's options against ``url`` from the arguments of ``add_load_arguments``;
    ValueError when ``--keystone`` finds its credentials missing."""
    return Options(
        url=url.rstrip("/"),
        duration=args.duration,
        queues=args.queues,
        message_size=args.message_size,
        queue_prefix=args.queue_prefix,
        project=args.project,
        prefill=args.prefill,
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
