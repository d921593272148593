"""A private Prometheus server, owned by a test: ``prometheus`` on a free loopback port with its
data in a temp dir, scraping the given targets every second and evaluating its rule files as
often. Prometheus is installed from the Debian packages when it is missing (``promtool``
comes with it); a test never skips for want of it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import free_port
from tests.processes import Child
from tests.servers import debian

HOST = "127.0.0.1"


def ensure_installed() -> None:
    """Install prometheus and promtool from the Debian packages when they are missing."""
    debian.ensure_programs(("prometheus", "promtool"), ("prometheus",))


@dataclass
class PrometheusServer(Child):
    ready_timeout = 30.0
    directory: Path
    targets: list[str]
    """``host:port`` of each server to scrape at ``/metrics``."""
    rule_files: list[Path]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / "prometheus.log"

    def start(self) -> None:
        ensure_installed()
        self.directory.mkdir(parents=True, exist_ok=True)
        configuration = self.directory / "prometheus.yml"
        configuration.write_text(yaml.safe_dump(self._configuration()))
        command = ["prometheus", f"--config.file={configuration}"]
        command += [f"--storage.tsdb.path={self.directory / 'data'}"]
        command += [f"--web.listen-address={HOST}:{self.port}"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log)
        self.wait_ready()

    def _configuration(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": "tidings", "static_configs": [{"targets": self.targets}]}
            ],
        }

    def answers(self) -> bool:
        return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector of ``expression`` now: each series' labels and value."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now, each with its labels and state."""
        answer = httpx.get(f"{self.url}/api/v1/alerts", timeout=5)
        answer.raise_for_status()
        alerts: list[dict[str, Any]] = answer.json()["data"]["alerts"]
        return alerts
