"""``--plot FILE.png``: throughput and latency over the seconds of a run (needs matplotlib,
the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def require() -> None:
    """Fail before a run, not after it, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit(
            "tidings bench: --plot needs matplotlib: pip install 'tidings[bench]'"
        ) from None


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    seconds = [entry["second"] + 1 for entry in result["timeline"]]
    figure, (throughput, latency) = pyplot.subplots(2, 1, sharex=True, figsize=(9, 6))
    figure.suptitle(
        f"tidings bench: {result['scenario']['name']} against {result['options']['url']}"
    )
    throughput.plot(
        seconds, [e["messages"] for e in result["timeline"]], label="messages/s", marker="."
    )
    throughput.plot(
        seconds, [e["requests"] for e in result["timeline"]], label="requests/s", marker="."
    )
    throughput.set_ylabel("per second")
    throughput.legend()
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
        latency.plot(
            seconds,
            [e.get(key) or float("nan") for e in result["timeline"]],
            label=label,
            marker=".",
        )
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("second of the run")
    latency.xaxis.set_major_locator(MaxNLocator(integer=True))
    latency.legend()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
