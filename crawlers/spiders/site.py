"""The recipe-driven site spider: sitemaps and start pages in, DocumentItem and QAPairItem out.

    scrapy crawl site -a recipe=crawlers/recipes/gov_faq.yaml
    scrapy crawl site -a start_url=https://example.org/ -a license="CC BY 4.0"
    scrapy crawl site -a recipe=crawlers/recipes/sample_site.yaml -a base_url=http://127.0.0.1:8000

The spider only fetches and extracts; canonicalisation, dedup, filters, the contract
check and writing are the pipelines' jobs (crawlers/pipelines.py).
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlparse

from lxml.html import HtmlElement
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.linkextractors.lxmlhtml import LxmlParserLinkExtractor
from scrapy.spiders import SitemapSpider
from w3lib.url import canonicalize_url

from crawlers.encoding import is_probably_binary
from crawlers.extract import DEFAULT_MODE, MODES
from crawlers.items import DocumentItem, QAPairItem
from crawlers.recipe import Recipe, adhoc_recipe, load_recipe
from crawlers.workers import ExtractPool, worker_count
from validate.errors import DataAgentError
from validate.text import utc_now


class SiteSpider(SitemapSpider):
    name = "site"

    def __init__(self, recipe: str | Recipe = "", start_url: str = "", base_url: str = "", **kwargs: Any) -> None:
        overrides = {k: kwargs.pop(k) for k in ("license", "source", "max_pages", "max_depth") if k in kwargs}
        if isinstance(recipe, Recipe):
            self.recipe = recipe
        elif recipe:
            self.recipe = load_recipe(recipe, base_url=base_url)
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
        self.links = SiteLinkExtractor(allow=self.recipe.follow, deny=self.recipe.deny)
        self.pool: ExtractPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SiteSpider:
        try:
            spider = super().from_crawler(crawler, *args, **kwargs)
        except DataAgentError as exc:
            # A recipe mistake is the user's to fix: one line says what and where, where Scrapy would print the
            # traceback of its crawl task and still exit 0.
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        # Settings are still open here (Scrapy freezes them after creating the spider),
        # so a recipe's own settings apply with spider priority: above the add-ons'
        # defaults, below -s on the command line.
        for name, value in spider.recipe.settings.items():
            crawler.settings.set(name, value, priority="spider")
        recipe = spider.recipe
        for name, value in (
            ("DATAAGENT_MIN_CHARS", recipe.min_chars),
            ("DATAAGENT_NEAR_DUP_THRESHOLD", recipe.near_dup_threshold),
            ("DATAAGENT_LANGUAGES", recipe.languages),
        ):
            crawler.settings.set(name, value, priority="spider")
        spider.extract_timeout = crawler.settings.getfloat("DATAAGENT_EXTRACT_TIMEOUT", 10.0)
        spider.extract_mode = crawler.settings.get("DATAAGENT_EXTRACT_MODE") or DEFAULT_MODE
        if spider.extract_mode not in MODES:
            raise ValueError(f"DATAAGENT_EXTRACT_MODE must be one of {', '.join(MODES)}, not {spider.extract_mode!r}")
        # Worker processes, not threads: trafilatura is Python under the GIL, so only processes take
        # extraction off the reactor thread (crawlers/workers.py). Started and warmed here, before the
        # crawl's clock starts; 0 workers extracts inline.
        spider.pool = ExtractPool(worker_count(crawler.settings.get("DATAAGENT_EXTRACT_WORKERS")))
        spider.pool.start()
        crawler.signals.connect(spider.pool_opened, signal=signals.spider_opened)
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
        # Every response that reaches here is a page: kept, or dropped for exactly one reason.
        stats.inc_value("dataagent/pages")
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
        if not isinstance(response, TextResponse) or is_probably_binary(response.body, content_type):
            stats.inc_value("dataagent/dropped/not_text")
            return
        if not is_html(content_type, response.body):
            # JSON, XML, CSS, plain text: no page to extract and no links to follow (the
            # link extractor crashes on a JSON selector).
            stats.inc_value("dataagent/dropped/not_html")
            return
        if self.recipe.max_pages and self.pages_seen >= self.recipe.max_pages:
            stats.inc_value("dataagent/dropped/max_pages")
            raise CloseSpider("max_pages")
        self._count_page()
        fetched_at = utc_now()
        args = (
            response.body,
            _header_charset(content_type),
            response.url,
            self.recipe.selectors,
            self.extract_timeout,
            self.extract_mode,
        )
        page = await self.pool.process(*args)
        if self.pool.workers:  # how full the pool ran, and whether a worker died (extract_crash)
            stats.max_value("dataagent/extract_peak_in_flight", self.pool.peak_in_flight)
            stats.max_value("dataagent/extract_pool_restarts", self.pool.restarts)
            # The workers' CPU, for a crawl's whole CPU cost (bench/crawl_bench.py): theirs plus this process's.
            stats.set_value("dataagent/extract_worker_cpu_seconds", round(self.pool.cpu_seconds, 4))
        if page["how"] in ("detected", "fallback"):
            stats.inc_value(f"dataagent/encoding/{page['how']}")
        for part, seconds in page["timings"].items():
            # Per-part cost of extraction (decode, metadata, text, faq), summed over pages: where time goes.
            stats.inc_value(f"dataagent/seconds/{part}", seconds)
        if page.get("metadata_timeout"):  # the page kept its text, without a date
            stats.inc_value("dataagent/metadata_timeout")
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
            yield QAPairItem(
                url=response.url, fetched_at=fetched_at, source=self.recipe.name, license=self.recipe.license, **pair
            )
        hops = response.meta.get("hops", 0)
        if self.recipe.max_depth and hops >= self.recipe.max_depth:
            return
        if not isinstance(response, HtmlResponse):
            # Sniffed as HTML but served as text/plain or without a type: parse it as HTML.
            response = response.replace(cls=HtmlResponse)
        if page["encoding"].replace("-", "").lower() != response.encoding.replace("-", "").lower():
            # Scrapy guessed another charset than the one that decodes the page: extract links from our text.
            response = response.replace(encoding=page["encoding"])
        for link in self.links.extract_links(response):
            yield Request(link.url, callback=self.parse, errback=self.on_error, meta={"hops": hops + 1})

    def pool_opened(self, spider: Any = None) -> None:
        self.crawler.stats.set_value("dataagent/extract_workers", self.pool.workers if self.pool else 0)

    def close_pool(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.close()

    def on_error(self, failure: Any) -> None:
        self.crawler.stats.inc_value(f"dataagent/dropped/fetch_error/{fetch_error_reason(failure.value)}")

    def request_dropped(self, request: Request, spider: Any = None) -> None:
        # A redirect to a URL already seen is filtered by the dupefilter without reaching
        # any errback; counted here so the redirect response is accounted for.
        chain = request.meta.get("redirect_urls")
        if not chain:
            return
        stats = self.crawler.stats
        target = canonicalize_url(request.url)
        if any(canonicalize_url(url) == target for url in chain):
            stats.inc_value("dataagent/dropped/fetch_error/redirect_loop")
        elif request.callback == self.parse:
            # /dir -> /dir/ when /dir/ is already crawled: a second URL of a page we have,
            # counted like duplicate_url as a page that was fetched and dropped.
            stats.inc_value("dataagent/pages")
            stats.inc_value("dataagent/dropped/redirect_to_seen")
        else:
            stats.inc_value("dataagent/dropped/fetch_error/redirect_to_seen")


def fetch_error_reason(exc: BaseException) -> str:
    """A short, stable name for why a request produced no page."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status", None):
        return f"http_{response.status}"
    name = type(exc).__name__
    if name == "IgnoreRequest" and "robots.txt" in str(exc):
        return "robots_txt"
    if name == "IgnoreRequest" and "max redirections" in str(exc):
        return "redirect_loop"  # REDIRECT_MAX_TIMES hops without reaching a page
    if name == "DownloadCancelledError":
        return "too_large"  # Scrapy cancels a body past DOWNLOAD_MAXSIZE
    return {"DownloadTimeoutError": "timeout", "TimeoutError": "timeout"}.get(name, name)


