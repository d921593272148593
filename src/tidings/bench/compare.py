"""``tidings bench compare``: the same scenarios against a base and a candidate server,
alternating between them for several rounds, and the candidate/base ratio of messages per
second for each scenario with its spread.

The gate: a scenario is *slower* when the median of its per-round ratios is below
``1 - tolerance``, where ``tolerance`` is the larger of ``--tolerance`` (default 5 %) and half
the spread of the ratios, ``(max - min) / 2``. A difference inside the rounds' own noise
never fails the gate; more rounds give a tighter spread.

For the servers it starts, it also reports the CPU each used per request (the server's
processes only): on two cores shared with the load generator, a server that costs less CPU
a request may gain little in msgs/s, and this shows the difference that the rates hide.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from tidings.bench import report, servers
from tidings.bench.arguments import at_least, fraction
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
    base_cpu: list[float] = dataclasses.field(default_factory=list)
    """Server CPU per request of each round, in ms; empty for a server not started here."""
    candidate_cpu: list[float] = dataclasses.field(default_factory=list)
    drained: int = 0
    """Runs of either side whose queues ran dry before the end: shorter than asked."""

    @property
    def cpu_ratio(self) -> float | None:
        """The median of the rounds' candidate / base CPU per request, when both are known."""
        ratios = [
            new / old for old, new in zip(self.base_cpu, self.candidate_cpu, strict=False) if old
        ]
        return statistics.median(ratios) if ratios else None

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
            "cpu_ratio": self.cpu_ratio,
        }


@dataclass
class Measured:
    """One side's figures for one scenario, round after round."""

    rates: list[float] = dataclasses.field(default_factory=list)
    cpu: list[float] = dataclasses.field(default_factory=list)
    drained: int = 0

    def add(self, later: Measured) -> None:
        """Take in the figures of later rounds."""
        self.rates += later.rates
        self.cpu += later.cpu
        self.drained += later.drained


Measurements = dict[str, dict[str, Measured]]
"""Scenario name -> side -> its figures."""
Measure = Callable[[Sequence[Scenario]], Awaitable[Measurements]]
"""Runs the rounds of some scenarios on both sides."""


def judge(
    scenario: str,
    base: Sequence[float],
    candidate: Sequence[float],
    floor: float,
    cpu: tuple[Sequence[float], Sequence[float]] = ((), ()),
    drained: int = 0,
) -> Verdict:
    """Ratios candidate/base round by round, and the tolerance they allow (see the module);
    ``cpu``: each side's server CPU per request, round by round, where known; ``drained``:
    how many of the runs ran dry."""
    ratios = [new / old for old, new in zip(base, candidate, strict=True) if old > 0]
    spread = (max(ratios) - min(ratios)) / 2 if ratios else 0.0
    base_cpu, candidate_cpu = cpu
    return Verdict(
        scenario,
        list(base),
        list(candidate),
        ratios,
        max(floor, spread),
        list(base_cpu),
        list(candidate_cpu),
        drained,
    )


def main(args: argparse.Namespace, template: Options) -> int:
    """``template``: the options of every run but the server's URL."""
    chosen = _scenarios(args)
    with tempfile.TemporaryDirectory(prefix="tidings-compare-") as directory:
        workdir = Path(directory)
        with contextlib.ExitStack() as stack:
            started = {}
            for side, spec in zip(SIDES, (args.base, args.candidate), strict=True):
                print(f"{side}: {servers.describe(spec)}", file=sys.stderr)
                started[side] = stack.enter_context(
                    servers.serving(spec, _storage(side, args, workdir), args.workers, workdir)
                )
            measure = functools.partial(_rounds, started, args=args, template=template)
            rounds = confirmed(chosen, measure, args.tolerance) if args.gate else measure(chosen)
            measured = run_async(rounds)
    verdicts = [_judged(name, sides, args.tolerance) for name, sides in measured.items()]
    _show(verdicts, args)
    return 1 if args.gate and any(verdict.slower for verdict in verdicts) else 0


async def confirmed(chosen: Sequence[Scenario], measure: Measure, floor: float) -> Measurements:
    """The rounds of ``measure``, then as many again for each scenario they find slower,
    judged on all its rounds: a slowdown must hold in both to fail the gate. A drift of the
    machine that favoured one side for a few rounds does not fail it."""
    measured = await measure(chosen)
    doubtful = [s for s in chosen if _judged(s.name, measured[s.name], floor).slower]
    if not doubtful:
        return measured
    names = ", ".join(s.name for s in doubtful)
    print(f"slower: {names}; as many rounds again to confirm", file=sys.stderr)
    for name, sides in (await measure(doubtful)).items():
        for side, figures in sides.items():
            measured[name][side].add(figures)
    return measured


def _judged(name: str, sides: dict[str, Measured], floor: float) -> Verdict:
    base, candidate = sides["base"], sides["candidate"]
    cpu = (base.cpu, candidate.cpu)
    return judge(name, base.rates, candidate.rates, floor, cpu, base.drained + candidate.drained)


