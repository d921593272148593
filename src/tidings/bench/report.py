"""A run's figures: the summary (the ``--json`` document) and the table people read."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tidings.bench.recorder import Recorder
from tidings.bench.runner import Options, Outcome
from tidings.bench.scenarios import Scenario

QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}


def summary(scenario: Scenario, options: Options, outcome: Outcome) -> dict[str, Any]:
    """Rates are per second of the timed phase; ``messages_per_second`` counts messages
    posted plus messages consumed (deleted after a claim)."""
    recorder, elapsed = outcome.recorder, outcome.elapsed
    return {
        "scenario": dataclasses.asdict(scenario),
        "options": _shown(options),
        "elapsed_s": round(elapsed, 3),
        "drained": outcome.drained,
        "messages_per_second": _rate(recorder.produced + recorder.consumed, elapsed),
        "requests_per_second": _rate(recorder.requests, elapsed),
        "produced": recorder.produced,
        "consumed": recorder.consumed,
        "listed": recorder.listed,
        "requests": recorder.requests,
        "errors": recorder.errors,
        "empty_claims": recorder.empty_claims,
        "error_samples": recorder.error_samples,
        "operations": {
            name: {
                "requests": len(record.latencies) + record.errors,
                "errors": record.errors,
                "requests_per_second": _rate(len(record.latencies), elapsed),
                **latency_figures(record.latencies),
            }
            for name, record in sorted(recorder.operations.items())
        },
        "timeline": timeline(recorder, elapsed),
    }


def _shown(options: Options) -> dict[str, Any]:
    """The options as the summary shows them: how the run authenticated, never the token or
    the password (a ``--json`` document gets saved and shared)."""
    shown = {
        field.name: getattr(options, field.name)
        for field in dataclasses.fields(options)
        if field.name not in ("token", "keystone")
    }
    if options.keystone is not None:
        shown["auth"] = f"keystone: {options.keystone.username} in {options.keystone.project}"
    else:
        shown["auth"] = "token" if options.token else None
    return shown


def latency_figures(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99, mean and max in milliseconds (nearest rank); empty when no samples."""
    if not latencies:
        return {}
    ordered = sorted(latencies)
    figures = {
        name: _ms(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])
        for name, q in QUANTILES.items()
    }
    figures["mean_ms"] = _ms(sum(ordered) / len(ordered))
    figures["max_ms"] = _ms(ordered[-1])
    return figures


def timeline(recorder: Recorder, elapsed: float) -> list[dict[str, Any]]:
    """One entry per whole second of the run (a last partial second is left out)."""
    entries: list[dict[str, Any]] = []
    for index in range(max(1, int(elapsed))):
        second = recorder.seconds.get(index)
        if second is None:
            entries.append({"second": index, "messages": 0, "requests": 0, "errors": 0})
            continue
        figures = latency_figures(second.latencies)
        entries.append(
            {
                "second": index,
                "messages": second.messages,
                "requests": second.requests,
                "errors": second.errors,
                "p50_ms": figures.get("p50_ms"),
                "p99_ms": figures.get("p99_ms"),
            }
        )
    return entries


def table(result: dict[str, Any]) -> Table:
    scenario = result["scenario"]
    title = (
        f"{scenario['name']}: {result['messages_per_second']:,.0f} msgs/s, "
        f"{result['requests_per_second']:,.0f} req/s, {result['errors']} errors "
        f"in {result['elapsed_s']:.1f} s"
    )
    if result["drained"]:
        title += " (the queues ran dry: raise --prefill)"
    view = Table(title=title)
    for column in ("operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        view.add_column(column, justify="left" if column == "operation" else "right")
    for name, figures in result["operations"].items():
        view.add_row(
            name,
            f"{figures['requests']:,}",
            f"{figures['requests_per_second']:,.0f}",
            *(_cell(figures.get(key)) for key in QUANTILES),
            f"{figures['errors']:,}",
        )
    return view


def failures(result: dict[str, Any]) -> list[str]:
    """Why requests failed: the first error of each kind, as ``operation: Error: message``."""
    return [f"{kind}: {message}" for kind, message in sorted(result["error_samples"].items())]


def stdout_console() -> Console:
    """Where tables go: the terminal's width, or 120 columns into a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


def _rate(count: int, elapsed: float) -> float:
    return round(count / elapsed, 1) if elapsed > 0 else 0.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
