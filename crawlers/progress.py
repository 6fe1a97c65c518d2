"""A progress line for a running crawl: pages fetched, kept, dropped, and pages per second.

Scrapy's LogStats writes a line a minute into the log; a user watching `dataagent crawl` needs
the live figures on the terminal instead. This extension reads the crawler's own stats once a
second (nothing is counted twice) and draws them with the project's one progress bar
(validate/progress.py), so DATAAGENT_PROGRESS=0 silences it like every other stage's bar.
"""

from __future__ import annotations

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from validate.progress import bar, progress_enabled


class CrawlProgress:
    """fetched (responses received), kept (pages the spider turned into items), dropped (every counted reason)."""

    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.bar = None
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        if not progress_enabled():
            raise NotConfigured("progress is off (DATAAGENT_PROGRESS=0, or stderr is not a terminal)")
        ext = cls(crawler, crawler.settings.getfloat("DATAAGENT_PROGRESS_INTERVAL", 1.0))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.bar = bar(None, "crawl", unit="page")
        self.loop = task.LoopingCall(self.refresh)
        self.loop.start(self.interval, now=False)

    def figures(self) -> dict[str, int]:
        stats = self.crawler.stats.get_stats()
        dropped = sum(v for k, v in stats.items() if k.startswith("dataagent/dropped/") and isinstance(v, int))
        return {
            "fetched": stats.get("response_received_count", 0),
            "kept": stats.get("item_scraped_count", 0),
            "dropped": dropped + stats.get("item_dropped_count", 0),
            "queued": stats.get("scheduler/enqueued", 0) - stats.get("scheduler/dequeued", 0),
        }

    def refresh(self) -> None:
        f = self.figures()
        self.bar.set_postfix_str(f"kept={f['kept']} dropped={f['dropped']} queued={f['queued']}", refresh=False)
        self.bar.update(f["fetched"] - self.bar.n)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.bar is not None:
            self.refresh()
            self.bar.close()
