"""One timed run of a scenario against a server: set up queues, prefill them for consumers,
run the role workers until the deadline, clean up."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tidings.bench.recorder import Recorder
from tidings.bench.scenarios import Scenario
from tidings.client import Client, KeepAliveTransport, Transport
from tidings.client.keystone import Credentials, KeystoneTransport
from tidings.errors import TidingsError

T = TypeVar("T")
FAILURES = (TidingsError, ConnectionError, TimeoutError, PermissionError)
"""What a request may raise and a run counts as an error: PermissionError is Keystone's
refusal of a token."""
PREFILL_PER_SECOND = 40_000
"""Default prefill for consumer scenarios: messages per second of the run's duration, above
the fastest consumer rate seen on a 2-core machine (28,500 msgs/s), so that a run lasts its
duration instead of timing the first second after a prefill."""
PREFILL_BATCH = 50
CLAIM_TTL, CLAIM_GRACE = 300, 200  # as zaqar-bench
IDLE_WAIT = 0.01
"""How long a consumer waits after an empty claim while producers are still posting."""


@dataclass(frozen=True)
class Options:
    url: str
    duration: float = 10.0
    queues: int = 4
    message_size: int = 100
    """Bytes of each message body's text."""
    queue_prefix: str = "tidings-bench"
    project: str = "tidings-bench"
    prefill: int | None = None
    """Messages posted before the clock starts; None: PREFILL_PER_SECOND x duration when
    consumers run without producers, else none."""
    keep_queues: bool = False
    timeout: float = 30.0
    token: str | None = dataclasses.field(default=None, repr=False)
    """A token to send as ``X-Auth-Token``, for a server that validates them."""
    keystone: Credentials | None = None
    """Credentials to ask Keystone for that token with, and again before it expires."""


class Progress(Protocol):
    def start(self, label: str, seconds: float) -> None: ...
    def update(self, elapsed: float, recorder: Recorder) -> None: ...
    def stop(self) -> None: ...


CpuSeconds = Callable[[], float | None]
"""The CPU seconds a server has used so far, if known."""


@dataclass
class Outcome:
    """What a run produced: the records, how long it took, and whether the queues ran dry."""

    recorder: Recorder
    elapsed: float
    drained: bool
    server_cpu: float | None = None
    """CPU seconds the server used during the timed phase, when it could be read."""


class Failed:
    """What a timed call returns when its request failed (and was recorded as an error)."""


class Run:
    def __init__(self, scenario: Scenario, options: Options, client: Client) -> None:
        self.scenario = scenario
        self.options = options
        self.client = client
        self.recorder = Recorder()
        self.queues = [
            f"{options.queue_prefix}-{uuid.uuid4().hex[:8]}-{index}"
            for index in range(options.queues)
        ]
        self.live = list(self.queues)
        """Queues that may still hold messages for consumers."""
        self.body = {"text": "x" * options.message_size}
        self.deadline = 0.0

    @property
    def drained(self) -> bool:
        return not self.live

    def running(self) -> bool:
        return time.perf_counter() < self.deadline and not self.drained

    def queue(self, turn: int) -> str:
        """Workers take the live queues in turn, each starting at its own index."""
        return self.live[turn % len(self.live)]

    def emptied(self, queue: str) -> None:
        """No producer runs and ``queue`` had nothing to claim: it stays empty."""
        if queue in self.live:
            self.live.remove(queue)

    async def timed(self, operation: str, call: Awaitable[T]) -> T | Failed:
        began = time.perf_counter()
        try:
            result = await call
        except FAILURES as exc:
            self.recorder.failure(operation, time.perf_counter(), exc)
            return Failed()
        self.recorder.success(operation, began, time.perf_counter())
        return result


async def run(
    scenario: Scenario,
    options: Options,
    progress: Progress | None = None,
    server_cpu: CpuSeconds = lambda: None,
) -> Outcome:
    transport: Transport = KeepAliveTransport(
        options.url, timeout=options.timeout, max_connections=max(scenario.clients, 16)
    )
    if options.keystone is not None:
        transport = KeystoneTransport(transport, options.keystone, options.timeout)
    headers = {"X-Auth-Token": options.token} if options.token else None
    async with Client(options.url, options.project, headers=headers, transport=transport) as client:
        state = Run(scenario, options, client)
        await _prepare(state)
        try:
            cpu_before = server_cpu()
            elapsed = await _timed_phase(state, progress)
            cpu_after = server_cpu()
        finally:
            if not options.keep_queues:
                await asyncio.gather(*(client.queue_delete(queue) for queue in state.queues))
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Outcome(state.recorder, elapsed, state.drained, used)


