"""What a bench run does: which roles run, how many of each, and with what sizes.

The named scenarios are the ones the speed target is stated in; each has one role, whose
concurrency ``--clients`` sets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

ConsumerMode = Literal["each", "bulk"]
"""After a claim: delete each message on its own, or all of them in one request."""


@dataclass(frozen=True)
class Scenario:
    name: str
    producers: int = 0
    consumers: int = 0
    observers: int = 0
    batch_size: int = 1
    """Messages per post."""
    messages_per_claim: int = 10
    messages_per_list: int = 10
    consumer_mode: ConsumerMode = "each"

    @property
    def clients(self) -> int:
        return self.producers + self.consumers + self.observers

    def with_clients(self, clients: int) -> Scenario:
        """The same scenario with ``clients`` workers in each role it runs."""
        return dataclasses.replace(
            self,
            producers=clients if self.producers else 0,
            consumers=clients if self.consumers else 0,
            observers=clients if self.observers else 0,
        )


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario("post-1", producers=8, batch_size=1),
        Scenario("post-10", producers=8, batch_size=10),
        Scenario("claim-10-delete-each", consumers=8, messages_per_claim=10),
        Scenario("claim-10-bulk-delete", consumers=8, messages_per_claim=10, consumer_mode="bulk"),
        Scenario("mixed", producers=4, consumers=4, observers=2, batch_size=1),
    )
}
TARGET_SCENARIOS = ("post-1", "post-10", "claim-10-delete-each", "claim-10-bulk-delete")
"""The scenarios of the speed target, and the default of ``tidings bench compare``."""
