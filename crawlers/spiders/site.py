"""The generic site spider: start pages and sitemaps in, DocumentItem and QAItem out.

    scrapy crawl site -a start_url=http://127.0.0.1:8000/ -a source=sample \
        -a license="CC BY 4.0" -s DATAAGENT_OUTPUT_DIR=out/crawl
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin, urlparse

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.sitemap import Sitemap

from crawlers.extract import extract_document, extract_faq
from crawlers.items import DocumentItem, QAItem
from validate.text import detect_language, utc_now


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(
        self,
        start_url: str = "",
        source: str = "",
        license: str = "",  # noqa: A002 - the recipe's field name
        max_pages: str | int = 0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        if not start_url:
            raise ValueError("site spider needs -a start_url=<url>")
        self.start_url = start_url
        host = urlparse(start_url).hostname or ""
        self.allowed_domains = [host]
        self.source = source or host
        self.license_note = license
        self.max_pages = int(max_pages)
        self.pages_seen = 0
        self.links = LinkExtractor(allow_domains=[host], deny_extensions=None)

    async def start(self):  # noqa: ANN201 - Scrapy's async start protocol
        root = f"{urlparse(self.start_url).scheme}://{urlparse(self.start_url).netloc}"
        yield scrapy.Request(urljoin(root, "/sitemap.xml"), callback=self.parse_sitemap, errback=self.on_error)
        yield scrapy.Request(self.start_url, callback=self.parse, errback=self.on_error)

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        if response.status != 200:
            return
        sitemap = Sitemap(response.body)
        for entry in sitemap:
            loc = entry.get("loc")
            if loc:
                callback = self.parse_sitemap if sitemap.type == "sitemapindex" else self.parse
                yield scrapy.Request(loc, callback=callback, errback=self.on_error)

    def parse(self, response: Response) -> Iterator[object]:
        stats = self.crawler.stats
        if not isinstance(response, TextResponse):
            stats.inc_value("dataagent/dropped/not_text")
            return
        if self.max_pages and self.pages_seen >= self.max_pages:
            stats.inc_value("dataagent/dropped/max_pages")
            return
        self.pages_seen += 1
        stats.inc_value("dataagent/pages")
        fetched_at = utc_now()
        doc = extract_document(response.text, response.url)
        if doc is None:
            stats.inc_value("dataagent/dropped/no_main_text")
        else:
            yield DocumentItem(
                fetched_at=fetched_at,
                http_status=response.status,
                source=self.source,
                license=self.license_note,
                **doc,
            )
        for pair in extract_faq(response.text):
            yield QAItem(
                url=response.url,
                language=detect_language(pair["question"] + " " + pair["answer"]),
                fetched_at=fetched_at,
                source=self.source,
                license=self.license_note,
                **pair,
            )
        for link in self.links.extract_links(response):
            yield response.follow(link.url, callback=self.parse, errback=self.on_error)

    def on_error(self, failure: object) -> None:
        self.crawler.stats.inc_value(f"dataagent/dropped/fetch_error/{type(failure.value).__name__}")
