"""The alerting rules shipped in deploy/prometheus/alerts.yml: valid for Prometheus, each alert
unit-tested by promtool on its condition and beside series that must not trip it, and the
rules run by a real Prometheus that scrapes a real server whose store goes down."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import yaml

from tests.conftest import ServerProcess, caller_headers, wait_for
from tests.processes import running
from tests.servers.prometheus import PrometheusServer, ensure_installed
from tests.servers.redis import RedisServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
UNIT_TESTS = Path(__file__).parent / "prometheus" / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    ensure_installed()
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def test_prometheus_takes_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_each_alert_fires_on_its_condition_alone() -> None:
    done = promtool("test", "rules", str(UNIT_TESTS))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }

    assert firing == alerts


def test_a_real_prometheus_alerts_when_the_store_goes_down(
    redis_of_its_own: RedisServer, tmp_path: Path
) -> None:
    server = ServerProcess(
        database=tmp_path / "unused.db", workers=2, storage_url=redis_of_its_own.url
    )
    with (
        running(server),
        running(
            PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{server.port}"], [RULES])
        ) as prometheus,
    ):
        headers = {**caller_headers("watched"), "Content-Type": "application/json"}
        messages = f"{server.url}/v2/queues/q/messages"
        body = {"messages": [{"body": "hello", "ttl": 300}]}
        assert httpx.post(messages, json=body, headers=headers).status_code == 201
        posted = 'tidings_requests_total{operation="message_post", status="201"}'
        wait_for(lambda: bool(prometheus.query(posted)), seconds=30)

        redis_of_its_own.kill()

        def alerting() -> set[tuple[str, str]]:
            # Each post is refused while the store is down; the counters rise from scrape to scrape
            assert httpx.post(messages, json=body, headers=headers).status_code == 503
            return {(alert["labels"]["alertname"], alert["state"]) for alert in prometheus.alerts()}

        expected = {("TidingsStoreUnavailable", "pending"), ("TidingsServerErrors", "pending")}
        wait_for(lambda: expected <= alerting(), seconds=30)
        labels = {alert["labels"]["alertname"]: alert["labels"] for alert in prometheus.alerts()}
        assert labels["TidingsServerErrors"]["operation"] == "message_post"
        assert "pool" not in labels["TidingsStoreUnavailable"]  # the default storage
        assert labels["TidingsStoreUnavailable"]["severity"] == "critical"