def _header_charset(content_type: str) -> str | None:
    match = re.search(r"charset=([\w.:-]+)", content_type, flags=re.IGNORECASE)
    return match.group(1) if match else None


# MIME types that are HTML whatever the body says, and those that say too little to trust.
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml")
_SNIFFED_TYPES = ("", "text/plain", "application/octet-stream", "application/xml", "text/xml", "unknown/unknown")
# WHATWG MIME sniffing's HTML signatures (plus <meta>, <link>, <frameset>, <?xml + <html>),
# after leading whitespace, a BOM and comments or an XML declaration.
_HTML_START = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body|frameset|script|iframe|h1|div|font|table|a|style|title|b|br|p|meta|link)"
    rb"[\s>/]",
    flags=re.IGNORECASE | re.DOTALL,
)


def is_html(content_type: str, body: bytes) -> bool:
    """Whether a response is an HTML page: by its declared type, else by sniffing its markup."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in _HTML_TYPES or (mime.endswith("html") and "/" in mime):
        return True
    return mime in _SNIFFED_TYPES and bool(_HTML_START.match(body[:1024]))


# Schemes whose URLs treat a backslash as "/" (WHATWG "special" schemes); a relative href does too.
_SPECIAL_OR_RELATIVE = re.compile(r"^(?:(?:https?|ftp|wss?|file):|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")


def whatwg_href(value: str) -> str:
    """Clean an href the way a browser does before resolving it.

    Strips surrounding whitespace and control characters, drops tabs and newlines inside,
    and turns backslashes in the path into slashes (so ``..\\up\\x.html`` resolves its
    ``..`` and ``\\\\host\\p`` is scheme-relative). Percent-encoding of spaces and other unsafe
    characters is left to w3lib's safe_url_string, which the link extractor applies.
    """
    value = _TAB_OR_NEWLINE.sub("", value.strip(_C0_AND_SPACE))
    if "\\" not in value or not _SPECIAL_OR_RELATIVE.match(value):
        return value
    cut = min((i for i in (value.find("?"), value.find("#")) if i >= 0), default=len(value))
    return value[:cut].replace("\\", "/") + value[cut:]


class _WhatwgParserLinkExtractor(LxmlParserLinkExtractor):
    def _iter_links(self, document: HtmlElement) -> Iterable[tuple[HtmlElement, str, str]]:
        # The hook before Scrapy's urljoin: fixing the value after joining is too late for
        # "..\\" segments and "\\\\host" references.
        for el, attr, value in super()._iter_links(document):
            yield el, attr, whatwg_href(value)


class SiteLinkExtractor(LinkExtractor):
    """LinkExtractor for pages: <a>, <area>, <frame> and <iframe>, hrefs cleaned like a browser."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("tags", ("a", "area", "frame", "iframe"))
        kwargs.setdefault("attrs", ("href", "src"))
        super().__init__(**kwargs)
        inner = self.link_extractor
        self.link_extractor = _WhatwgParserLinkExtractor(
            tag=inner.scan_tag,
            attr=inner.scan_attr,
            process=inner.process_attr,
            unique=inner.unique,
            strip=inner.strip,
            canonicalized=True,
        )
