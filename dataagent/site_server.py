"""Serve a folder of static pages on loopback, the way the demo and tests put a real site behind Scrapy.

Pages carry the token ``__BASE_URL__`` wherever they need an absolute URL
(canonical links, sitemap, robots.txt) because the port is only known once bound.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler
from typing import Self

TOKEN = b"__BASE_URL__"
_TEXT_TYPES = (".html", ".xml", ".txt", ".json")


class _Handler(SimpleHTTPRequestHandler):
    base_url = ""

    def send_head(self):  # noqa: ANN201 - http.server's own signature
        path = Path(self.translate_path(self.path))
        if path.suffix not in _TEXT_TYPES or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(TOKEN, self.base_url.encode())
        self.send_response(200)
        ctype = self.guess_type(str(path))
        if path.suffix in (".html", ".txt"):
            ctype += "; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # the crawler's own stats are the record of what was fetched


class LoopbackHTTPServer(ThreadingHTTPServer):
    # The default listen backlog of 5 drops SYNs when Scrapy opens many connections at
    # once; the kernel's 1 s SYN retry then shows up as a slow (or timed-out) site.
    request_queue_size = 128
    daemon_threads = True


class LoopbackServer:
    """Serve ``handler`` on 127.0.0.1 from a background thread; use as a context manager."""

    def __init__(self, handler: Callable[..., BaseRequestHandler], port: int = 0):
        self.httpd = LoopbackHTTPServer(("127.0.0.1", port), handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SiteServer(LoopbackServer):
    """The folder ``root`` as a static site, with ``__BASE_URL__`` filled in."""

    def __init__(self, root: str | Path, port: int = 0):
        handler = type("Handler", (_Handler,), {})
        super().__init__(functools.partial(handler, directory=str(root)), port)
        handler.base_url = self.base_url
