"""Real receivers on loopback: an HTTP server that answers from a script, and an SMTP server."""

from __future__ import annotations

import email
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.conftest import free_port
from tests.servers.certificates import Certificate

TIMEOUT = "timeout"
"""An answer: hold the connection without answering, past the sender's timeout."""


@dataclass(frozen=True)
class Hit:
    at: float
    """The receiver's clock when the request came in."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def notification_id(self) -> str:
        return self.headers["x-tidings-notification-id"]

    def signed_by(self, secret: str) -> bool:
        message = self.headers["x-tidings-timestamp"].encode() + b"." + self.body
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["x-tidings-signature"])


@dataclass
class Receiver:
    """An HTTP server on a loopback port: each request gets the next scripted answer (a
    status, or ``TIMEOUT``), then ``default``. Until ``start`` nothing listens on the port, so
    senders meet a refused connection."""

    clock: Callable[[], float] = time.monotonic
    answers: list[int | str] = field(default_factory=list)
    default: int | str = 200
    hold: float = 1.0
    delay: float = 0.0
    """Seconds to wait before each answer (a slow receiver)."""
    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def script(self, answers: Iterable[int | str], default: int | str = 200) -> None:
        self.answers = list(answers)
        self.default = default

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        server.block_on_close = False
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, headers: dict[str, str], body: bytes) -> int | str:
        self.hits.append(Hit(self.clock(), headers, body))
        return self.answers.pop(0) if self.answers else self.default


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = receiver.answer(headers, body)
            time.sleep(receiver.hold if answer == TIMEOUT else receiver.delay)
            if answer == TIMEOUT:
                return
            self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


def text_of(mail: Message) -> str:
    """The decoded body of a plain-text mail."""
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


class Mailbox:
    """An SMTP server in the test process (aiosmtpd) keeping every mail it receives.

    With a ``certificate`` it speaks TLS: from the first byte when ``implicit_tls``, else it
    requires STARTTLS. With a ``login`` it requires that user name and password (over TLS).
    """

    def __init__(
        self,
        certificate: Certificate | None = None,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.mails: list[Message] = []
        self.recipients: list[list[str]] = []
        self.logins: list[tuple[str, bool]] = []
        """Each login attempt: the user name and whether it was accepted."""
        self._login = login
        options: dict[str, Any] = {}
        if certificate is not None and implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS when deciding whether to offer AUTH
            options.update(ssl_context=certificate.server_context(), auth_require_tls=False)
        elif certificate is not None:
            options.update(tls_context=certificate.server_context(), require_starttls=True)
        if login is not None:
            options.update(auth_required=True, authenticator=self._authenticate)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        accepted = (user, password) == self._login
        self.logins.append((user, accepted))
        return AuthResult(success=accepted)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.mails.append(email.message_from_bytes(content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Mailbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
