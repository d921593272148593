"""tidings served over TLS: the app run by uvicorn with a certificate of its own, as a
deployment that does not put a TLS proxy in front of tidings serves it."""

from __future__ import annotations

import ssl
import sys
from dataclasses import dataclass

import httpx

from tests.conftest import ServerProcess, caller_headers
from tests.servers.certificates import Certificate


@dataclass
class TlsServer(ServerProcess):
    """A ``ServerProcess`` that speaks HTTPS only; its storage comes from ``env``
    (``TIDINGS_STORAGE_URL``), and no client trusts its certificate unless told to."""

    certificate: Certificate | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        assert self.certificate is not None
        tls = ["--ssl-certfile", str(self.certificate.certificate)]
        tls += ["--ssl-keyfile", str(self.certificate.key)]
        app = ["uvicorn", "tidings.app:app_from_environ", "--factory", "--port", str(self.port)]
        return [sys.executable, "-m", *app, *tls]

    def answers(self) -> bool:
        assert self.certificate is not None
        trusted = ssl.create_default_context(cafile=self.certificate.certificate)
        ping = httpx.get(f"{self.url}/v2/ping", headers=caller_headers(), verify=trusted)
        return ping.status_code == 204
