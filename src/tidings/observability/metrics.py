"""Prometheus metrics: requests and their latency by operation and status, storage calls and
their latency by call and result, notification deliveries, and the backlog.

Label values are bounded: ``operation`` is a name from the operation table (or ``other``),
``status`` an HTTP status, ``call`` a method of the storage contract, ``result`` one of
four outcomes, ``state`` one of four message states. No label names a queue.

A request's figures are plain numbers this process keeps: recording one adds 1 to the count
of its latency's bucket and its time to a sum. They become Prometheus families only when
``/metrics`` is scraped. (The Prometheus client's own metric objects cost a request about five
times as much: three values, each under a lock, and with several processes each written to a
shared file.)

With several server processes, ``tidings serve`` names a private directory in
``TIDINGS_METRICS_DIR`` before the workers start. Each worker writes its figures there every
``SHARE_INTERVAL`` seconds when they changed, and when it stops; whichever answers
``/metrics`` adds its own figures to the others' latest, which are thus at most that old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from tidings import errors
from tidings.clock import Clock
from tidings.observability.storage import CANCELLED, unobserved
from tidings.recent import Recent
from tidings.storage.base import Storage

log = logging.getLogger(__name__)

SHARED_DIR = "TIDINGS_METRICS_DIR"
SHARE_INTERVAL = 1.0
"""Seconds between two writes of a worker's figures to the shared directory."""
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
_BUCKET_BOUNDS = [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
"""The buckets' ``le`` labels, as the Prometheus client writes them."""
STATES = ("total", "claimed", "free", "delayed")
TRACKED_QUEUES = 1000
"""The backlog follows at most this many queues per process (the most recently used)."""

Labels = tuple[str, ...]

HISTOGRAMS = ("requests", "storage_calls", "deliveries")
"""A process's figures (``Metrics``' attributes), as shared with the other processes."""


class Histograms:
    """Observations by label values, each as its count per latency bucket (the last bucket
    is +Inf) followed by the sum of the observed seconds."""

    def __init__(self) -> None:
        self.figures: dict[Labels, list[float]] = {}

    def observe(self, labels: Labels, seconds: float) -> None:
        figures = self.figures.get(labels)
        if figures is None:
            figures = self.figures[labels] = [0.0] * (len(_BUCKET_BOUNDS) + 1)
        figures[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        figures[-1] += seconds

    def add(self, figures_by_labels: Iterable[tuple[Labels, Sequence[float]]]) -> None:
        for labels, figures in figures_by_labels:
            mine = self.figures.setdefault(labels, [0.0] * (len(_BUCKET_BOUNDS) + 1))
            for index, figure in enumerate(figures):
                mine[index] += figure

    def counts(self) -> Iterator[tuple[Labels, float]]:
        for labels, figures in self.figures.items():
            yield labels, sum(figures[:-1])

    def family(self, name: str, documentation: str, label_names: Sequence[str]) -> Metric:
        family = HistogramMetricFamily(name, documentation, labels=label_names)
        for labels, figures in self.figures.items():
            cumulative = 0.0
            buckets = []
            for bound, count in zip(_BUCKET_BOUNDS, figures, strict=False):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(list(labels), buckets, sum_value=figures[-1])
        return family


@dataclass(frozen=True, slots=True)
class BacklogReading:
    messages: Mapping[str, int]
    """Live messages by state."""
    oldest_age: float
    queues: int
    read_at: float
    """Wall-clock seconds, comparable between processes."""


class Metrics:
    """One server process's figures."""

    def __init__(self) -> None:
        self.requests = Histograms()
        """By (operation, status)."""
        self.storage_calls = Histograms()
        """By (call, result, pool)."""
        self.deliveries = Histograms()
        """By (kind, result)."""
        self.backlog: Backlog | None = None
        self._file_name = f"{os.getpid()}-{secrets.token_hex(4)}.json"

    def observe(self, operation: str, status: int, seconds: float) -> None:
        self.requests.observe((operation, str(status)), seconds)

    def observe_storage_call(self, call: str, result: str, seconds: float, pool: str) -> None:
        if result != CANCELLED:  # a long poll whose caller left: no figure of the store's
            self.storage_calls.observe((call, result, pool), seconds)

    def observe_delivery(self, kind: str, result: str, seconds: float) -> None:
        self.deliveries.observe((kind, result), seconds)

    async def exposition(self) -> tuple[bytes, str]:
        """The text exposition (refreshing the backlog first) and its content type."""
        if self.backlog is not None:
            await self.backlog.refresh()
        merged = Figures.of(self)
        shared = os.environ.get(SHARED_DIR)
        if shared is not None:  # files read in a thread: the loop goes on serving meanwhile
            others = await asyncio.to_thread(_shared_figures, Path(shared), self._file_name)
            merged = merged.merged(others)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(merged)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    async def share(self) -> None:
        """Write this process's figures to the shared directory, every ``SHARE_INTERVAL``
        seconds, until cancelled; then once more, without the backlog (whose reading is
        nobody's once this process is gone)."""
        directory = Path(os.environ[SHARED_DIR])
        written = b""
        try:
            while True:
                await asyncio.sleep(SHARE_INTERVAL)
                written = self._write(directory, Figures.of(self), written)
        finally:
            self._write(directory, Figures.of(self, with_backlog=False), written)

    def _write(self, directory: Path, figures: Figures, written: bytes) -> bytes:
        """Write ``figures`` unless they are what was ``written`` last (an idle process
        writes nothing); return what the file now holds."""
        document = orjson.dumps(figures.as_json())
        if document != written:
            path = directory / self._file_name
            draft = path.with_suffix(".draft")
            draft.write_bytes(document)
            draft.replace(path)  # atomic: a reader sees the old figures or the new
        return document


class Figures:
    """The figures of one or more processes, as an exposition's collector."""

    def __init__(
        self, histograms: Mapping[str, Histograms], backlog: BacklogReading | None
    ) -> None:
        self.histograms = histograms
        """By name, one of ``HISTOGRAMS``."""
        self.backlog = backlog

    @classmethod
    def of(cls, metrics: Metrics, *, with_backlog: bool = True) -> Figures:
        reading = metrics.backlog.reading if metrics.backlog and with_backlog else None
        return cls({name: getattr(metrics, name) for name in HISTOGRAMS}, reading)

    def merged(self, others: Iterable[Figures]) -> Figures:
        """The sum of the counts; the latest backlog reading."""
        histograms, backlog = {name: Histograms() for name in HISTOGRAMS}, self.backlog
        for figures in [self, *others]:
            for name, histogram in histograms.items():
                histogram.add(figures.histograms[name].figures.items())
            if figures.backlog and (backlog is None or figures.backlog.read_at > backlog.read_at):
                backlog = figures.backlog
        return Figures(histograms, backlog)

    def as_json(self) -> dict[str, Any]:
        document = {name: list(self.histograms[name].figures.items()) for name in HISTOGRAMS}
        return {**document, "backlog": None if self.backlog is None else asdict(self.backlog)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Figures:
        histograms = {name: Histograms() for name in HISTOGRAMS}
        for name, histogram in histograms.items():
            histogram.add((tuple(labels), figures) for labels, figures in document[name])
        backlog = document["backlog"]
        return cls(histograms, None if backlog is None else BacklogReading(**backlog))

    def collect(self) -> Iterator[Metric]:
        requests = self.histograms["requests"]
        yield _counter(
            "tidings_requests",
            "HTTP requests by operation and status",
            requests.counts(),
            ["operation", "status"],
        )
        yield requests.family(
            "tidings_request_duration_seconds",
            "Time from request to the end of the response, by operation and status",
            ["operation", "status"],
        )
        yield self.histograms["storage_calls"].family(
            "tidings_storage_call_duration_seconds",
            "Time a call of the storage driver took, by call, result (ok; refused: the store"
            " answered no, as to a message that is not there; unavailable: it could not be"
            " reached or would not work; error: any other failure) and pool (empty: the"
            " default storage)",
            ["call", "result", "pool"],
        )
        yield from self._delivery_families()
        if self.backlog is not None:
            yield from _backlog_families(self.backlog)

    def _delivery_families(self) -> Iterator[Metric]:
        deliveries = self.histograms["deliveries"]
        yield _counter(
            "tidings_notification_deliveries",
            "Notification delivery attempts by subscriber kind and result",
            deliveries.counts(),
            ["kind", "result"],
        )
        by_kind = Histograms()
        by_kind.add(((labels[0],), figures) for labels, figures in deliveries.figures.items())
        yield by_kind.family(
            "tidings_notification_delivery_duration_seconds",
            "Time one delivery attempt took, by subscriber kind",
            ["kind"],
        )


def _counter(
    name: str, documentation: str, counts: Iterable[tuple[Labels, float]], label_names: list[str]
) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=label_names)
    for labels, count in counts:
        family.add_metric(list(labels), count)
    return family


def _backlog_families(reading: BacklogReading) -> Iterator[Metric]:
    messages = GaugeMetricFamily(
        "tidings_backlog_messages",
        "Live messages in the recently used queues, by state",
        labels=["state"],
    )
    for state, count in reading.messages.items():
        messages.add_metric([state], count)
    yield messages
    yield GaugeMetricFamily(
        "tidings_backlog_oldest_message_age_seconds",
        "Age of the oldest live message in the recently used queues",
        value=reading.oldest_age,
    )
    yield GaugeMetricFamily(
        "tidings_backlog_queues",
        "Non-empty queues the backlog figures cover",
        value=reading.queues,
    )


def _shared_figures(directory: Path, own_file: str) -> list[Figures]:
    """The latest figures the other processes wrote."""
    found = []
    for path in directory.glob("*.json"):
        if path.name == own_file:
            continue
        with contextlib.suppress(FileNotFoundError):
            found.append(Figures.from_json(orjson.loads(path.read_bytes())))
    return found


class Backlog:
    """Live messages summed over the queues this process served recently.

    The storage contract has no cross-project totals, so the backlog is read with
    ``queue_stats`` on up to ``TRACKED_QUEUES`` queues seen in requests, at most once per
    ``interval`` seconds (on a scrape); queues found empty are forgotten until seen again.
    """

    def __init__(self, storage: Storage, clock: Clock, interval: float) -> None:
        self.storage = storage
        self.clock = clock
        self.interval = interval
        self.reading: BacklogReading | None = None
        self._queues = Recent[tuple[str, str], None](TRACKED_QUEUES)
        self._refreshed = float("-inf")

    def saw(self, project: str, queue: str) -> None:
        self._queues.keep((project, queue), None)

    async def refresh(self) -> None:
        """Read the backlog again, unless it was read less than ``interval`` ago. A store that
        cannot be read leaves no reading, so the scrape shows the other figures without the
        backlog's rather than failing."""
        now = self.clock()
        if now - self._refreshed < self.interval:
            return
        self._refreshed = now
        try:
            with unobserved():
                self.reading = await self._read(now)
        except errors.StorageUnavailable as exc:
            log.warning("the backlog could not be read: %s", exc)
            self.reading = None

    async def _read(self, now: float) -> BacklogReading:
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
        return BacklogReading(totals, now - oldest, len(self._queues), time.time())


@contextlib.contextmanager
def shared_across_processes() -> Iterator[None]:
    """Let the worker processes started inside this block share their metrics."""
    if SHARED_DIR in os.environ:  # the operator chose a directory
        yield
        return
    directory = tempfile.mkdtemp(prefix="tidings-metrics-")
    os.environ[SHARED_DIR] = directory
    try:
        yield
    finally:
        del os.environ[SHARED_DIR]
        shutil.rmtree(directory, ignore_errors=True)
