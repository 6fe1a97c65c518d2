"""The recipe-driven site spider: sitemaps and start pages in, DocumentItem and QAItem out.

    scrapy crawl site -a recipe=crawlers/recipes/gov_faq.yaml
    scrapy crawl site -a start_url=https://example.org/ -a license="CC BY 4.0"

The spider only fetches and extracts; canonicalisation, dedup, filters, the contract
check and writing are the pipelines' jobs (crawlers/pipelines.py).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any
from urllib.parse import urlparse

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import SitemapSpider

from crawlers.encoding import is_probably_binary
from crawlers.extract import process_page
from crawlers.items import DocumentItem, QAItem
from crawlers.recipe import Recipe, adhoc_recipe, load_recipe
from validate.text import utc_now

_WARMUP_HTML = (
    "<html><head><title>t</title><meta property='article:published_time' content='2024-01-02'>"
    "</head><body><article><h1>Warm-up</h1><p>" + "Warm up the extractor. " * 20 + "</p></article></body></html>"
)


def _warm_up() -> None:
    # trafilatura, its date parser and the language model load on first use, for about a
    # second; paid before downloads start, not in the middle of the first responses.
    process_page(_WARMUP_HTML.encode(), "utf-8", "http://localhost/", {}, 0)


class SiteSpider(SitemapSpider):
    name = "site"

    def __init__(self, recipe: str | Recipe = "", start_url: str = "", **kwargs: Any) -> None:
        overrides = {k: kwargs.pop(k) for k in ("license", "source", "max_pages", "max_depth") if k in kwargs}
        if isinstance(recipe, Recipe):
            self.recipe = recipe
        elif recipe:
            self.recipe = load_recipe(recipe)
        elif start_url:
            self.recipe = adhoc_recipe(start_url, name=overrides.pop("source", None))
        else:
            raise ValueError("site spider needs -a recipe=<file.yaml> or -a start_url=<url>")
        for key in ("max_pages", "max_depth"):
            if key in overrides and overrides[key] not in ("", None):
                setattr(self.recipe, key, int(overrides[key]))
        if overrides.get("license"):
            self.recipe.license = str(overrides["license"])
        if overrides.get("source"):
            self.recipe.name = str(overrides["source"])
        self.allowed_domains = self.recipe.allowed_domains
        self.sitemap_urls = list(self.recipe.sitemaps)
        if self.recipe.robots_sitemaps:
            roots = {
                f"{urlparse(u).scheme}://{urlparse(u).netloc}" for u in [*self.recipe.start_urls, *self.recipe.sitemaps]
            }
            self.sitemap_urls += [f"{root}/robots.txt" for root in sorted(roots)]
        super().__init__(**kwargs)
        self.deny = [re.compile(p) for p in self.recipe.deny]
        # No allow_domains here: LinkExtractor compares it with host:port, so a site on a
        # non-default port would never match; Scrapy's OffsiteMiddleware checks hostnames.
        self.links = LinkExtractor(allow=self.recipe.follow, deny=self.recipe.deny)
        _warm_up()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SiteSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Settings are still open here (Scrapy freezes them after creating the spider),
        # so a recipe's own settings apply with spider priority: above the add-ons'
        # defaults, below -s on the command line.
        for name, value in spider.recipe.settings.items():
            crawler.settings.set(name, value, priority="spider")
        spider.extract_timeout = crawler.settings.getfloat("DATAAGENT_EXTRACT_TIMEOUT", 10.0)
        workers = crawler.settings.getint("DATAAGENT_EXTRACT_WORKERS", 0)
        if workers < 0:  # auto: one process per core, the crawl loop shares a core with one of them
            workers = os.cpu_count() or 1
        # Worker processes, not threads: trafilatura is Python under the GIL, so only
        # processes let extraction use the cores that the crawl loop leaves idle.
        spider.pool = (
            ProcessPoolExecutor(workers, mp_context=get_context("forkserver"), initializer=_warm_up)
            if workers
            else None
        )
        crawler.signals.connect(spider.close_pool, signal=signals.spider_closed)
        crawler.signals.connect(spider.request_dropped, signal=signals.request_dropped)
        return spider

    @property
    def pages_seen(self) -> int:
        # Kept in spider.state so a JOBDIR resume continues the max_pages count.
        return getattr(self, "state", {}).get("pages_seen", 0)

    def _count_page(self) -> None:
        state = self.__dict__.setdefault("state", {})
        state["pages_seen"] = state.get("pages_seen", 0) + 1

    async def start(self) -> AsyncIterator[Any]:
        async for request in super().start():
            yield request
        for url in self.recipe.start_urls:
            yield Request(url, callback=self.parse, errback=self.on_error, meta={"hops": 0})

    def sitemap_filter(self, entries: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for entry in entries:
            if any(p.search(entry.get("loc", "")) for p in self.deny):
                self.crawler.stats.inc_value("dataagent/skipped/denied_by_recipe")
                continue
            yield entry

    async def parse(self, response: Response) -> AsyncIterator[object]:
        stats = self.crawler.stats
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
        if not isinstance(response, TextResponse) or is_probably_binary(response.body, content_type):
            stats.inc_value("dataagent/dropped/not_text")
            return
        if self.recipe.max_pages and self.pages_seen >= self.recipe.max_pages:
            stats.inc_value("dataagent/dropped/max_pages")
            raise CloseSpider("max_pages")
        self._count_page()
        stats.inc_value("dataagent/pages")
        fetched_at = utc_now()
        args = (response.body, _header_charset(content_type), response.url, self.recipe.selectors, self.extract_timeout)
        if self.pool is None:
            page = process_page(*args)
        else:
            page = await asyncio.get_running_loop().run_in_executor(self.pool, process_page, *args)
        if page["how"] in ("detected", "fallback"):
            stats.inc_value(f"dataagent/encoding/{page['how']}")
        if page["drop"]:
            stats.inc_value(f"dataagent/dropped/{page['drop']}")
        doc = page["doc"]
        if doc is not None:
            if doc["language"] == "und" and self.recipe.language:
                doc["language"] = self.recipe.language
            yield DocumentItem(
                fetched_at=fetched_at,
                http_status=response.status,
                source=self.recipe.name,
                license=self.recipe.license,
                **doc,
            )
        for pair in page["pairs"]:
            yield QAItem(
                url=response.url, fetched_at=fetched_at, source=self.recipe.name, license=self.recipe.license, **pair
            )
        hops = response.meta.get("hops", 0)
        if self.recipe.max_depth and hops >= self.recipe.max_depth:
            return
        if page["encoding"].replace("-", "").lower() != response.encoding.replace("-", "").lower():
            # Scrapy guessed another charset than the one that decodes the page: extract links from our text.
            response = response.replace(encoding=page["encoding"])
        for link in self.links.extract_links(response):
            yield Request(link.url, callback=self.parse, errback=self.on_error, meta={"hops": hops + 1})

    def close_pool(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def on_error(self, failure: Any) -> None:
        self.crawler.stats.inc_value(f"dataagent/dropped/fetch_error/{fetch_error_reason(failure.value)}")

    def request_dropped(self, request: Request, spider: Any = None) -> None:
        # A redirect back to a URL already fetched is filtered by the dupefilter without
        # reaching any errback; counting it here keeps redirect loops visible in the stats.
        if request.meta.get("redirect_urls"):
            self.crawler.stats.inc_value("dataagent/dropped/fetch_error/redirect_loop")


def fetch_error_reason(exc: BaseException) -> str:
    """A short, stable name for why a request produced no page."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status", None):
        return f"http_{response.status}"
    name = type(exc).__name__
    if name == "IgnoreRequest" and "robots.txt" in str(exc):
        return "robots_txt"
    if name == "DownloadCancelledError":
        return "too_large"  # Scrapy cancels a body past DOWNLOAD_MAXSIZE
    return {"DownloadTimeoutError": "timeout", "TimeoutError": "timeout"}.get(name, name)


def _header_charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w.:-]+)", content_type, flags=re.IGNORECASE)
    return match.group(1) if match else None
