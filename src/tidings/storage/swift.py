"""The OpenStack Swift driver: a container per queue, an object per message. URLs, auth and
requests: ``swift_client.py``; documentation: docs/storage.md.

Layout, in the authenticated account (``N`` the prefix, ``P`` the project in unpadded base64url,
or ``~`` and its SHA-256 when that is too long for a container name)::

    N:q:P:QUEUE          container of one queue
        meta             {"project", "queue", "metadata"}: the queue exists while it does
        m/SEQ.ID         a message (JSON); SEQ, 16 digits of microseconds, orders the names
        i/ID             the message's index: its body is the m/ name
        c/CLAIM          a claim: created, expires and the names of its messages
    N:s:P:SOURCE         container of the subscriptions of SOURCE: s/ID
    N:l:DIGEST:GEN       a claim lock: exists for the instant one message is taken

Listings carry each object's state in its content type (``e`` expiry, ``v`` visible at, ``c``
claim expiry, ``g`` claim generation, ``k`` client id), so claims, stats and gc filter a listing
without reading the objects. Objects expire by themselves (``X-Delete-After``, which Swift
stores as ``X-Delete-At``), and every read also compares the stored times with ``now``, so an
expired object that Swift has not removed yet never shows.

Swift has no transactions and no compare-and-swap: a conditional PUT (``If-None-Match: *``) is
checked before the upload and two concurrent ones both succeed, and ``If-Match`` is ignored on
PUT. What IS atomic is creating a container: exactly one of concurrent PUTs gets 201. So taking
a message (claim, pop) creates the lock container of its next claim generation; whoever gets
201 re-reads the message, and writes it only if its generation is still the one it saw. The
other updates (renew, release, delete) are last-writer-wins. A batch post writes its messages
one by one (outbox jobs first, so a failed post may notify but never loses a notification);
ids are unique per queue, so a retried post stores nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import logging
import math
import re
import uuid
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterable,
    Sequence,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard, TypeVar
from urllib.parse import quote, unquote

import orjson

from tidings import errors
from tidings.ids import unique_id
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    QueueRecord,
    QueueStats,
    Subscription,
    lifetime,
)
from tidings.storage.base import AOD, CLAIMS, DURABILITY, OUTBOX_SUFFIX, Storage, sequence_of
from tidings.storage.swift_client import Doc, SwiftClient, SwiftConfig, parse_url
from tidings.storage.watch import Key, Watchers

log = logging.getLogger(__name__)

S = TypeVar("S")
T = TypeVar("T")
Named = tuple[str, Doc]
"""A message document and its object name."""

WIDTH = 16
"""Requests one operation keeps in flight at once."""
LISTING_LIMIT = 10_000
"""Swift's largest listing page."""
POLL = 0.25
"""Seconds between two looks at the newest message of the queues someone waits on."""
LOCK_STALE = 60.0
"""Seconds after which gc removes a claim lock left behind by a crashed process."""
DELETE_ATTEMPTS = 3
MAX_PROJECT_KEY = 120
MARKER = re.compile(r"\d{16}\.[^/]+")

META = "meta"
MESSAGES, INDEX, CLAIMS_PREFIX, SUBSCRIPTIONS = "m/", "i/", "c/", "s/"
MESSAGE_TYPE = "application/x-tidings-message"
EXPIRY_TYPE = "application/x-tidings-expiry"
JSON_TYPE = "application/json"


def from_url(url: str) -> SwiftStorage:
    return SwiftStorage(parse_url(url))


# Names and listing entries


def _project_key(project: str) -> str:
    encoded = base64.urlsafe_b64encode(project.encode()).decode().rstrip("=")
    if len(encoded) <= MAX_PROJECT_KEY:
        return encoded
    return "~" + hashlib.sha256(project.encode()).hexdigest()


def _project_of(key: str) -> str | None:
    """The project a container name's key stands for (None: a hashed key; read the meta)."""
    if key.startswith("~"):
        return None
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()


def _escape(name: str) -> str:
    """A queue name as part of a container name: queue names keep their characters (and
    order); '/', which Swift refuses there, and anything else unusual is percent-encoded."""
    return quote(name, safe="#-_.~")


def _message_name(seq: int, message_id: str) -> str:
    return f"{MESSAGES}{seq:016d}.{quote(message_id, safe='')}"


def _index_name(message_id: str) -> str:
    return INDEX + quote(message_id, safe="")


