"""The lifecycle every ASGI test server shares: bind once, serve from a thread, stop cleanly.

    with serve_app(app, name="my-server") as loop:
        urllib.request.urlopen(f"{loop.url}/health")
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import uvicorn
except ImportError as exc:  # the servers are an extra; say which one instead of a bare ModuleNotFoundError
    raise ImportError("dataagent.testing's servers need uvicorn: pip install 'dataagent[testing]'") from exc

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0  # a hang guard, generous for a loaded machine: a healthy start takes milliseconds


@dataclass
class Loopback:
    """A running server: its port, its URL and the uvicorn server behind it."""

    port: int
    url: str
    server: uvicorn.Server

    def connection_sockets(self) -> list[Any]:
        """The server-side sockets of the connections open right now (for checks such as TCP_NODELAY)."""
        connections = list(self.server.server_state.connections)
        return [c.transport.get_extra_info("socket") for c in connections if c.transport is not None]


def bind(port: int = 0) -> socket.socket:
    """A TCP socket bound to 127.0.0.1:``port`` (0: any free port), not yet listening."""
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    # without it every response (headers and body written apart) waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def serve_app(app: Any, *, port: int = 0, name: str = "loopback", **options: Any) -> Iterator[Loopback]:
    """Serve the ASGI ``app`` on 127.0.0.1 for the duration of the ``with`` block.

    The socket is bound here and handed to uvicorn, so the port is known at once, a bind error is
    raised in the caller, and no other process can take the port between choosing and serving it.
    ``options`` go to ``uvicorn.Config`` (e.g. ``backlog``, ``timeout_keep_alive``).
    """
    sock = bind(port)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, log_config=None, lifespan="off", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.001)
        bound = sock.getsockname()[1]
        yield Loopback(port=bound, url=f"http://{HOST}:{bound}", server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
