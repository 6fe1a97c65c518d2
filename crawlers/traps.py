"""Crawler-trap bounds: stop following links that a site generates without end.

Calendars with "next month" links, faceted search, session ids in query strings and
relative links that nest a path into itself (/a/b/a/b/...) each cost hundreds of
requests on real sites while yielding nothing new. TrapMiddleware, a spider middleware
the PoliteAddon installs, drops such links before they are scheduled and counts each
skipped URL once under ``dataagent/skipped/trap_<reason>``:

* ``trap_repeat``: a path segment occurs more than DATAAGENT_TRAP_MAX_SEGMENT_REPEATS times
* ``trap_depth``: the path has more than DATAAGENT_TRAP_MAX_PATH_DEPTH segments
* ``trap_query``: more than DATAAGENT_TRAP_MAX_QUERY_VARIANTS query strings of one path
* ``trap_calendar``: more than DATAAGENT_TRAP_MAX_CALENDAR_PAGES dates of one dated path
  (/events/2024/05/, /cal/2024-05-17)
* ``trap_directory``: more than DATAAGENT_TRAP_MAX_PER_DIRECTORY pages in one directory

Every limit is a setting; 0 turns that rule off. The query and calendar limits hold only
for links from a page to a variant of its own path (or date template): that is how a
trap grows, one generated page at a time. A list page linking to hundreds of
``article.aspx?id=N`` pages is how many government and news sites are built, and is
never limited. A link skipped here can still be fetched when another page links to it.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, int] = {
    "DATAAGENT_TRAP_MAX_QUERY_VARIANTS": 30,
    "DATAAGENT_TRAP_MAX_CALENDAR_PAGES": 30,
    "DATAAGENT_TRAP_MAX_PATH_DEPTH": 12,
    "DATAAGENT_TRAP_MAX_SEGMENT_REPEATS": 2,
    # Off: a wiki or a product catalogue keeps thousands of real pages in one directory.
    "DATAAGENT_TRAP_MAX_PER_DIRECTORY": 0,
}

# A year (1800-2999), optionally with month and day: 2024, 2024-05, 2024_05_17, 20240517.
_DATE_SEGMENT = re.compile(r"^(1[89]|2\d)\d\d([-_.]?(0?[1-9]|1[0-2])([-_.]?(0?[1-9]|[12]\d|3[01]))?)?$")
_DAY_OR_MONTH = re.compile(r"^\d{1,2}$")


def path_segments(path: str) -> list[str]:
    """The non-empty segments of a URL path (``//`` adds no depth)."""
    return [s for s in path.split("/") if s]


def date_template(path: str) -> str | None:
    """``path`` with its date segments replaced by ``{date}``; None when it has none.

    A month or day segment counts only right after a year, so /docs/v2/12/ stays a path.
    """
    out: list[str] = []
    dated = after_year = False
    for seg in path.split("/"):
        if _DATE_SEGMENT.match(seg) or (after_year and _DAY_OR_MONTH.match(seg)):
            out.append("{date}")
            dated = after_year = True
        else:
            out.append(seg)
            after_year = False
    return "/".join(out) if dated else None


class TrapMiddleware(BaseSpiderMiddleware):
    """Drop links into crawler traps before they are scheduled; see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        limit = {name: crawler.settings.getint(name, default) for name, default in DEFAULTS.items()}
        self.max_query = limit["DATAAGENT_TRAP_MAX_QUERY_VARIANTS"]
        self.max_calendar = limit["DATAAGENT_TRAP_MAX_CALENDAR_PAGES"]
        self.max_depth = limit["DATAAGENT_TRAP_MAX_PATH_DEPTH"]
        self.max_repeats = limit["DATAAGENT_TRAP_MAX_SEGMENT_REPEATS"]
        self.max_per_dir = limit["DATAAGENT_TRAP_MAX_PER_DIRECTORY"]
        self.skipped: set[str] = set()
        self.logged: set[tuple[str, str]] = set()

    def _state(self) -> dict[str, dict[str, set[str]]]:
        # In spider.state, which Scrapy persists with JOBDIR: a resumed crawl keeps its bounds.
        store = self.crawler.spider.__dict__.setdefault("state", {})
        return store.setdefault("traps", {"query": {}, "calendar": {}, "directory": {}})

    def get_processed_request(self, request: Request, response: Response | None) -> Request | None:
        if response is None or request.dont_filter:
            return request  # start URLs and requests that insist on being fetched
        domains = getattr(self.crawler.spider, "allowed_domains", None)
        if domains and not _on_domains(request.url, domains):
            return request  # OffsiteMiddleware's to count, not a trap
        reason = self.trap_reason(request.url, response.url)
        if reason is None:
            return request
        if request.url not in self.skipped:
            self.skipped.add(request.url)
            self.crawler.stats.inc_value(f"dataagent/skipped/trap_{reason}")
        return None

    def trap_reason(self, url: str, referrer: str) -> str | None:
        """Why ``url``, linked from ``referrer``, is not followed; None to follow it.

        Records ``url`` as a seen variant when it is followed, so call it once per link.
        """
        parts, ref = urlsplit(url), urlsplit(referrer)
        host, path = parts.netloc.lower(), parts.path or "/"
        segments = path_segments(path)
        if self.max_repeats and segments and max(segments.count(s) for s in set(segments)) > self.max_repeats:
            return self._log("repeat", f"{host}{path}", f"a path segment repeated more than {self.max_repeats} times")
        if self.max_depth and len(segments) > self.max_depth:
            return self._log("depth", f"{host}{path}", f"a path deeper than {self.max_depth} segments")
        state = self._state()
        same_host = host == ref.netloc.lower()
        template = date_template(path)
        if self.max_calendar and template is not None:
            key = f"{host}{template}"
            own = same_host and template == date_template(ref.path or "/")
            if not _admit(state["calendar"], key, f"{path}?{parts.query}", self.max_calendar, enforce=own):
                return self._log("calendar", key, f"more than {self.max_calendar} dates of one path")
        elif self.max_query and parts.query:
            key = f"{host}{path}"
            own = same_host and path == (ref.path or "/")
            if not _admit(state["query"], key, parts.query, self.max_query, enforce=own):
                return self._log("query", key, f"more than {self.max_query} query strings of one path")
        if self.max_per_dir:
            key = f"{host}{path.rsplit('/', 1)[0]}/"
            if not _admit(state["directory"], key, path, self.max_per_dir):
                return self._log("directory", key, f"more than {self.max_per_dir} pages in one directory")
        return None

    def _log(self, reason: str, key: str, what: str) -> str:
        if (reason, key) not in self.logged:  # once per trap, not once per link
            self.logged.add((reason, key))
            logger.info("Crawler trap at %s: %s, links skipped (DATAAGENT_TRAP_* settings)", key, what)
        return reason


def _on_domains(url: str, domains: list[str]) -> bool:
    # By hostname: scrapy.utils.url.url_is_from_any_domain compares host:port, so a site
    # on a non-default port would never match.
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


def _admit(seen: dict[str, set[str]], key: str, variant: str, limit: int, enforce: bool = True) -> bool:
    # Every variant is recorded, so links from list pages fill the count too, but only a
    # page generating variants of itself is held to the limit.
    variants = seen.setdefault(key, set())
    if variant in variants:
        return True  # the dupefilter's business, not a new variant
    if enforce and len(variants) >= limit:
        return False
    variants.add(variant)
    return True


def trap_settings(settings: Any) -> None:
    """Set the DATAAGENT_TRAP_* defaults at add-on priority and install TrapMiddleware."""
    for name, value in DEFAULTS.items():
        settings.set(name, value, priority="addon")
    mws = settings.getdict("SPIDER_MIDDLEWARES")
    # Above DepthMiddleware (900): a skipped link never reaches the depth stats.
    mws.setdefault("crawlers.traps.TrapMiddleware", 950)
    settings.set("SPIDER_MIDDLEWARES", mws, priority="addon")
