"""``mailto:`` subscribers and e-mail addresses as a mail's headers take them, read in one
place by the subscription's checks and by the mail sink. A subscriber, its ``from`` option and
the configured sender are checked when they are given, so that no delivery meets an address
it cannot write."""

from __future__ import annotations

import email.errors
import email.policy
import re
from dataclasses import dataclass
from email.headerregistry import Address
from urllib.parse import parse_qs, urlsplit

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
UNREADABLE = (ValueError, IndexError, email.errors.MessageError)
"""What the standard library raises on an address or header it cannot read (an IndexError
for an address that ends in '@')."""


@dataclass(frozen=True)
class MailTo:
    """What a ``mailto:`` subscriber names."""

    addresses: list[str]
    subject: str
    """The first ``subject`` of its query; empty when it has none."""


def mailto(uri: str) -> MailTo:
    parts = urlsplit(uri)
    subjects = parse_qs(parts.query).get("subject", [""])
    return MailTo(parts.path.split(","), subjects[0])


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


def is_one_line(text: str) -> bool:
    """Whether ``text`` can be a header's value: one line, with no control character but the
    tab (Python's mail writer refuses a line break, and would write the others as they come)."""
    return not CONTROL.search(text)
