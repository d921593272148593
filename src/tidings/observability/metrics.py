"""Prometheus metrics: requests and their latency by operation and status, and the backlog.

Label values are bounded: ``operation`` is a name from the operation table (or ``other``),
``status`` an HTTP status, ``state`` one of four message states. No label names a queue.

With several server processes, ``tidings serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
private directory before the workers start; each worker then writes its samples there and
any of them answers ``/metrics`` with the sum of all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from tidings.clock import Clock
from tidings.recent import Recent
from tidings.storage.base import Storage

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
STATES = ("total", "claimed", "free", "delayed")
GAUGE_MODE: Final = "livemostrecent"
"""With several processes, the gauges of the latest refresh win."""
TRACKED_QUEUES = 1000
"""The backlog follows at most this many queues per process (the most recently used)."""


class Metrics:
    """One server's metrics, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "tidings_requests",
            "HTTP requests by operation and status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tidings_request_duration_seconds",
            "Time from request to the end of the response, by operation and status",
            ["operation", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "tidings_notification_deliveries",
            "Notification delivery attempts by subscriber kind and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "tidings_notification_delivery_duration_seconds",
            "Time one delivery attempt took, by subscriber kind",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self.backlog: Backlog | None = None

    def observe_delivery(self, kind: str, result: str, seconds: float) -> None:
        self.deliveries.labels(kind, result).inc()
        self.delivery_latency.labels(kind).observe(seconds)

    def observe(self, operation: str, status: int, seconds: float) -> None:
        children = self._children.get((operation, status))
        if children is None:
            code = str(status)
            children = self.requests.labels(operation, code), self.latency.labels(operation, code)
            self._children[operation, status] = children
        children[0].inc()
        children[1].observe(seconds)

    async def exposition(self) -> tuple[bytes, str]:
        """The text exposition (refreshing the backlog first) and its content type."""
        if self.backlog is not None:
            await self.backlog.refresh()
        if MULTIPROCESS_DIR in os.environ:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class Backlog:
    """Live messages summed over the queues this process served recently.

    The storage contract has no cross-project totals, so the backlog is read with
    ``queue_stats`` on up to ``TRACKED_QUEUES`` queues seen in requests, at most once per
    ``interval`` seconds (on a scrape); queues found empty are forgotten until seen again.
    """

    def __init__(self, metrics: Metrics, storage: Storage, clock: Clock, interval: float) -> None:
        self.storage = storage
        self.clock = clock
        self.interval = interval
        self._queues = Recent[tuple[str, str], None](TRACKED_QUEUES)
        self._refreshed = float("-inf")
        self.messages = Gauge(
            "tidings_backlog_messages",
            "Live messages in the recently used queues, by state",
            ["state"],
            registry=metrics.registry,
            multiprocess_mode=GAUGE_MODE,
        )
        self.oldest_age = Gauge(
            "tidings_backlog_oldest_message_age_seconds",
            "Age of the oldest live message in the recently used queues",
            registry=metrics.registry,
            multiprocess_mode=GAUGE_MODE,
        )
        self.queues = Gauge(
            "tidings_backlog_queues",
            "Non-empty queues the backlog figures cover",
            registry=metrics.registry,
            multiprocess_mode=GAUGE_MODE,
        )

    def saw(self, project: str, queue: str) -> None:
        self._queues.keep((project, queue), None)

    async def refresh(self) -> None:
        now = self.clock()
        if now - self._refreshed < self.interval:
            return
        self._refreshed = now
        totals = dict.fromkeys(STATES, 0)
        oldest = now
        for project, queue in self._queues:
            stats = await self.storage.queue_stats(project, queue, now)
            if stats.total == 0:
                self._queues.forget((project, queue))
                continue
            for state in STATES:
                totals[state] += getattr(stats, state)
            if stats.oldest is not None:
                oldest = min(oldest, stats.oldest.created)
        for state, count in totals.items():
            self.messages.labels(state).set(count)
        self.oldest_age.set(now - oldest)
        self.queues.set(len(self._queues))


@contextlib.contextmanager
def shared_across_processes() -> Iterator[None]:
    """Let the worker processes started inside this block share their metrics."""
    if MULTIPROCESS_DIR in os.environ:  # the operator chose a directory
        yield
        return
    directory = tempfile.mkdtemp(prefix="tidings-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


def forget_process() -> None:
    """Drop this (stopping) process's backlog gauges from the shared figures."""
    if MULTIPROCESS_DIR in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
