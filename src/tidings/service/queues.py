"""Queue rules: creation, metadata (with the JSON-patch subset Zaqar speaks), stats, purge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings import errors
from tidings.clock import Clock
from tidings.config import Limits
from tidings.models import JSON, QueueRecord, QueueStats
from tidings.service import metadata, validate
from tidings.service.encryption import BodyCipher
from tidings.storage.base import Storage

PATCH_OPS = ("add", "replace", "remove")
RESOURCE_TYPES = ("messages", "subscriptions")


@dataclass(frozen=True)
class QueuePage:
    queues: list[QueueRecord]
    count: int | None


class QueueService:
    def __init__(self, storage: Storage, limits: Limits, clock: Clock, cipher: BodyCipher) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        self.cipher = cipher

    async def create(self, project: str, name: str, document: Any) -> bool:
        """Create the queue; False when it existed (its metadata is then left unchanged)."""
        validate.queue_name(name)
        meta = self._checked({} if document is None else document)
        return await self.storage.queue_create(project, name, meta, self.clock())

    def _checked(self, document: Any) -> dict[str, JSON]:
        meta = metadata.checked(document, self.limits)
        if meta.get("_enable_encrypt_messages"):
            self.cipher.require()
        return meta

    async def get(self, project: str, name: str) -> dict[str, JSON]:
        validate.queue_name(name)
        stored = await self.storage.queue_get_metadata(project, name)
        return metadata.with_defaults(stored, self.limits)

    async def patch(self, project: str, name: str, operations: Any) -> dict[str, JSON]:
        validate.queue_name(name)
        stored = await self.storage.queue_get_metadata(project, name)
        if stored is None:
            raise errors.QueueNotFound()
        patched = apply_patch(stored, operations)
        await self.storage.queue_set_metadata(project, name, self._checked(patched))
        return metadata.with_defaults(patched, self.limits)

    async def delete(self, project: str, name: str) -> None:
        validate.queue_name(name)
        await self.storage.queue_delete(project, name)

    async def page(
        self, project: str, marker: str | None, limit: int | None, with_count: bool
    ) -> QueuePage:
        size = validate.limit(limit, self.limits.max_queues_per_page)
        queues = await self.storage.queue_list(project, marker, size)
        count = await self.storage.queue_count(project) if with_count else None
        return QueuePage(queues, count)

    async def stats(self, project: str, name: str) -> QueueStats:
        validate.queue_name(name)
        return await self.storage.queue_stats(project, name, self.clock())

    async def purge(self, project: str, name: str, document: Any) -> None:
        validate.queue_name(name)
        types = purge_resource_types(document)
        if "messages" in types:
            await self.storage.queue_purge(project, name)
        if "subscriptions" in types:
            await self.storage.subscriptions_purge(project, name)


def purge_resource_types(document: Any) -> set[str]:
    if document is None:
        return set(RESOURCE_TYPES)
    document = validate.document(document)
    types = validate.field(document, "resource_types", list, list(RESOURCE_TYPES))
    if not types or not all(kind in RESOURCE_TYPES for kind in types):
        raise errors.InvalidRequest(f"Resource types must be a sub set of {list(RESOURCE_TYPES)}.")
    return set(types)


def apply_patch(current: dict[str, JSON], operations: Any) -> dict[str, JSON]:
    """Apply Zaqar's JSON-patch subset: add/replace/remove of ``/metadata/<key>``."""
    if not isinstance(operations, list) or not operations:
        raise errors.InvalidBody("The request body must be a non-empty JSON-patch array.")
    patched = dict(current)
    for operation in operations:
        op, key, value = _patch_operation(operation)
        exists = key in patched or key in metadata.RESERVED
        if op == "replace" and not exists:
            raise errors.Conflict(f"Cannot replace {key!r}: it does not exist.")
        if op == "remove":
            if key not in patched and key not in metadata.RESERVED:
                raise errors.Conflict(f"Cannot remove {key!r}: it does not exist.")
            patched.pop(key, None)
        else:
            patched[key] = value
    return patched


def _patch_operation(operation: Any) -> tuple[str, str, JSON]:
    if not isinstance(operation, dict):
        raise errors.InvalidBody("Each JSON-patch operation must be an object.")
    op = operation.get("op")
    if op not in PATCH_OPS:
        raise errors.InvalidRequest(f"JSON-patch op must be one of {', '.join(PATCH_OPS)}.")
    path = operation.get("path")
    segments = path.split("/") if isinstance(path, str) else []
    if len(segments) != 3 or segments[0] != "" or segments[1] != "metadata" or not segments[2]:
        raise errors.InvalidRequest('JSON-patch path must look like "/metadata/<key>".')
    if op != "remove" and "value" not in operation:
        raise errors.InvalidRequest(f'JSON-patch "{op}" needs a "value".')
    key = segments[2].replace("~1", "/").replace("~0", "~")
    return op, key, operation.get("value")