def _storage(side: str, args: argparse.Namespace, workdir: Path) -> str:
    """The side's own ``--SIDE-storage``, else the ``--storage`` both share, else a SQLite
    file of the side's own."""
    own: str | None = getattr(args, f"{side}_storage")
    return own or args.storage or f"sqlite:///{workdir / side}.db"


async def _rounds(
    started: dict[str, servers.Server],
    chosen: Sequence[Scenario],
    args: argparse.Namespace,
    template: Options,
) -> Measurements:
    """Round by round, each scenario on both sides; the order of the sides flips every
    round, so a drift during the comparison favours neither."""
    measured = {s.name: {side: Measured() for side in SIDES} for s in chosen}
    for number in range(args.rounds):
        order = SIDES if number % 2 == 0 else SIDES[::-1]
        for scenario in chosen:
            for side in order:
                server = started[side]
                options = dataclasses.replace(template, url=server.url)
                outcome = await run(scenario, options, server_cpu=server.cpu_seconds)
                result = report.summary(scenario, options, outcome)
                figures = measured[scenario.name][side]
                figures.rates.append(result["messages_per_second"])
                figures.drained += result["drained"]
                cpu = _per_request(outcome.server_cpu, result["requests"])
                if cpu is not None:
                    figures.cpu.append(cpu)
                line = _line(number + 1, args.rounds, scenario, side, result, cpu)
                print(
                    line,
                    *(f"  {failed}" for failed in report.failures(result)),
                    sep="\n",
                    file=sys.stderr,
                )
    return measured


def _per_request(server_cpu: float | None, requests: int) -> float | None:
    """Milliseconds of server CPU per timed request (None when not measured)."""
    if server_cpu is None or not requests:
        return None
    return server_cpu / requests * 1000


def _line(
    number: int,
    rounds: int,
    scenario: Scenario,
    side: str,
    result: dict[str, Any],
    cpu: float | None,
) -> str:
    """One run's figures, as the comparison goes."""
    main = "message_post" if scenario.producers else "claim_create"
    p99 = result["operations"].get(main, {}).get("p99_ms", 0.0)
    cost = "" if cpu is None else f"  server CPU {cpu:.3f} ms/request"
    dry = f"  ran dry after {result['elapsed_s']:.1f} s" if result["drained"] else ""
    return (
        f"round {number}/{rounds} {scenario.name:<22} {side:<9} "
        f"{result['messages_per_second']:>10,.0f} msgs/s  p99 {p99:.1f} ms  "
        f"{result['errors']} errors{cost}{dry}"
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
    columns = ("scenario", "base msgs/s", "candidate msgs/s", "ratio", "min", "max", "verdict")
    for column in (*columns, "CPU/request ratio"):
        view.add_column(column, justify="left" if column == "scenario" else "right")
    for verdict in verdicts:
        cpu_ratio = verdict.cpu_ratio
        view.add_row(
            verdict.scenario,
            f"{statistics.median(verdict.base):,.0f}",
            f"{statistics.median(verdict.candidate):,.0f}",
            f"{verdict.median:.3f}",
            f"{min(verdict.ratios, default=float('nan')):.3f}",
            f"{max(verdict.ratios, default=float('nan')):.3f}",
            f"slower (beyond ±{verdict.tolerance:.1%})" if verdict.slower else "ok",
            "" if cpu_ratio is None else f"{cpu_ratio:.3f}",
        )
    console = report.stdout_console()
    console.print(view)
    for verdict in verdicts:
        if verdict.drained:
            console.print(
                f"{verdict.scenario}: {verdict.drained} of {2 * len(verdict.base)} runs ran "
                "dry before the end and timed less than --duration: raise --prefill"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        required=True,
        type=servers.side,
        help="a git revision, '.' (the working tree), a URL, cmd:COMMAND with {port}, or "
        "'reference' (a server that answers without storing, on tidings' server stack)",
    )
    parser.add_argument(
        "--candidate", type=servers.side, default=servers.WORKTREE, help="as --base (default '.')"
    )
    parser.add_argument("--rounds", type=at_least(1), default=3, help="A/B rounds (default 3)")
    parser.add_argument(
        "--workers", type=at_least(1), default=2, help="server processes (default 2)"
    )
    parser.add_argument(
        "--storage", help="storage URL both servers use (default: a SQLite file each)"
    )
    for side in SIDES:
        parser.add_argument(
            f"--{side}-storage",
            help=f"storage URL of the {side} server alone, in place of --storage (say a "
            "database of its own on the same server, when the two trees' schemas differ)",
        )
    parser.add_argument(
        "--tolerance", type=fraction, default=0.05, help="smallest slowdown that counts (0.05)"
    )
    parser.add_argument("--gate", action="store_true", help="exit 1 when a scenario is slower")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
