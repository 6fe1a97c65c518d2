"""Which inference server gets the next request, when the engine is given several (a vLLM fleet).

Every attempt of a request, first try or retry, asks the router for a server: the healthy one
with the fewest requests in flight, ties going round robin in the order the URLs were given.
A retry prefers a server the request has not tried yet, so one dead replica costs a request
one quick failover, not its retries. A server whose attempts fail as a server fails (refused or
dropped connection, timeout, 5xx) ``fail_after`` times in a row is taken out of rotation for
``cooldown`` seconds; then one real request probes it (half-open), and an answer puts it back.
When every server is out at once, ``take`` raises StageFailed: the run stops in one line, as
the engine's fail-fast stop does, with what was answered already in the cache.

With a single server nothing is ever taken out: the engine's own retries and fail-fast decide,
exactly as without a router. Nothing here knows about the cache, whose key never names a server.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from validate.errors import StageFailed

# Failure reasons (synth.engine.failure_reason) that say the server, not the request, is in trouble.
SERVER_FAILURES = frozenset({"connect_error", "connect_timeout", "connection_error", "timeout"})


def is_server_failure(reason: str | None) -> bool:
    """True for a refused, dropped or timed-out connection and any 5xx; False for an answer, a 4xx or a 429."""
    if reason is None:
        return False
    return reason in SERVER_FAILURES or (reason.startswith("http_5") and len(reason) == 8)


def url_phrase(urls: str | Sequence[str]) -> str:
    """'base URL http://a/v1' or 'base URLs http://a/v1, http://b/v1', for messages."""
    if isinstance(urls, str):
        return f"base URL {urls}"
    return f"base URL {urls[0]}" if len(urls) == 1 else f"base URLs {', '.join(urls)}"


@dataclass(eq=False)
class Server:
    """One server in rotation: its clients, its load and its health."""

    url: str
    index: int  # position in the order given: the round-robin order
    clients: list[Any] = field(default_factory=list)  # openai.AsyncOpenAI, one connection pool each
    in_flight: int = 0
    sent: int = 0  # attempts sent to it
    answered: int = 0  # attempts it answered (any HTTP status below 500)
    failed: Counter = field(default_factory=Counter)  # server failures by reason
    consecutive: int = 0  # server failures since its last answer
    last_reason: str = ""
    out_until: float | None = None  # set while out of rotation (monotonic seconds)
    probing: bool = False  # a half-open probe is in flight
    times_out: int = 0

    def client(self, i: int) -> Any:
        return self.clients[i % len(self.clients)]

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "answered": self.answered,
            "failed": dict(self.failed),
            "taken_out": self.times_out,
        }


class Router:
    """Least-loaded routing over ``urls`` with a per-server circuit breaker (see the module docstring).

    ``notice`` gets one line when a server goes out of rotation or comes back; ``clock`` is
    ``time.monotonic`` unless a test gives its own.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        fail_after: int = 5,
        cooldown: float = 30.0,
        notice: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("a router needs at least one server")
        self.servers = [Server(url, i) for i, url in enumerate(urls)]
        self.fail_after, self.cooldown = max(1, fail_after), cooldown
        self.notice, self.clock = notice, clock
        self._cursor = 0
        self._changed = asyncio.Event()

    @property
    def several(self) -> bool:
        return len(self.servers) > 1

    # -- choosing --------------------------------------------------------------------------------------
    def _usable(self, server: Server, now: float) -> bool:
        if server.out_until is None:
            return True
        return now >= server.out_until and not server.probing  # half-open: one probe at a time

    def pick(self, tried: Iterable[Server] = ()) -> Server | None:
        """The server for the next attempt, counted as in flight; None when none is usable right now.

        Raises StageFailed when every server is out of rotation and none is being probed.
        """
        now = self.clock()
        usable = [s for s in self.servers if self._usable(s, now)]
        if not usable:
            if any(s.probing for s in self.servers):
                return None  # a probe's outcome decides: wait for it
            raise StageFailed(self._all_out_message())
        seen = set(tried)
        fresh = [s for s in usable if s not in seen]
        pool = fresh or usable
        n = len(self.servers)
        server = min(pool, key=lambda s: (s.in_flight, (s.index - self._cursor) % n))
        self._cursor = (server.index + 1) % n
        if server.out_until is not None:
            server.probing = True
        server.in_flight += 1
        server.sent += 1
        return server

    async def take(self, tried: Iterable[Server] = ()) -> Server:
        """``pick``, waiting while the only candidates are being probed."""
        tried = tuple(tried)
        while True:
            server = self.pick(tried)
            if server is not None:
                return server
            self._changed.clear()
            await self._changed.wait()

    def has_untried(self, tried: Iterable[Server]) -> bool:
        """Whether a usable server not in ``tried`` is there for a failover right now."""
        seen, now = set(tried), self.clock()
        return any(s not in seen and self._usable(s, now) for s in self.servers)

    # -- outcomes --------------------------------------------------------------------------------------
    def release(self, server: Server, reason: str | None, *, answered: bool = True) -> None:
        """Record an attempt's outcome: ``reason`` is its failure reason (None: a valid HTTP answer).

        ``answered=False`` is an attempt that ended without any outcome (cancelled): load only.
        """
        server.in_flight -= 1
        was_probe, server.probing = server.probing, False
        try:
            if not answered:
                return
            if not is_server_failure(reason):
                server.answered += 1
                server.consecutive = 0
                if server.out_until is not None:
                    server.out_until = None
                    self._say(f"server {server.url} answered again; back in rotation")
                return
            server.failed[reason] += 1
            server.consecutive += 1
            server.last_reason = str(reason)
            if not self.several:
                return  # one server: the engine's retries and fail-fast decide
            if was_probe or (server.out_until is None and server.consecutive >= self.fail_after):
                server.out_until = self.clock() + self.cooldown
                server.times_out += 1
                if not was_probe:
                    left = sum(s.out_until is None for s in self.servers)
                    self._say(
                        f"server {server.url} taken out of rotation after {server.consecutive} consecutive "
                        f"failures ({reason}); {left} of {len(self.servers)} left, it is tried again in "
                        f"{self.cooldown:g} s"
                    )
        finally:
            self._changed.set()

    # -- reporting -------------------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, Any]]:
        """Per server URL: attempts sent, answered, failures by reason, times taken out of rotation."""
        return {s.url: s.stats() for s in self.servers}

    def _all_out_message(self) -> str:
        each = "; ".join(f"{s.url}: {s.consecutive} x {s.last_reason}" for s in self.servers)
        return (
            f"synth stopped: every server is out of rotation after {self.fail_after} consecutive failures "
            f"each ({each}); answers so far are cached, a rerun sends only the rest"
        )

    def _say(self, line: str) -> None:
        if self.notice is not None:
            self.notice(line)


def merge_stats(into: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]) -> None:
    """Add one worker's per-server stats to another's (counts summed, failures by reason)."""
    for url, stats in other.items():
        mine = into.setdefault(url, {"requests": 0, "answered": 0, "failed": {}, "taken_out": 0})
        for key in ("requests", "answered", "taken_out"):
            mine[key] += stats.get(key, 0)
        failed = Counter(mine["failed"])
        failed.update(stats.get("failed") or {})
        mine["failed"] = dict(failed)
