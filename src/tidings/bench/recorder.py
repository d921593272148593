"""Every request's outcome and latency, by operation and by second of the run."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class OperationRecord:
    latencies: list[float] = field(default_factory=list)
    """Seconds, of the successful requests."""
    errors: int = 0


@dataclass
class Second:
    """What happened in one second of the run."""

    requests: int = 0
    messages: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass
class Recorder:
    started: float = field(default_factory=time.perf_counter)
    operations: dict[str, OperationRecord] = field(
        default_factory=lambda: defaultdict(OperationRecord)
    )
    seconds: dict[int, Second] = field(default_factory=lambda: defaultdict(Second))
    produced: int = 0
    consumed: int = 0
    listed: int = 0
    empty_claims: int = 0
    error_samples: dict[str, str] = field(default_factory=dict)
    """The first error message of each kind, to show why requests failed."""

    def success(self, operation: str, began: float, ended: float) -> None:
        latency = ended - began
        self.operations[operation].latencies.append(latency)
        second = self.seconds[int(ended - self.started)]
        second.requests += 1
        second.latencies.append(latency)

    def failure(self, operation: str, ended: float, error: BaseException) -> None:
        self.operations[operation].errors += 1
        self.seconds[int(ended - self.started)].errors += 1
        kind = f"{operation}: {type(error).__name__}"
        self.error_samples.setdefault(kind, str(error)[:200])

    def moved(self, ended: float, produced: int = 0, consumed: int = 0) -> None:
        """Messages posted or consumed (deleted after a claim) by a successful request."""
        self.produced += produced
        self.consumed += consumed
        self.seconds[int(ended - self.started)].messages += produced + consumed

    @property
    def requests(self) -> int:
        return sum(len(record.latencies) + record.errors for record in self.operations.values())

    @property
    def errors(self) -> int:
        return sum(record.errors for record in self.operations.values())
