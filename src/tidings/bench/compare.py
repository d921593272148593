"""``tidings bench compare``: the same scenarios against a base and a candidate server,
alternating between them for several rounds, and the candidate/base ratio of messages per
second for each scenario with its spread.

The gate: a scenario is *slower* when the median of its per-round ratios is below
``1 - tolerance``, where ``tolerance`` is the larger of ``--tolerance`` (default 5 %) and half
the spread of the ratios, ``(max - min) / 2``. A difference inside the rounds' own noise
never fails the gate; more rounds give a tighter spread.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from tidings.bench import report, servers
from tidings.bench.runner import Options, run, run_async
from tidings.bench.scenarios import SCENARIOS, TARGET_SCENARIOS, Scenario

SIDES = ("base", "candidate")


@dataclass(frozen=True)
class Verdict:
    scenario: str
    base: list[float]
    """msgs/s of each round."""
    candidate: list[float]
    ratios: list[float]
    tolerance: float

    @property
    def median(self) -> float:
        return statistics.median(self.ratios) if self.ratios else float("nan")

    @property
    def slower(self) -> bool:
        return bool(self.ratios) and self.median < 1 - self.tolerance

    def as_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "median": self.median,
            "min": min(self.ratios, default=None),
            "max": max(self.ratios, default=None),
            "slower": self.slower,
        }


def judge(
    scenario: str, base: Sequence[float], candidate: Sequence[float], floor: float
) -> Verdict:
    """Ratios candidate/base round by round, and the tolerance they allow (see the module)."""
    ratios = [new / old for old, new in zip(base, candidate, strict=True) if old > 0]
    spread = (max(ratios) - min(ratios)) / 2 if ratios else 0.0
    return Verdict(scenario, list(base), list(candidate), ratios, max(floor, spread))


def main(args: argparse.Namespace) -> int:
    chosen = _scenarios(args)
    with tempfile.TemporaryDirectory(prefix="tidings-compare-") as directory:
        workdir = Path(directory)
        with contextlib.ExitStack() as stack:
            urls = {}
            for side, spec in zip(SIDES, (args.base, args.candidate), strict=True):
                storage = args.storage or f"sqlite:///{workdir / side}.db"
                print(f"{side}: {servers.describe(spec)}", file=sys.stderr)
                urls[side] = stack.enter_context(
                    servers.serving(spec, storage, args.workers, workdir)
                )
            rates = run_async(_rounds(urls, chosen, args))
    verdicts = [
        judge(name, rates[name]["base"], rates[name]["candidate"], args.tolerance) for name in rates
    ]
    _show(verdicts, args)
    return 1 if args.gate and any(verdict.slower for verdict in verdicts) else 0


async def _rounds(
    urls: dict[str, str], chosen: Sequence[Scenario], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Round by round, each scenario on both sides; the order of the sides flips every
    round, so a drift during the comparison favours neither."""
    rates: dict[str, dict[str, list[float]]] = {
        s.name: {side: [] for side in SIDES} for s in chosen
    }
    for number in range(args.rounds):
        order = SIDES if number % 2 == 0 else SIDES[::-1]
        for scenario in chosen:
            for side in order:
                options = _options(args, urls[side])
                outcome = await run(scenario, options)
                result = report.summary(scenario, options, outcome)
                rates[scenario.name][side].append(result["messages_per_second"])
                print(_line(number + 1, args.rounds, scenario, side, result), file=sys.stderr)
    return rates


def _line(number: int, rounds: int, scenario: Scenario, side: str, result: dict[str, Any]) -> str:
    """One run's figures, as the comparison goes."""
    main = "message_post" if scenario.producers else "claim_create"
    p99 = result["operations"].get(main, {}).get("p99_ms", 0.0)
    return (
        f"round {number}/{rounds} {scenario.name:<22} {side:<9} "
        f"{result['messages_per_second']:>10,.0f} msgs/s  p99 {p99:.1f} ms  "
        f"{result['errors']} errors"
    )


def _options(args: argparse.Namespace, url: str) -> Options:
    return Options(
        url=url,
        duration=args.duration,
        queues=args.queues,
        message_size=args.message_size,
        queue_prefix=args.queue_prefix,
        project=args.project,
        prefill=args.prefill,
    )


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    chosen = [SCENARIOS[name] for name in args.scenario or TARGET_SCENARIOS]
    if args.clients is not None:
        chosen = [scenario.with_clients(args.clients) for scenario in chosen]
    return chosen


def _show(verdicts: Sequence[Verdict], args: argparse.Namespace) -> None:
    if args.json:
        print(orjson.dumps([v.as_json() for v in verdicts], option=orjson.OPT_INDENT_2).decode())
        return
    view = Table(title=f"candidate / base msgs/s over {args.rounds} rounds")
    for column in ("scenario", "base msgs/s", "candidate msgs/s", "ratio", "min", "max", "verdict"):
        view.add_column(column, justify="left" if column == "scenario" else "right")
    for verdict in verdicts:
        view.add_row(
            verdict.scenario,
            f"{statistics.median(verdict.base):,.0f}",
            f"{statistics.median(verdict.candidate):,.0f}",
            f"{verdict.median:.3f}",
            f"{min(verdict.ratios, default=float('nan')):.3f}",
            f"{max(verdict.ratios, default=float('nan')):.3f}",
            f"slower (beyond ±{verdict.tolerance:.1%})" if verdict.slower else "ok",
        )
    report.stdout_console().print(view)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        required=True,
        help="a git revision, '.' (the working tree), a URL, cmd:COMMAND with {port}, or "
        "'reference' (a server that answers without storing, on tidings' server stack)",
    )
    parser.add_argument("--candidate", default=servers.WORKTREE, help="as --base (default '.')")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument(
        "--storage", help="storage URL both servers use (default: a SQLite file each)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=0.05, help="smallest slowdown that counts (0.05)"
    )
    parser.add_argument("--gate", action="store_true", help="exit 1 when a scenario is slower")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
