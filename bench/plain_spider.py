"""The anchor for bench/crawl_bench.py: plain Scrapy that follows links and extracts nothing.

``CpuClock`` is the extension both crawls of the bench run with: it counts the crawl process's CPU
seconds over the same window as Scrapy's ``elapsed_time_seconds``.
"""

import time

import scrapy
from scrapy import signals
from scrapy.linkextractors import LinkExtractor


class PlainSpider(scrapy.Spider):
    name = "plain"

    def __init__(self, start_urls: str = "", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = start_urls.split(",")
        self.links = LinkExtractor()

    def parse(self, response):
        self.crawler.stats.inc_value("bench/pages")
        for link in self.links.extract_links(response):
            yield response.follow(link.url, callback=self.parse)


class CpuClock:
    """``bench/cpu_seconds``: CPU time of the crawl process (all its threads) from spider_opened to spider_closed.

    Wall-clock pages/s on a shared machine measures the neighbours as much as the crawler; CPU seconds per page
    do not depend on how often the scheduler lets the crawl run. Connected before the item pipelines, so the
    value is set before the writer's spider_closed handler saves the stats (work done at close is counted:
    Scrapy closes the pipelines before it sends spider_closed).
    """

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.start = 0.0
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def opened(self, spider=None):
        self.start = time.process_time()

    def closed(self, spider=None, reason=""):
        self.stats.set_value("bench/cpu_seconds", time.process_time() - self.start)
