"""E-mail addresses as a mail's headers take them. A subscriber, its ``from`` option and the
configured sender are checked when they are given, so that no delivery meets an address it
cannot write."""

from __future__ import annotations

import email.errors
import email.policy
from email.headerregistry import Address

UNREADABLE = (ValueError, IndexError, email.errors.MessageError)
"""What the standard library raises on an address or header it cannot read (an IndexError
for an address that ends in '@')."""


def is_mailbox(text: str) -> bool:
    """Whether ``text`` is one bare address, ``user@domain``."""
    try:
        address = Address(addr_spec=text)
    except UNREADABLE:
        return False
    return bool(address.username and address.domain)


def is_sender(text: str) -> bool:
    """Whether ``text`` is one address, with or without a display name
    (``Ops <ops@example.com>``)."""
    try:
        header = email.policy.default.header_factory("from", text)
    except UNREADABLE:
        return False
    return not header.defects and len(header.addresses) == 1 and bool(header.addresses[0].domain)
