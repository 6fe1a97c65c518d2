"""The anchor for bench/crawl_bench.py: plain Scrapy that follows links and extracts nothing."""

import scrapy
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
