"""The pure rules behind delivery: which retry policy applies, what a job is, what settings
fit together."""

from __future__ import annotations

import pytest

from tidings.config import ConfigError, Limits, NotificationSettings, Settings
from tidings.models import Subscription
from tidings.service.outbox import Job, dead_letter_queue, receives
from tidings.service.retry_policy import RetryPolicy, effective


def subscription(subscriber: str = "http://x.example/", **options: object) -> Subscription:
    return Subscription("sid", "orders", subscriber, 0.0, 60.0, 60, dict(options), False, "s")


def test_subscription_policy_wins_over_the_queue_policy() -> None:
    assert effective({"minimum_delay": 7}, {"minimum_delay": 9}).minimum_delay == 9
    assert effective({"minimum_delay": 7}, None).minimum_delay == 7
    assert effective(None, None) == RetryPolicy()


@pytest.mark.parametrize("holder", ["queue", "subscription"])
def test_ignore_subscription_override_from_either_side_picks_the_queue(holder: str) -> None:
    queue = {"minimum_delay": 7}
    mine = {"minimum_delay": 9}
    (queue if holder == "queue" else mine)["ignore_subscription_override"] = True

    assert effective(queue, mine).minimum_delay == 7


def test_policy_runs_out() -> None:
    policy = RetryPolicy(1, 1, 2, 12, 1, "linear")

    assert [policy.delay_before(retry) for retry in range(1, 7)] == [0, 2, 2, 7, 12, None]


def test_job_round_trips_through_a_message_body() -> None:
    job = Job("Notification", "p", "orders", "sid", "m/sid", {"a": 1}, 60, "m", attempt=2)

    assert Job.from_body(job.as_body()) == job
    assert Job.from_body({"kind": "Notification"}) is None
    assert Job.from_body("text") is None


def test_retried_job_keeps_its_notification_id_but_not_its_message_id() -> None:
    job = Job("Notification", "p", "orders", "sid", "m/sid", {}, 60, "m")
    again = Job("Notification", "p", "orders", "sid", "m/sid", {}, 60, "m", attempt=2)

    assert job.message(60).id != again.message(60).id
    assert job.message(60).id == job.message(60).id


def test_dead_letter_queue_name() -> None:
    assert dead_letter_queue(subscription()) == "orders.dead-notifications"
    assert dead_letter_queue(subscription(dead_letter_queue="mine")) == "mine"
    long = Subscription("sid", "x" * 64, "http://x.example/", 0.0, 60.0, 60, {}, False, "s")
    assert len(dead_letter_queue(long)) == 64


def test_only_queues_skip_confirmation() -> None:
    assert not receives(subscription(), require_confirmation=True)
    assert receives(subscription(), require_confirmation=False)
    assert receives(subscription("queue:copies"), require_confirmation=True)


def test_confirmation_needs_a_signing_key() -> None:
    with pytest.raises(ConfigError, match=r"signed_url\.secret_key"):
        Settings(notification=NotificationSettings(require_confirmation=True))


def test_unknown_subscriber_type_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"trust\+http"):
        Limits(subscriber_types=("http", "trust+http"))


def test_starttls_and_tls_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match="exclude"):
        NotificationSettings(smtp_starttls=True, smtp_ssl=True)
