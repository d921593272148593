"""Log output: plain text, or one JSON object per line carrying the ids passed in ``extra``."""

from __future__ import annotations

import logging
import time

import orjson

TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"
EXTRA_KEYS = (
    "request_id",
    "operation",
    "project",
    "queue",
    "status",
    "duration_ms",
    "storage_ms",
    "storage_calls",
    "waited_ms",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update({key: getattr(record, key) for key in EXTRA_KEYS if hasattr(record, key)})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def configure(log_format: str, level: str) -> None:
    """Send this process's logs to stderr in ``log_format`` from ``level`` (a name such as
    ``info``) up, unless logging is set up already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO: each Swift storage request, each webhook delivery
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))