def _index_of(name: str) -> str:
    """The index object of the message object ``name``."""
    return INDEX + name.partition(".")[2]


def _seq(name: str) -> int:
    """The sequence number of the message object ``name``."""
    return int(name[len(MESSAGES) : len(MESSAGES) + 16])


def _after(marker: str | None) -> str:
    """The listing marker of a message marker: the name of the last message seen, or a bare
    sequence number (every name of that microsecond sorts before ``m/SEQ/``)."""
    if marker is None or MARKER.fullmatch(marker):
        return "" if marker is None else MESSAGES + marker
    return f"{MESSAGES}{sequence_of(marker):016d}/"


def _hint(doc: Doc) -> str:
    """A message's state, carried by its content type into container listings."""
    client = quote(doc["client_id"], safe="")
    return (
        f"{MESSAGE_TYPE};e={doc['expires']!r};v={doc['visible_at']!r};"
        f"c={doc['claim_expires']!r};g={doc['gen']};k={client}"
    )


def _params(content_type: str) -> dict[str, str]:
    _, *pairs = content_type.split(";")
    return {key.strip(): value for key, _, value in (pair.partition("=") for pair in pairs)}


def _expiry_of(row: Doc) -> float:
    return float(_params(row.get("content_type", "")).get("e", "inf"))


@dataclass(frozen=True, slots=True)
class Entry:
    """A message as its listing row shows it (maybe a little behind the object itself)."""

    name: str
    expires: float
    visible_at: float
    claim_expires: float
    gen: int
    client_id: str

    def claimable(self, now: float) -> bool:
        return self.claim_expires <= now and self.visible_at <= now

    def shown(self, query: MessageFilter, now: float) -> bool:
        return _shown(query, now, self.client_id, self.claim_expires, self.visible_at)


def _shown(
    query: MessageFilter, now: float, client_id: str, claim_expires: float, visible_at: float
) -> bool:
    return (
        (query.echo or client_id != query.client_id)
        and (query.include_claimed or claim_expires <= now)
        and (query.include_delayed or visible_at <= now)
    )


def _entry(row: Doc) -> Entry | None:
    params = _params(row.get("content_type", ""))
    try:
        return Entry(
            name=row["name"],
            expires=float(params["e"]),
            visible_at=float(params["v"]),
            claim_expires=float(params["c"]),
            gen=int(params["g"]),
            client_id=unquote(params["k"]),
        )
    except (KeyError, ValueError):
        return None


def _live(doc: Doc | None, now: float) -> TypeGuard[Doc]:
    return doc is not None and doc["expires"] > now


def _subscription(doc: Doc) -> Subscription:
    """A stored subscription; one stored before subscriptions kept their TTL gets the span
    it was created for."""
    kept: Doc = {"ttl": lifetime(doc["created"], doc["expires"])}
    return Subscription(**(kept | doc))


def _claimable(doc: Doc, now: float) -> bool:
    return bool(doc["expires"] > now and doc["claim_expires"] <= now and doc["visible_at"] <= now)


def _message(doc: Doc) -> Message:
    fields = {name: doc[name] for name in Message.__dataclass_fields__}
    return Message(**fields)


def _delete_after(expires: float, now: float) -> str:
    return str(max(1, math.ceil(expires - now)))


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


