"""Polite crawling, shipped as a Scrapy add-on so every spider gets it by default.

The add-on sets defaults at "addon" priority, so a recipe or `-s NAME=VALUE` on the
command line still overrides any of them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from time import monotonic

from scrapy import Request, signals
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares import cookies as scrapy_cookies
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro
from scrapy.utils.httpobj import urlparse_cached
from tldextract import TLDExtract

from crawlers.traps import trap_settings


def _version() -> str:
    try:
        return version("dataagent")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0"


class PoliteAddon:
    """robots.txt + Crawl-delay, AutoThrottle, 2 requests per domain (really: see PoliteDownloader),
    an honest User-Agent, HTTP cache, crawler-trap bounds (crawlers/traps.py)."""

    def update_settings(self, settings: object) -> None:
        contact = settings.get("DATAAGENT_CONTACT_URL")
        defaults = {
            "ROBOTSTXT_OBEY": True,
            "AUTOTHROTTLE_ENABLED": True,
            "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
            "USER_AGENT": f"DataAgent/{_version()} (+{contact})",
            # Reproducible re-crawls: a second run over the same URLs reads the cache,
            # not the site. DummyPolicy caches every response it is allowed to store.
            "HTTPCACHE_ENABLED": True,
            "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.DummyPolicy",
            "HTTPCACHE_IGNORE_HTTP_CODES": [500, 502, 503, 504, 408, 429],
        }
        for name, value in defaults.items():
            settings.set(name, value, priority="addon")
        settings.set("DOWNLOADER", "crawlers.polite.PoliteDownloader", priority="addon")
        mws = settings.getdict("DOWNLOADER_MIDDLEWARES")
        # Right after Scrapy's RobotsTxtMiddleware (100), before anything downloads.
        mws.setdefault("crawlers.polite.CrawlDelayMiddleware", 101)
        settings.set("DOWNLOADER_MIDDLEWARES", mws, priority="addon")
        trap_settings(settings)
        offline_public_suffix_list()


def offline_public_suffix_list() -> None:
    """Make Scrapy's cookie handling use tldextract's bundled Public Suffix List.

    Scrapy's CookiesMiddleware builds a module-level TLDExtract that downloads the list on
    first use: offline that is a logged traceback per crawl, online a request to a third
    party in the middle of a polite crawl. The bundled snapshot is fine for telling a
    public suffix from a site's domain; cache_dir=None keeps ~/.cache untouched.
    """
    # A private name: if a Scrapy upgrade renames it, tests/test_crawl_links.py catches the download.
    if hasattr(scrapy_cookies, "_split_domain"):
        scrapy_cookies._split_domain = TLDExtract(include_psl_private_domains=True, suffix_list_urls=(), cache_dir=None)


class CrawlDelayMiddleware:
    """Apply robots.txt Crawl-delay per domain.

    Scrapy parses Crawl-delay but never applies it, and AutoThrottle would shrink any
    delay we set, so the domain's downloader slot gets the delay and concurrency 1, and
    its requests are marked so AutoThrottle leaves that slot alone.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.delays: dict[str, float] = {}
        ua = crawler.settings.get("ROBOTSTXT_USER_AGENT") or crawler.settings.get("USER_AGENT")
        self.user_agent = ua
        crawler.signals.connect(self.robots_parsed, signal=signals.robots_parsed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlDelayMiddleware:
        return cls(crawler)

    def robots_parsed(self, robotparser: object, request: Request) -> None:
        delay = robotparser.crawl_delay(self.user_agent)
        if delay:
            key = self._slot_key(request)
            self.delays[key] = float(delay)
            downloader = self.crawler.engine.downloader
            downloader.per_slot_settings[key] = {"delay": float(delay), "concurrency": 1}
            slot = downloader.slots.get(key)
            if slot is not None:
                slot.delay, slot.concurrency, slot.randomize_delay = float(delay), 1, False
            self.crawler.stats.set_value(f"dataagent/crawl_delay/{key}", float(delay))

    def process_request(self, request: Request, spider: object = None) -> None:
        key = self._slot_key(request)
        delay = self.delays.get(key)
        if delay is not None:
            request.meta["autothrottle_dont_adjust_delay"] = True
            slot = self.crawler.engine.downloader.slots.get(key)
            if slot is not None and slot.delay < delay:
                slot.delay = delay
        return None

    def _slot_key(self, request: Request) -> str:
        return self.crawler.engine.downloader.get_slot_key(request) or urlparse_cached(request).hostname or ""


class PoliteDownloader(Downloader):
    """Scrapy's Downloader with the per-slot concurrency limit actually enforced.

    In Scrapy 2.19 ``_process_queue`` schedules a coroutine per queued request and the
    request only enters ``slot.transferring`` when that coroutine first runs, so one
    pass of the loop starts every queued request at once: with
    CONCURRENT_REQUESTS_PER_DOMAIN=1 we measured 9 requests in flight to one host.
    Reserving the transfer slot before scheduling restores the limit; the rest is
    Scrapy's method unchanged.
    """

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # the fix: _download() adds it again (a set) and removes it
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
