"""An async Python client for the Zaqar v2 HTTP API (tidings or Zaqar itself).

It imports only ``tidings.models`` and ``tidings.errors`` from the server package.
"""

from __future__ import annotations

from tidings.client.client import Client
from tidings.client.keepalive import KeepAliveTransport
from tidings.client.records import Claim, Message, MessagePage, QueuePage, Stats
from tidings.client.transport import ConnectFailed, HttpxTransport, Response, Transport

__all__ = [
    "Claim",
    "Client",
    "ConnectFailed",
    "HttpxTransport",
    "KeepAliveTransport",
    "Message",
    "MessagePage",
    "QueuePage",
    "Response",
    "Stats",
    "Transport",
]
