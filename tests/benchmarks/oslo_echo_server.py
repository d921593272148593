"""An oslo.messaging RPC server answering ``echo`` on a topic, in a process of its own (so the
benchmark's callers and its server do not share one interpreter lock):
``python -m tests.benchmarks.oslo_echo_server TRANSPORT_URL TOPIC``; it prints ``ready`` once
listening and stops when its standard input closes."""

from __future__ import annotations

import sys
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import oslo_messaging as om

from oslo_config import cfg


class Echo:
    def echo(self, ctxt: dict[str, Any], value: Any) -> Any:
        return value


def main(url: str, topic: str) -> None:
    cfg.CONF([], project="tidings-bench")
    transport = om.get_rpc_transport(cfg.CONF, url=url)
    server = om.get_rpc_server(transport, om.Target(topic=topic, server="bench"), [Echo()])
    server.start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
    server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main(*sys.argv[1:3])
