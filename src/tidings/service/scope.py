"""Where a source lives: a queue under its project, a topic under the project's topic space.

Services take the storage project (``space``) they work in; these helpers tell from it whether
the source is a queue or a topic, and which project owns it.
"""

from __future__ import annotations

from typing import Literal

from tidings.storage.base import topic_space

Kind = Literal["queues", "topics"]

_TOPICS = topic_space("")


def kind_of(space: str) -> Kind:
    return "topics" if space.endswith(_TOPICS) else "queues"


def owner_of(space: str) -> str:
    """The project whose queues or topics ``space`` holds."""
    return space.removesuffix(_TOPICS)


def space_of(project: str, kind: Kind) -> str:
    return topic_space(project) if kind == "topics" else project


def source_path(space: str, name: str) -> str:
    """The API path of the queue or topic ``name`` stored under ``space``."""
    return f"/v2/{kind_of(space)}/{name}"
