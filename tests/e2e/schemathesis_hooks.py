"""Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS`` (see ``test_fuzz.py``)."""

from __future__ import annotations

import schemathesis

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"

# Queue PATCH bodies are JSON under Zaqar's own media type, which schemathesis cannot guess.
schemathesis.serializer.alias(JSON_PATCH, "application/json")