async def _gather(work: Iterable[Awaitable[T]]) -> list[T]:
    """Await everything at once; the first failure cancels the rest and is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(each)) for each in work]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(work: Awaitable[T]) -> T:
    return await work


async def _each(items: Iterable[S], work: Callable[[S], Awaitable[T]]) -> list[T]:
    """``work`` on every item, at most WIDTH at a time; what each gave, in order."""
    gate = asyncio.Semaphore(WIDTH)

    async def one(item: S) -> T:
        async with gate:
            return await work(item)

    return await _gather(one(item) for item in items)


async def _collect(
    items: AsyncGenerator[S, None], limit: int, work: Callable[[list[S]], Awaitable[list[T]]]
) -> list[T]:
    """Hand ``work`` chunks of ``items``, each as long as what is still missing, until it has
    produced ``limit`` results or the items run out."""
    results: list[T] = []
    chunk: list[S] = []
    async with contextlib.aclosing(items):
        async for item in items:
            chunk.append(item)
            if len(chunk) >= limit - len(results):
                results += await work(chunk)
                chunk = []
                if len(results) >= limit:
                    return results
    return results + (await work(chunk) if chunk else [])


class SwiftStorage(Storage):
    capabilities = frozenset({CLAIMS, DURABILITY, AOD})

    def __init__(self, config: SwiftConfig) -> None:
        self.config = config
        self._swift = SwiftClient(config)
        self._seq = 0
        self._watchers = Watchers(_Poll(self))
        self._background: set[asyncio.Task[Any]] = set()
        self._writing: dict[Key, list[int]] = {}
        """The first sequence number of each batch this process is writing, by queue."""

    async def open(self) -> None:
        await self._swift.open()

    async def close(self) -> None:
        await self._watchers.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._swift.close()

    async def is_alive(self) -> bool:
        try:
            return (await self._swift.request("HEAD")).is_success
        except errors.StorageUnavailable:
            return False

    # Names

    def _queue(self, project: str, queue: str) -> str:
        return f"{self.config.prefix}:q:{_project_key(project)}:{_escape(queue)}"

    def _subscriptions(self, project: str, source: str) -> str:
        return f"{self.config.prefix}:s:{_project_key(project)}:{_escape(source)}"

    def _lock(self, container: str, name: str, gen: int) -> str:
        return f"{self.config.prefix}:l:{_digest(container, name)}:{gen}"

    def _next_seq(self, now: float) -> int:
        """Post order within this process: the microsecond of ``now``, always increasing."""
        self._seq = max(self._seq + 1, int(now * 1_000_000))
        return self._seq

    def _later(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background (awaited by close); its failure is only logged."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("Swift background request failed: %r", task.exception())

    # Listings

    async def _rows(
        self, container: str, prefix: str, marker: str = ""
    ) -> AsyncGenerator[Doc, None]:
        """Every listing row under ``prefix`` after ``marker``, in name order."""
        page = 100
        while True:
            rows = await self._swift.listing(
                container, prefix=prefix, marker=marker, limit=str(page)
            )
            for row in rows or ():
                yield row
            if rows is None or len(rows) < page:
                return
            marker, page = rows[-1]["name"], min(page * 10, LISTING_LIMIT)

    async def _entries(
        self, container: str, now: float, marker: str = "", where: Callable[[Entry], bool] = bool
    ) -> AsyncGenerator[Entry, None]:
        """The live messages whose listing rows satisfy ``where``, in post order."""
        async for row in self._rows(container, MESSAGES, marker):
            entry = _entry(row)
            if entry is not None and entry.expires > now and where(entry):
                yield entry

    async def _names(self, container: str, prefix: str = "") -> list[str]:
        return [row["name"] async for row in self._rows(container, prefix)]

    # Objects

    async def _json(self, container: str, name: str) -> Doc | None:
        response = await self._swift.get(container, name)
        return None if response is None else dict(orjson.loads(response.content))

    async def _lookup(self, container: str, message_id: str) -> Named | None:
        """The name and document of a message, found by id through its index."""
        index = await self._swift.get(container, _index_name(message_id))
        if index is None:
            return None
        doc = await self._json(container, index.text)
        return None if doc is None else (index.text, doc)

    async def _lookup_live(self, container: str, ids: Iterable[str], now: float) -> list[Named]:
        """The live messages among ``ids``, in post order."""
        found = await _gather(self._lookup(container, each) for each in dict.fromkeys(ids))
        return sorted(
            (each for each in found if each and _live(each[1], now)), key=lambda pair: pair[0]
        )

    async def _write(self, container: str, name: str, doc: Doc, now: float) -> int:
        headers = {"Content-Type": _hint(doc), "X-Delete-After": _delete_after(doc["expires"], now)}
        return await self._swift.put(container, name, orjson.dumps(doc), headers)

    async def _extend(self, container: str, name: str, doc: Doc, old: Doc, now: float) -> Doc:
        """Write the changed message; its index lives as long as it does."""
        writes: list[Awaitable[object]] = [self._write(container, name, doc, now)]
        if doc["expires"] > old["expires"]:
            expiry = {"X-Delete-After": _delete_after(doc["expires"], now)}
            writes.append(self._swift.post(container, _index_name(doc["id"]), expiry))
        await _gather(writes)
        return doc

    async def _remove(self, container: str, name: str) -> None:
        deletes = [
            self._swift.delete(container, name),
            self._swift.delete(container, _index_of(name)),
        ]
        await _gather(deletes)

    async def _store(self, container: str, name: str, doc: Doc, now: float) -> bool:
        """Write a new message and its index at once; False when Swift answered that the
        container is missing. When the id was stored before (a retried post), the new copy is
        deleted again, unless the first copy's message was never written: then the index is
        pointed at the new one. An index naming this very object was written by an earlier
        try of this write (one that found no container, or a PUT cancelled after it was sent,
        which still lands): both stay."""
        expiry = _delete_after(doc["expires"], now)
        headers = {"Content-Type": EXPIRY_TYPE, "X-Delete-After": expiry, "If-None-Match": "*"}
        index = _index_name(doc["id"])
        status, written = await _gather(
            [
                self._swift.put(container, index, name.encode(), headers),
                self._write(container, name, doc, now),
            ]
        )
        if 404 in (status, written):
            return False
        if status == 412:
            first = await self._swift.get(container, index)
            if first is not None and first.text == name:
                return True
            if first is not None and await self._swift.exists(container, first.text):
                await self._swift.delete(container, name)
            else:
                del headers["If-None-Match"]
                await self._swift.put(container, index, name.encode(), headers)
        return True

    # Queues

    async def _ensure_queue(self, project: str, name: str, metadata: dict[str, JSON]) -> bool:
        container = self._queue(project, name)
        if not await self._swift.create(container):
            return False
        await self._swift.until_found(
            container, lambda: self._put_meta(container, project, name, metadata)
        )
        return True

    async def _put_meta(
        self, container: str, project: str, name: str, metadata: dict[str, JSON]
    ) -> bool:
        """Write the queue's record; False when Swift answered that the container is missing."""
        meta = orjson.dumps({"project": project, "queue": name, "metadata": metadata})
        return await self._swift.put(container, META, meta, {"Content-Type": JSON_TYPE}) != 404

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        return await self._ensure_queue(project, name, metadata)

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        meta = await self._json(self._queue(project, name), META)
        return None if meta is None else dict(meta["metadata"])

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        container = self._queue(project, name)
        if not await self._swift.exists(container, META):
            raise errors.QueueNotFound()
        if not await self._put_meta(container, project, name, metadata):
            raise errors.QueueNotFound()

    async def _queue_names(self, project: str, marker: str | None) -> AsyncGenerator[str, None]:
        prefix = self._queue(project, "")
        async for row in self._rows("", prefix, self._queue(project, marker) if marker else ""):
            name = unquote(row["name"][len(prefix) :])
            if "#" not in name:
                yield name

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        async def records(names: list[str]) -> list[QueueRecord]:
            metas = await _gather(self.queue_get_metadata(project, name) for name in names)
            pairs = zip(names, metas, strict=True)
            return [QueueRecord(name, meta) for name, meta in pairs if meta is not None]

        if limit <= 0:
            return []
        return await _collect(self._queue_names(project, marker), limit, records)

    async def queue_count(self, project: str) -> int:
        return len([name async for name in self._queue_names(project, None)])

    async def queue_delete(self, project: str, name: str) -> None:
        container = self._queue(project, name)
        await self._swift.delete(container, META)
        for _ in range(DELETE_ATTEMPTS):
            await _each(
                await self._names(container), lambda each: self._swift.delete(container, each)
            )
            if await self._swift.delete(container) != 409:
                return
        log.warning("Swift container %s kept objects posted while its queue was deleted", container)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        container = self._queue(project, name)
        entries = [entry async for entry in self._entries(container, now)]
        if not entries:
            return QueueStats()
        ends = await _gather(self._json(container, each.name) for each in (entries[0], entries[-1]))
        oldest, newest = (_message(doc) if _live(doc, now) else None for doc in ends)
        claimed = sum(entry.claim_expires > now for entry in entries)
        delayed = sum(entry.claim_expires <= now < entry.visible_at for entry in entries)
        return QueueStats(claimed, delayed, len(entries), oldest, newest)

    async def queue_purge(self, project: str, name: str) -> None:
        container = self._queue(project, name)
        doomed = [each for each in await self._names(container) if each != META]
        await _each(doomed, lambda each: self._swift.delete(container, each))

    # Messages

    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        batches = [*((target, batch) for target, batch in outbox if batch), (queue, messages)]
        for _, batch in batches:  # an unstorable body fails the post before anything is written
            for message in batch:
                orjson.dumps(message.body)
        for target, batch in batches:
            named = [
                (_message_name(self._next_seq(now), message.id), _new_doc(message, now))
                for message in batch
            ]
            if not await self._post(project, target, named, now):
                await self._ensure_queue(project, target, {})
                await self._post_found(project, target, named, now)
            self._watchers.posted((project, target))
        return [message.id for message in messages]

    async def _post_found(self, project: str, queue: str, named: list[Named], now: float) -> None:
        """``_post`` to a queue just created."""
        container = self._queue(project, queue)
        await self._swift.until_found(container, lambda: self._post(project, queue, named, now))

    async def _post(self, project: str, queue: str, named: list[Named], now: float) -> bool:
        """Write the messages, all at once; False when Swift answered, for any of them, that
        the container is missing (the others are written all the same, so that none of them
        lands after the container is created). Until they are all written, listings in this
        process stop before the first of them: a reader paging with markers never steps over
        a message of the batch that is not written yet."""
        container = self._queue(project, queue)
        writing = self._writing.setdefault((project, queue), [])
        first = _seq(named[0][0]) if named else 0
        writing.append(first)
        try:
            return all(
                await _each(named, lambda pair: self._store(container, pair[0], pair[1], now))
            )
        finally:
            writing.remove(first)
            if not writing:
                del self._writing[project, queue]

    def _written(self, project: str, queue: str) -> Callable[[Entry], bool]:
        """Whether a message is before every batch this process is still writing."""
        bound = min(self._writing.get((project, queue), ()), default=None)
        return lambda entry: bound is None or _seq(entry.name) < bound

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        container = self._queue(project, queue)
        after = _after(query.marker)

        async def fetch(chunk: list[Entry]) -> list[Named]:
            docs = await _gather(self._json(container, entry.name) for entry in chunk)
            return [
                (entry.name, doc)
                for entry, doc in zip(chunk, docs, strict=True)
                if doc is not None and _doc_shown(doc, query, now)
            ]

        if query.limit <= 0:
            return [], None
        written = self._written(project, queue)
        shown = self._entries(
            container, now, after, lambda entry: written(entry) and entry.shown(query, now)
        )
        found = await _collect(shown, query.limit, fetch)
        marker = found[-1][0][len(MESSAGES) :] if found else None
        return [_message(doc) for _, doc in found], marker

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        found = await self._lookup_live(self._queue(project, queue), ids, now)
        return [_message(doc) for _, doc in found]

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        container = self._queue(project, queue)
        found = await self._lookup(container, message_id)
        if found is None or not _live(found[1], now):
            return
        name, doc = found
        claimed = doc["claim_id"] is not None and doc["claim_expires"] > now
        if claimed and doc["claim_id"] == claim_id:
            pass  # held by its live claim (whose expiry the message carries): no need to read it
        elif claim_id is None:
            if claimed:
                raise errors.MessageIsClaimed()
        elif await self._claim(container, claim_id, now) is None:
            raise errors.ClaimExpired()
        else:
            raise errors.MessageIsClaimed() if claimed else errors.MessageNotClaimed()
        await self._remove(container, name)

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        container = self._queue(project, queue)
        found = await _gather(self._lookup(container, each) for each in dict.fromkeys(ids))
        doomed = [
            name
            for name, doc in filter(None, found)
            if claim_ids is None or (doc["claim_id"] in claim_ids and doc["claim_expires"] > now)
        ]
        await _each(doomed, lambda name: self._remove(container, name))

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        container = self._queue(project, queue)

        async def remove(name: str, doc: Doc) -> Doc:
            await self._remove(container, name)
            return doc

        return [_message(doc) for _, doc in await self._take(container, limit, now, remove)]

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        source = self._queue(project, queue)
        found = await self._lookup_live(source, ids, now)
        await self._ensure_queue(project, target, {})
        moved = [
            (_message_name(self._next_seq(now), doc["id"]), _moved(doc, ttl, now))
            for _, doc in found
        ]
        await self._post_found(project, target, moved, now)
        await _each([name for name, _ in found], lambda name: self._remove(source, name))
        if moved:
            self._watchers.posted((project, target))

    # Taking messages: claims and pops

    async def _take(
        self,
        container: str,
        limit: int,
        now: float,
        change: Callable[[str, Doc], Awaitable[Doc]],
    ) -> list[Named]:
        """Up to ``limit`` claimable messages, oldest first, each passed through ``change``
        by exactly one taker."""

        async def grab_all(chunk: list[Entry]) -> list[Named]:
            taken = await _gather(self._grab(container, entry, now, change) for entry in chunk)
            return [doc for doc in taken if doc is not None]

        if limit <= 0:
            return []
        claimable = self._entries(container, now, where=lambda entry: entry.claimable(now))
        return await _collect(claimable, limit, grab_all)

    async def _grab(
        self,
        container: str,
        entry: Entry,
        now: float,
        change: Callable[[str, Doc], Awaitable[Doc]],
    ) -> Named | None:
        lock = self._lock(container, entry.name, entry.gen + 1)
        if not await self._swift.create(lock):
            return None  # another taker has this generation
        try:
            doc = await self._json(container, entry.name)
            if doc is None or doc["gen"] != entry.gen or not _claimable(doc, now):
                return None  # the listing was behind
            return entry.name, await change(entry.name, doc)
        finally:
            self._later(self._swift.delete(lock))

    # Claims

    async def _claim(self, container: str, claim_id: str, now: float) -> Doc | None:
        claim = await self._json(container, CLAIMS_PREFIX + quote(claim_id, safe=""))
        return claim if _live(claim, now) else None

    async def _put_claim(self, container: str, claim: Doc, now: float) -> None:
        headers = {
            "Content-Type": f"{EXPIRY_TYPE};e={claim['expires']!r}",
            "X-Delete-After": _delete_after(claim["expires"], now),
        }
        name = CLAIMS_PREFIX + quote(claim["id"], safe="")
        await self._swift.put(container, name, orjson.dumps(claim), headers)

    async def _held(self, container: str, claim: Doc, now: float) -> list[Named]:
        """The live messages still held by ``claim``, in post order."""
        docs = await _gather(self._json(container, name) for name in claim["messages"])
        return [
            (name, doc)
            for name, doc in zip(claim["messages"], docs, strict=True)
            if doc is not None and _live(doc, now) and doc["claim_id"] == claim["id"]
        ]

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        container = self._queue(project, queue)
        claim_id, expires = unique_id(), now + ttl

        async def claim(name: str, doc: Doc) -> Doc:
            claimed = {
                **doc,
                "claim_id": claim_id,
                "claim_expires": expires,
                "claim_count": doc["claim_count"] + 1,
                "gen": doc["gen"] + 1,
                "expires": max(doc["expires"], expires + grace),
            }
            return await self._extend(container, name, claimed, doc, now)

        taken = await self._take(container, limit, now, claim)
        if not taken:
            return None
        names = [name for name, _ in taken]
        record = {"id": claim_id, "created": now, "expires": expires, "messages": names}
        await self._put_claim(container, record, now)
        return Claim(claim_id, queue, now, expires, [_message(doc) for _, doc in taken])

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        container = self._queue(project, queue)
        claim = await self._claim(container, claim_id, now)
        if claim is None:
            return None
        held = await self._held(container, claim, now)
        messages = [_message(doc) for _, doc in held]
        return Claim(claim_id, queue, claim["created"], claim["expires"], messages)

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        container = self._queue(project, queue)
        claim = await self._claim(container, claim_id, now)
        if claim is None:
            return False
        expires = now + ttl

        def renewed(doc: Doc) -> Doc:
            lives = max(doc["expires"], expires + grace)
            return {**doc, "claim_expires": expires, "expires": lives}

        writes = [
            self._extend(container, name, renewed(doc), doc, now)
            for name, doc in await self._held(container, claim, now)
        ]
        record = {**claim, "created": now, "expires": expires}
        await _gather([self._put_claim(container, record, now), *writes])
        return True

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        container = self._queue(project, queue)
        claim_name = CLAIMS_PREFIX + quote(claim_id, safe="")
        claim = await self._json(container, claim_name)
        if claim is not None:
            await _gather(self._free(container, name, claim_id) for name in claim["messages"])
            await self._swift.delete(container, claim_name)

    async def _free(self, container: str, name: str, claim_id: str) -> None:
        """Rewrite the message without its claim, if ``claim_id`` still holds it. Without a
        clock at hand, the object keeps the expiry Swift has for it (``X-Delete-At``)."""
        response = await self._swift.get(container, name)
        if response is None:
            return
        doc = orjson.loads(response.content)
        if doc["claim_id"] != claim_id:
            return
        freed = {**doc, "claim_id": None, "claim_expires": 0.0}
        headers = {"Content-Type": _hint(freed)}
        if "x-delete-at" in response.headers:
            headers["X-Delete-At"] = response.headers["x-delete-at"]
        await self._swift.put(container, name, orjson.dumps(freed), headers)

    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        prefix = f"{self.config.prefix}:q:"
        outboxes = [name for name in await self._names("", prefix) if name.endswith(OUTBOX_SUFFIX)]
        found: list[tuple[str, str]] = []

        async def look(container: str) -> None:
            work = self._entries(container, now, where=lambda entry: entry.claimable(now))
            async with contextlib.aclosing(work):
                if await anext(work, None) is not None:
                    found.append(await self._owner(container))

        await _each(outboxes, look)
        return sorted(found)

    async def _owner(self, container: str) -> tuple[str, str]:
        """The (project, queue) a queue container belongs to."""
        _, _, key, escaped = container.split(":", 3)
        queue, project = unquote(escaped), _project_of(key)
        if project is None:
            meta = await self._json(container, META) or {}
            project = str(meta.get("project", ""))
        return project, queue

    # Subscriptions

    async def _subscription_docs(
        self, container: str, now: float, subscriber: str | None = None
    ) -> list[Subscription]:
        """The live subscriptions of the container (only those of ``subscriber`` if given)."""
        wanted = None if subscriber is None else _digest(subscriber)
        names = [
            row["name"]
            async for row in self._rows(container, SUBSCRIPTIONS)
            if _expiry_of(row) > now
            and wanted in (None, _params(row.get("content_type", "")).get("u"))
        ]
        docs = await _gather(self._json(container, name) for name in names)
        subscriptions = [_subscription(doc) for doc in docs if _live(doc, now)]
        return sorted(subscriptions, key=lambda each: each.id)

    async def _put_subscription(self, project: str, subscription: Subscription, now: float) -> None:
        container = self._subscriptions(project, subscription.source)
        hint = f"{EXPIRY_TYPE};e={subscription.expires!r};u={_digest(subscription.subscriber)}"
        headers = {"Content-Type": hint, "X-Delete-After": _delete_after(subscription.expires, now)}
        name = SUBSCRIPTIONS + quote(subscription.id, safe="")
        body = orjson.dumps(dataclasses.asdict(subscription))
        await self._swift.put_creating(container, name, body, headers)

    async def subscription_create(
        self,
        project: str,
        source: str,
        subscriber: str,
        ttl: int,
        options: dict[str, JSON],
        secret: str,
        now: float,
    ) -> tuple[Subscription, bool]:
        container = self._subscriptions(project, source)
        for existing in await self._subscription_docs(container, now, subscriber):
            if existing.subscriber == subscriber:
                return existing, False
        new = Subscription(
            str(uuid.uuid4()), source, subscriber, now, now + ttl, ttl, options, False, secret
        )
        await self._put_subscription(project, new, now)
        return new, True

    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        container = self._subscriptions(project, source)
        doc = await self._json(container, SUBSCRIPTIONS + quote(subscription_id, safe=""))
        return _subscription(doc) if doc is not None and _live(doc, now) else None

    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        every = await self._subscription_docs(self._subscriptions(project, source), now)
        return [each for each in every if marker is None or each.id > marker][:limit]

    async def subscription_update(
        self,
        project: str,
        source: str,
        subscription_id: str,
        now: float,
        *,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: dict[str, JSON] | None = None,
    ) -> Subscription | None:
        current = await self.subscription_get(project, source, subscription_id, now)
        if current is None:
            return None
        if subscriber is not None and subscriber != current.subscriber:
            container = self._subscriptions(project, source)
            others = await self._subscription_docs(container, now, subscriber)
            if any(other.subscriber == subscriber for other in others):
                raise errors.Conflict("Such subscription already exists.")
        changed = dataclasses.replace(
            current,
            subscriber=current.subscriber if subscriber is None else subscriber,
            expires=current.expires if ttl is None else now + ttl,
            ttl=current.ttl if ttl is None else ttl,
            options=current.options if options is None else options,
        )
        await self._put_subscription(project, changed, now)
        return changed

    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        current = await self.subscription_get(project, source, subscription_id, now)
        if current is None:
            return None
        changed = dataclasses.replace(current, confirmed=confirmed)
        await self._put_subscription(project, changed, now)
        return changed

    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        container = self._subscriptions(project, source)
        await self._swift.delete(container, SUBSCRIPTIONS + quote(subscription_id, safe=""))

    async def subscriptions_purge(self, project: str, source: str) -> None:
        container = self._subscriptions(project, source)
        await _each(await self._names(container), lambda name: self._swift.delete(container, name))

    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        return await self._subscription_docs(self._subscriptions(project, source), now)

    # Housekeeping

    async def gc(self, now: float) -> int:
        removed: list[int] = []

        async def collect(container: str) -> None:
            removed.append(await self._collect_expired(container, now))

        prefix = self.config.prefix
        for kind in ("q", "s"):
            await _each(await self._names("", f"{prefix}:{kind}:"), collect)
        await self._sweep_locks(now)
        return sum(removed)

    async def _collect_expired(self, container: str, now: float) -> int:
        """Delete the expired messages (with their index), claims and subscriptions."""
        doomed: list[str] = []
        async for row in self._rows(container, ""):
            name = row["name"]
            if name == META or name.startswith(INDEX) or _expiry_of(row) > now:
                continue
            doomed.append(name)
        messages = [name for name in doomed if name.startswith(MESSAGES)]
        others = [name for name in doomed if not name.startswith(MESSAGES)]
        await _each(messages, lambda name: self._remove(container, name))
        await _each(others, lambda name: self._swift.delete(container, name))
        return len(doomed)

    async def _sweep_locks(self, now: float) -> None:
        """Remove claim locks that a crashed process left behind."""
        stale = [
            row["name"]
            async for row in self._rows("", f"{self.config.prefix}:l:")
            if _timestamp(row["last_modified"]) < now - LOCK_STALE
        ]
        await _each(stale, self._swift.delete)

    # Waiting for posts

    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        return await self._watchers.watch((project, queue), seconds)

    async def newest_marker(self, project: str, queue: str) -> str | None:
        writing = self._writing.get((project, queue))
        if writing:  # before the batches still being written
            return str(min(writing) - 1)
        name = await self._newest(project, queue)
        return None if name is None else name[len(MESSAGES) :]

    async def _newest(self, project: str, queue: str) -> str | None:
        rows = await self._swift.listing(
            self._queue(project, queue), prefix=MESSAGES, limit="1", reverse="true"
        )
        return str(rows[0]["name"]) if rows else None


