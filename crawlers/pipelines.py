"""Item pipelines, one job each: drop exact duplicates, then validate and write contract files."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from scrapy.exceptions import DropItem

from crawlers.items import DocumentItem, QAItem
from validate.contracts import Document
from validate.contracts import QAItem as QAContract
from validate.gate import split_by_contract
from validate.io import write_records, write_table


class ContentHashPipeline:
    """Drop pages whose normalised text was already kept (mirrors, print views, ?utm= copies)."""

    def __init__(self, stats: object) -> None:
        self.stats = stats
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: object) -> ContentHashPipeline:
        return cls(crawler.stats)

    def process_item(self, item: object, spider: object = None) -> object:
        if isinstance(item, DocumentItem):
            if item.content_hash in self.seen:
                self.stats.inc_value("dataagent/dropped/duplicate_content")
                raise DropItem(f"duplicate_content: {item.url}")
            self.seen.add(item.content_hash)
        return item


class ContractWriterPipeline:
    """Collect items, check them against their contract at close, write JSONL + Parquet + stats.

    Rows that break the contract go to a quarantine file with the reason, never dropped silently.
    """

    def __init__(self, out_dir: str, stats: object) -> None:
        self.out_dir = Path(out_dir)
        self.stats = stats
        self.docs: list[dict] = []
        self.qa: list[dict] = []

    @classmethod
    def from_crawler(cls, crawler: object) -> ContractWriterPipeline:
        return cls(crawler.settings.get("DATAAGENT_OUTPUT_DIR"), crawler.stats)

    def process_item(self, item: object, spider: object = None) -> object:
        if isinstance(item, DocumentItem):
            self.docs.append(asdict(item))
        elif isinstance(item, QAItem):
            self.qa.append(asdict(item))
        return item

    def close_spider(self, spider: object = None) -> None:
        summary = {}
        for name, rows, model in (("documents", self.docs, Document), ("qa", self.qa, QAContract)):
            # Sorted by URL (stable, so FAQ pairs keep page order): crawl order depends on
            # network timing, and a re-crawl of an unchanged site should write the same file.
            frame = pd.DataFrame(rows)
            if len(frame):
                frame = frame.sort_values("url", kind="stable").reset_index(drop=True)
            accepted, quarantined = split_by_contract(frame, model)
            write_records(accepted, self.out_dir / name, model)
            if len(quarantined):
                write_table(quarantined, self.out_dir / f"{name}.quarantine")
            self.stats.set_value(f"dataagent/{name}/kept", len(accepted))
            self.stats.set_value(f"dataagent/{name}/quarantined", len(quarantined))
            summary[name] = {"kept": len(accepted), "quarantined": len(quarantined)}
        all_stats = {k: v for k, v in self.stats.get_stats().items() if isinstance(v, (int, float, str))}
        summary["stats"] = {k: v for k, v in sorted(all_stats.items())}
        (self.out_dir / "crawl_stats.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
