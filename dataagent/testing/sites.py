"""Small loopback web sites with a request log, for crawler tests and benchmarks.

``LoggingServer(routes)`` serves a dict of path -> (status, headers, body) through the same stdlib
lifecycle as the demo's ``SiteServer`` (no extra needed) and counts every request: ``hits`` per path,
``times`` of arrival, ``max_active`` concurrent requests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from dataagent.site_server import LoopbackServer

Route = tuple[int, dict[str, str], bytes] | Callable[[], tuple[int, dict[str, str], bytes]]


class LoggingServer(LoopbackServer):
    """Serve ``routes`` (path -> (status, headers, body)) on 127.0.0.1 and log every request."""

    def __init__(self, routes: dict[str, Route], delay: float = 0.0) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.times: list[tuple[float, str]] = []
        self.active = self.max_active = 0
        self.on_request: Callable[[str], None] | None = None  # gets each request's User-Agent
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                with lock:
                    server.hits[path] += 1
                    server.times.append((time.monotonic(), path))
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                if server.on_request is not None:
                    server.on_request(self.headers.get("User-Agent", ""))
                if delay:
                    time.sleep(delay)
                with lock:
                    server.active -= 1
                route = server.routes.get(path)
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/html"}, b"<h1>not found</h1>"
                else:
                    status, headers, body = route() if callable(route) else route
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up on a slow or huge response, as intended

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


def html_page(title: str, body: str, charset: str | None = "utf-8", lang: str = "en") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f'<!doctype html><html lang="{lang}"><head>{meta}<title>{title}</title></head>'
        f"<body><nav><a href='/'>Home</a></nav><main><article><h1>{title}</h1>{body}</article></main>"
        "<footer>footer text</footer></body></html>"
    )


def static_routes(root: Path, base_url: str) -> dict[str, Route]:
    """Every file under ``root`` as a route, with __BASE_URL__ filled in like SiteServer does."""
    routes: dict[str, Route] = {}
    types = {".html": "text/html; charset=utf-8", ".xml": "application/xml", ".txt": "text/plain; charset=utf-8"}
    for path in root.rglob("*"):
        if path.is_file():
            body = path.read_bytes().replace(b"__BASE_URL__", base_url.encode())
            rel = "/" + path.relative_to(root).as_posix()
            routes[rel] = (200, {"Content-Type": types.get(path.suffix, "application/octet-stream")}, body)
    routes["/"] = routes["/index.html"]
    return routes