class _Poll:
    """The feed of posts for ``Watchers``: every POLL seconds while queues are listened to,
    the newest message name of each; a new one means a post (by any process)."""

    def __init__(self, storage: SwiftStorage) -> None:
        self._storage = storage
        self._newest: dict[Key, str | None] = {}
        self._active = asyncio.Event()
        self._posted: Callable[[Key], None] = lambda key: None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, posted: Callable[[Key], None]) -> None:
        self._posted = posted
        self._task = asyncio.create_task(self._poll(), name="tidings-swift-poll")

    async def listen(self, keys: Collection[Key]) -> None:
        for key in keys:
            self._newest[key] = await self._storage._newest(*key)
        self._active.set()

    async def unlisten(self, keys: Collection[Key]) -> None:
        for key in keys:
            self._newest.pop(key, None)
        if not self._newest:
            self._active.clear()

    async def lost(self) -> None:
        assert self._task is not None
        await self._task

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await self._active.wait()
            await asyncio.sleep(POLL)
            keys = list(self._newest)
            newest = await _gather(self._storage._newest(*key) for key in keys)
            for key, name in zip(keys, newest, strict=True):
                if key in self._newest and self._newest[key] != name:
                    self._newest[key] = name
                    self._posted(key)


def _new_doc(message: NewMessage, now: float) -> Doc:
    return {
        "id": message.id,
        "body": message.body,
        "created": now,
        "expires": now + message.ttl,
        "visible_at": now + message.delay,
        "client_id": message.client_id,
        "claim_id": None,
        "claim_expires": 0.0,
        "claim_count": 0,
        "gen": 0,
    }


def _moved(doc: Doc, ttl: int | None, now: float) -> Doc:
    """A message as a move writes it into its target: free, never claimed."""
    expires = doc["expires"] if ttl is None else now + ttl
    return {
        **doc,
        "expires": expires,
        "claim_id": None,
        "claim_expires": 0.0,
        "claim_count": 0,
        "gen": 0,
    }


def _doc_shown(doc: Doc, query: MessageFilter, now: float) -> bool:
    shown = _shown(query, now, doc["client_id"], doc["claim_expires"], doc["visible_at"])
    return shown and _live(doc, now)
