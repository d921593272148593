"""Tidings for threaded callers: one private event loop thread runs ``tidings.client`` for every
thread of a process, so blocking code (an oslo.messaging driver) gets the async client's lean
keep-alive connections and many concurrent long polls without a thread per poll.

- **Posting** goes through one sender per queue: messages posted while the queue's previous
  request is in flight leave together in the next one (a batch is stored all or nothing), so
  50 threads posting to one queue make a few requests, not 50.
- **Consuming** (``Inbox``) claims from a set of queues with long-polled claims (``POST
  .../claims?wait=N``); stopping cancels the claim in flight, and tidings stops a long poll
  whose client disconnects, so that claim takes nothing. Each claimed message is settled by its
  taker (``ack`` or ``requeue``); once all messages of a claim are settled, the acknowledged
  ones are deleted in one request and, if any was requeued, the claim is released, which makes
  exactly the requeued ones claimable again, and claimed again at once.
- **Replies** (``ReplyBox``): the single reader of its own queue lists it from a marker with a
  long poll, routes each message to the thread waiting for its correlation id, and deletes
  what it read in full batches (the rest expires with its TTL).
- **Leases**: queues owned by one process (reply and fanout queues) carry an expiry stamp in
  their metadata, and ``queue:`` subscriptions a TTL; both are renewed while held. Every bus
  sweeps now and then the queues under the owned-queue prefix whose stamp has passed, so those
  of crashed processes do not pile up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from tidings import errors
from tidings.client import Claim, Client, ConnectFailed
from tidings.models import JSON

LOG = logging.getLogger(__name__)
T = TypeVar("T")

OWNED_PREFIX = "oslo-tmp."
"""Names of owned queues (deleted by any bus once expired) start with it."""
EXPIRES_KEY = "oslo_expires"
"""Queue metadata: the Unix time after which a sweeper may delete an owned queue."""
BATCH_COUNT = 20
"""Messages per post, claim, listing and bulk delete (the API's default page limits)."""
BATCH_BYTES = 200_000
"""Body bytes per post, under the API's 262,144-byte request limit."""
POSTS_IN_FLIGHT = 4
"""Concurrent posts to one queue; what arrives while all are in flight waits for the next."""
RETRYABLE = (ConnectFailed, errors.StorageUnavailable)
"""Failures after which a post provably stored nothing, so posting again cannot duplicate."""
RETRY_PAUSE = (0.25, 5.0)
"""First and longest pause between attempts."""
ERROR_PAUSE = 1.0
"""Pause of a poller after a failed request."""


@dataclass(frozen=True)
class BusOptions:
    wait: int = 20
    """Seconds a long poll waits for a message (the server's limit is 20)."""
    lease: int = 300
    """Seconds an owned queue or a subscription outlives its last renewal."""
    sweep_interval: float = 600.0
    """Mean seconds between sweeps of expired owned queues; 0 disables sweeping."""


@dataclass(frozen=True)
class ClaimTerms:
    ttl: int
    grace: int
    prefetch: int = BATCH_COUNT
    """Claimed messages an inbox holds at most before its takers catch up."""


class Bus:
    """All the tidings traffic of one driver instance."""

    def __init__(self, make_client: Callable[[], Client], options: BusOptions) -> None:
        self.options = options
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.name = "tidings-bus"
        self._thread.start()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.client = self.call(_made(make_client))
        self._senders: dict[str, _Sender] = {}
        self.leases = Leases(self)
        self._replies: ReplyBox | None = None
        self._replies_lock = threading.Lock()
        self.spawn(self.leases.run())

    # From any thread

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on the bus's loop and wait for its result."""
        if self._loop.is_closed():
            work.close()
            raise ConnectionError("the tidings bus is closed")
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def soon(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback(*args)`` on the loop, without waiting; nothing once closed."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def post(
        self,
        queue_name: str,
        body: str | bytes,
        ttl: int,
        *,
        retry: int | None = None,
        deadline: float | None = None,
    ) -> None:
        """Post one message whose body is serialized JSON; try again after failures that
        stored nothing, ``retry`` times (None or negative: until ``deadline``, a monotonic
        time). Raise the last failure, or ``TimeoutError`` at the deadline."""
        attempt = 0
        while True:
            try:
                return self.call(self._post(queue_name, body, ttl), _left(deadline))
            except RETRYABLE:
                attempt += 1
                if retry is not None and 0 <= retry < attempt:
                    raise
                pause = min(RETRY_PAUSE[1], RETRY_PAUSE[0] * 2 ** (attempt - 1))
                if deadline is not None and time.monotonic() + pause > deadline:
                    raise TimeoutError(f"no post to {queue_name} before the deadline") from None
                LOG.warning("posting to %s failed, attempt %d; trying again", queue_name, attempt)
                time.sleep(pause)

    def replies(self) -> ReplyBox:
        """This bus's reply queue, made (and its reader started) on first use; if tidings
        cannot be reached yet, the first lease renewal makes it."""
        with self._replies_lock:
            if self._replies is None:
                box = ReplyBox(self, self.leases.new_owned_name("reply"))
                with contextlib.suppress(Exception):
                    self.call(_logged(self.leases.hold_queue(box.name)))
                self.spawn(box.run())
                self._replies = box
            return self._replies

    def consume(self, queues: Sequence[str], terms: ClaimTerms) -> Inbox:
        inbox = Inbox(self, queues, terms)
        self.call(inbox.start())
        return inbox

    def close(self, timeout: float = 10.0) -> None:
        """Drop the owned queues and subscriptions, stop every task, end the loop thread."""
        if not self._loop.is_running():
            return
        with contextlib.suppress(Exception):
            self.call(self._shutdown(), timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._loop.close()

    # On the loop

    def spawn(self, work: Awaitable[object]) -> None:
        """Run ``work`` in the background, from any thread; its failure is logged."""
        if threading.current_thread() is self._thread:
            self.task(work)
        else:
            self.soon(self.task, work)

    def task(self, work: Awaitable[T]) -> asyncio.Future[T]:
        """On the loop: run ``work`` as a task that shutdown cancels."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOG.error("tidings bus task failed", exc_info=task.exception())

    async def _post(self, queue_name: str, body: str | bytes, ttl: int) -> None:
        sender = self._senders.get(queue_name)
        if sender is None:
            sender = self._senders[queue_name] = _Sender(self, queue_name)
        await sender.submit(body, ttl)

    async def _shutdown(self) -> None:
        await self.leases.release_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()


def _new_loop() -> asyncio.AbstractEventLoop:
    """On uvloop where it is installed: the bus then costs its threads less CPU."""
    try:
        import uvloop
    except ImportError:  # uvloop is not on every platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _made(make_client: Callable[[], Client]) -> Client:
    return make_client()


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


@dataclass
class _Pending:
    body: str | bytes
    ttl: int
    done: asyncio.Future[None]


class _Sender:
    """Posts to one queue: at once while fewer than ``POSTS_IN_FLIGHT`` requests are in
    flight, else in the next batch."""

    def __init__(self, bus: Bus, queue_name: str) -> None:
        self._bus = bus
        self._queue = queue_name
        self._pending: list[_Pending] = []
        self._in_flight = 0

    def submit(self, body: str | bytes, ttl: int) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(body, ttl, done))
        if self._in_flight < POSTS_IN_FLIGHT:
            self._in_flight += 1
            self._bus.task(self._drain())
        return done

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._send(self._next_batch())
        finally:
            self._in_flight -= 1

    def _next_batch(self) -> list[_Pending]:
        size = count = 0
        for item in self._pending:
            size += len(item.body)
            if count and (count == BATCH_COUNT or size > BATCH_BYTES):
                break
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _send(self, batch: list[_Pending]) -> None:
        messages = [{"body": orjson.Fragment(item.body), "ttl": item.ttl} for item in batch]
        try:
            await self._bus.client.message_post(self._queue, messages)
        except Exception as exc:
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)


# Consuming


class Delivery:
    """One claimed message, settled by whoever took it (from any thread); the first
    settlement counts."""

    def __init__(self, bus: Bus, tally: _Tally, message_id: str, body: JSON) -> None:
        self.body = body
        self.message_id = message_id
        self._bus = bus
        self._tally = tally
        self._settled = False

    def settle(self, requeue: bool = False) -> None:
        self._bus.soon(self._settle, requeue)

    def settle_later(self, seconds: float) -> None:
        """Acknowledge in ``seconds``, unless settled before."""
        self._bus.soon(self._settle_later, seconds)

    def _settle(self, requeue: bool) -> None:
        if not self._settled:
            self._settled = True
            self._tally.settle(self.message_id, requeue)

    def _settle_later(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds, self._settle, False)


class _Tally:
    """The messages of one claim still to be settled."""

    def __init__(
        self,
        bus: Bus,
        queue_name: str,
        claim: Claim,
        reclaim: Callable[[], Awaitable[None]],
    ) -> None:
        self._bus = bus
        self._queue = queue_name
        self._claim_id = claim.id
        self._left = len(claim.messages)
        self._acked: list[str] = []
        self._requeued = False
        self._reclaim = reclaim

    def settle(self, message_id: str, requeue: bool) -> None:
        if requeue:
            self._requeued = True
        else:
            self._acked.append(message_id)
        self._left -= 1
        if self._left == 0:
            self._bus.spawn(self._finish())

    async def _finish(self) -> None:
        client = self._bus.client
        if self._acked:
            await client.message_delete_many(self._queue, self._acked, [self._claim_id])
        if self._requeued:
            await client.claim_delete(self._queue, self._claim_id)
            await self._reclaim()


_STOP = object()


class Inbox:
    """Messages claimed from some queues, waiting for a thread to take them."""

    def __init__(self, bus: Bus, queues: Sequence[str], terms: ClaimTerms) -> None:
        self._bus = bus
        self._items: queue.SimpleQueue[Delivery | object] = queue.SimpleQueue()
        self._pollers = [_Poller(bus, name, terms, self._items) for name in queues]
        self._stopped = False

    async def start(self) -> None:
        for poller in self._pollers:
            poller.start()

    def take(self, timeout: float | None) -> Delivery | None:
        """The next message; None after ``timeout`` seconds, or at once once stopped and
        drained."""
        try:
            item = self._items.get_nowait() if self._stopped else self._items.get(timeout=timeout)
        except queue.Empty:
            return None
        return item if isinstance(item, Delivery) else None

    def stop(self) -> None:
        """Claim no more (the claims in flight are cancelled); wake a blocked ``take``."""
        with contextlib.suppress(ConnectionError):
            self._bus.call(self._stop_pollers())
        self._stopped = True
        self._items.put(_STOP)

    def close(self) -> None:
        """Requeue what no thread took."""
        while (item := self.take(0)) is not None:
            item.settle(requeue=True)

    async def _stop_pollers(self) -> None:
        await asyncio.gather(*(poller.stop() for poller in self._pollers))


class _Poller:
    """Claims from one queue into an inbox: long-polled claims one after the other, and a
    claim that does not wait after each release of requeued messages."""

    def __init__(
        self,
        bus: Bus,
        queue_name: str,
        terms: ClaimTerms,
        items: queue.SimpleQueue[Delivery | object],
    ) -> None:
        self._bus = bus
        self._queue = queue_name
        self._terms = terms
        self._items = items
        self._stopping = False
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._task = self._bus.task(self._run())

    async def stop(self) -> None:
        """Cancel the claim in flight: tidings stops a long poll whose client disconnects,
        so it takes nothing (unless it was being answered at that very moment)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._claim(self._bus.options.wait)
            except Exception as exc:
                LOG.warning("consuming %s failed: %r", self._queue, exc)
                await asyncio.sleep(ERROR_PAUSE)

    async def _reclaim(self) -> None:
        if not self._stopping:
            await self._claim(wait=0)

    async def _claim(self, wait: int) -> None:
        """Claim what there is room for, waiting up to ``wait`` seconds for a post."""
        room = self._terms.prefetch - self._items.qsize()
        if room <= 0:
            await asyncio.sleep(0.01)
            return
        terms = self._terms
        claim = await self._bus.client.claim_create(
            self._queue, min(room, BATCH_COUNT), terms.ttl, terms.grace, wait=wait
        )
        if claim is None:
            return
        tally = _Tally(self._bus, self._queue, claim, self._reclaim)
        for message in claim.messages:
            self._items.put(Delivery(self._bus, tally, message.id, message.body))


# Replies


class ReplyBox:
    """A queue only this bus reads: each message goes to the thread waiting for its
    correlation id (``msg_id`` in the body); others are dropped."""

    def __init__(self, bus: Bus, name: str) -> None:
        self.name = name
        self._bus = bus
        self._waiters: dict[str, queue.SimpleQueue[Mapping[str, JSON]]] = {}
        self._read: list[str] = []

    def expect(self, correlation_id: str) -> queue.SimpleQueue[Mapping[str, JSON]]:
        waiter: queue.SimpleQueue[Mapping[str, JSON]] = queue.SimpleQueue()
        self._waiters[correlation_id] = waiter
        return waiter

    def forget(self, correlation_id: str) -> None:
        self._waiters.pop(correlation_id, None)

    async def run(self) -> None:
        client = self._bus.client
        marker: str | None = None
        while True:
            try:
                page = await client.message_list(
                    self.name, marker, BATCH_COUNT, echo=True, wait=self._bus.options.wait
                )
            except Exception as exc:
                LOG.warning("reading replies from %s failed: %r", self.name, exc)
                await asyncio.sleep(ERROR_PAUSE)
                continue
            if page.messages:
                marker = page.marker or marker
                self._route(message.body for message in page.messages)
                self._read += [message.id for message in page.messages]
                self._clean_up()

    def _clean_up(self) -> None:
        """Delete read replies in full batches. Replies expire anyway: deleting them one page
        at a time would put a request per call on the server, before the next call's."""
        while len(self._read) >= BATCH_COUNT:
            ids, self._read = self._read[:BATCH_COUNT], self._read[BATCH_COUNT:]
            self._bus.spawn(self._bus.client.message_delete_many(self.name, ids))

    def _route(self, bodies: Iterable[JSON]) -> None:
        for body in bodies:
            if not isinstance(body, dict):
                continue
            waiter = self._waiters.get(str(body.get("msg_id")))
            if waiter is not None:
                waiter.put(body)


# Leases and sweeping


@dataclass
class _Subscription:
    source: str
    target: str
    ttl: int
    owned: bool
    id: str = field(default="")


class Leases:
    """What this bus keeps alive: owned queues and ``queue:`` subscriptions."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._queues: set[str] = set()
        self._subscriptions: dict[str, _Subscription] = {}

    def new_owned_name(self, kind: str) -> str:
        return f"{OWNED_PREFIX}{kind}.{uuid.uuid4().hex}"

    async def hold_queue(self, name: str) -> None:
        self._queues.add(name)
        await self._bus.client.queue_create(name, self._stamp())

    async def drop_queue(self, name: str) -> None:
        self._queues.discard(name)
        await self._bus.client.queue_delete(name)

    async def hold_subscription(self, source: str, target: str, ttl: int, owned: bool) -> str:
        """Subscribe queue ``target`` to ``source`` (every post to ``source`` is copied into
        it) and keep the subscription alive; return a handle to drop it with. An ``owned``
        subscription is deleted when dropped, a shared one is left to expire."""
        subscription = _Subscription(source, target, ttl, owned)
        await self._subscribe(subscription)
        handle = uuid.uuid4().hex
        self._subscriptions[handle] = subscription
        return handle

    async def drop_subscription(self, *handles: str) -> None:
        for handle in handles:
            subscription = self._subscriptions.pop(handle, None)
            if subscription is not None and subscription.owned:
                await self._bus.client.subscription_delete(subscription.source, subscription.id)

    async def release_all(self) -> None:
        for handle in list(self._subscriptions):
            await _logged(self.drop_subscription(handle))
        for name in list(self._queues):
            await _logged(self.drop_queue(name))

    async def run(self) -> None:
        """Renew every third of a lease; sweep now and then."""
        options = self._bus.options
        renew_every = options.lease / 3
        next_sweep = time.monotonic() + random.uniform(0, options.sweep_interval)
        while True:
            await asyncio.sleep(renew_every)
            await _logged(self.renew())
            if options.sweep_interval and time.monotonic() >= next_sweep:
                await _logged(self.sweep())
                next_sweep = time.monotonic() + options.sweep_interval * random.uniform(0.5, 1.5)

    async def renew(self) -> None:
        client = self._bus.client
        patch = [{"op": "add", "path": f"/metadata/{EXPIRES_KEY}", "value": self._expiry()}]
        for name in list(self._queues):
            try:
                await client.queue_update(name, patch)
            except errors.NotFound:
                await client.queue_create(name, self._stamp())
        for subscription in list(self._subscriptions.values()):
            try:
                await client.subscription_update(
                    subscription.source, subscription.id, subscription.ttl
                )
            except errors.NotFound:
                await self._subscribe(subscription)

    async def sweep(self) -> None:
        """Delete the owned queues (of any process) whose lease has passed."""
        client = self._bus.client
        prefix = OWNED_PREFIX
        marker, now = prefix, time.time()
        while True:
            page = await client.queue_list(marker, BATCH_COUNT, detailed=True)
            ours = [record for record in page.queues if record.name.startswith(prefix)]
            for record in ours:
                if record.name not in self._queues and _expired(record.metadata, now):
                    LOG.info("deleting the expired queue %s", record.name)
                    await client.queue_delete(record.name)
            if page.marker is None or len(ours) < len(page.queues):
                return
            marker = page.marker

    async def _subscribe(self, subscription: _Subscription) -> None:
        subscription.id = await self._bus.client.subscription_create(
            subscription.source, f"queue:{subscription.target}", subscription.ttl
        )

    def _expiry(self) -> float:
        return time.time() + self._bus.options.lease

    def _stamp(self) -> dict[str, JSON]:
        return {EXPIRES_KEY: self._expiry()}


def _expired(metadata: Mapping[str, JSON], now: float) -> bool:
    stamp = metadata.get(EXPIRES_KEY)
    return not isinstance(stamp, int | float) or stamp < now


async def _logged(work: Awaitable[object]) -> None:
    try:
        await work
    except Exception as exc:
        LOG.warning("tidings bus housekeeping failed: %r", exc)