async def _prepare(state: Run) -> None:
    for queue in state.queues:
        await state.client.queue_create(queue)
    await _prefill(state, _prefill_count(state.scenario, state.options))


def _prefill_count(scenario: Scenario, options: Options) -> int:
    if options.prefill is not None:
        return options.prefill
    if scenario.consumers and not scenario.producers:
        return int(PREFILL_PER_SECOND * options.duration)
    return 0


async def _prefill(state: Run, count: int) -> None:
    batches = [
        (state.queue(index), min(PREFILL_BATCH, count - start))
        for index, start in enumerate(range(0, count, PREFILL_BATCH))
    ]
    slots = asyncio.Semaphore(16)

    async def post(queue: str, size: int) -> None:
        async with slots:
            await state.client.message_post(queue, [{"body": state.body}] * size)

    await asyncio.gather(*(post(queue, size) for queue, size in batches))


async def _timed_phase(state: Run, progress: Progress | None) -> float:
    scenario = state.scenario
    workers: Sequence[Callable[[Run, int], Awaitable[None]]] = (
        [producer] * scenario.producers
        + [consumer] * scenario.consumers
        + [observer] * scenario.observers
    )
    state.recorder = Recorder()  # the clock starts now, after the set-up
    state.deadline = state.recorder.started + state.options.duration
    ticker = asyncio.create_task(_tick(state, progress)) if progress else None
    try:
        await asyncio.gather(*(work(state, index) for index, work in enumerate(workers)))
    finally:
        if ticker is not None:
            ticker.cancel()
    return time.perf_counter() - state.recorder.started


async def _tick(state: Run, progress: Progress) -> None:
    progress.start(state.scenario.name, state.options.duration)
    try:
        while True:
            progress.update(time.perf_counter() - state.recorder.started, state.recorder)
            await asyncio.sleep(0.25)
    finally:
        progress.stop()


async def producer(state: Run, worker: int) -> None:
    batch = [{"body": state.body}] * state.scenario.batch_size
    turn = worker
    while state.running():
        queue, turn = state.queue(turn), turn + 1
        posted = await state.timed("message_post", state.client.message_post(queue, batch))
        if not isinstance(posted, Failed):
            state.recorder.moved(time.perf_counter(), produced=len(posted))


async def consumer(state: Run, worker: int) -> None:
    scenario = state.scenario
    turn = worker
    while state.running():
        queue, turn = state.queue(turn), turn + 1
        claim = await state.timed(
            "claim_create",
            state.client.claim_create(queue, scenario.messages_per_claim, CLAIM_TTL, CLAIM_GRACE),
        )
        if isinstance(claim, Failed):
            continue
        if claim is None:
            state.recorder.empty_claims += 1
            if scenario.producers:
                await asyncio.sleep(IDLE_WAIT)
            else:
                state.emptied(queue)  # the run ends when every queue is empty
            continue
        await _delete(state, queue, claim.id, [message.id for message in claim.messages])


async def _delete(state: Run, queue: str, claim_id: str, ids: list[str]) -> None:
    if state.scenario.consumer_mode == "bulk":
        await _delete_together(state, queue, ids)
        return
    for message_id in ids:
        deleted = await state.timed(
            "message_delete", state.client.message_delete(queue, message_id, claim_id)
        )
        if not isinstance(deleted, Failed):
            state.recorder.moved(time.perf_counter(), consumed=1)


async def _delete_together(state: Run, queue: str, ids: list[str]) -> None:
    deleted = await state.timed("message_delete_many", state.client.message_delete_many(queue, ids))
    if not isinstance(deleted, Failed):
        state.recorder.moved(time.perf_counter(), consumed=len(ids))


async def observer(state: Run, worker: int) -> None:
    markers: dict[str, str | None] = {}
    turn = worker
    while state.running():
        queue, turn = state.queue(turn), turn + 1
        listing = state.client.message_list(
            queue, markers.get(queue), state.scenario.messages_per_list, echo=True
        )
        page = await state.timed("message_list", listing)
        if isinstance(page, Failed):
            continue
        state.recorder.listed += len(page.messages)
        markers[queue] = page.marker  # back to the start after the last page


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it is installed: the load generator then costs less CPU."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coroutine)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvloop is not on every platform
        return None
    return uvloop.new_event_loop
