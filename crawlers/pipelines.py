"""Item pipelines, one job each, in order:

canonical URL -> exact dedup -> length/language filter -> near-dup -> contract check + write.

Every drop raises DropItem *and* counts ``dataagent/dropped/<reason>`` in the crawl
stats, so crawl_stats.json accounts for every page. Dedup state lives in
``spider.state``, which Scrapy persists in JOBDIR, so a resumed crawl still knows
what it already kept.
"""

from __future__ import annotations

import json
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
from datasketch import MinHashLSH
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.logformatter import LogFormatter, LogFormatterResult
from w3lib.url import canonicalize_url

from crawlers.items import DocumentItem, QAPairItem
from validate.contracts import Document, QAItem
from validate.gate import split_by_contract
from validate.io import read_table, write_records
from validate.quarantine import write_quarantine
from validate.shingles import char_shingle_array, jaccard_sorted, minhash
from validate.text import content_hash, weighted_length

# Query parameters that only track the visitor; two URLs differing in them are one page.
TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid", "_ga", "ref_src", "spm")


class DropLogFormatter(LogFormatter):
    """Scrapy's log formatter, but a dropped item's line says why and which URL without the item itself.

    The stats count every drop by reason, and the line keeps Scrapy's ``Dropped: <reason>: <url>`` form that
    bench/site_truth.py reads; the item's repr after it carried the page's whole text, a few KB of log and
    formatting per near-duplicate page.
    """

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> LogFormatterResult:
        entry = super().dropped(item, exception, response, spider)
        return {**entry, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}


class _Step:
    """Shared plumbing: the crawler (its settings carry every threshold), its stats and persisted state."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> _Step:
        return cls(crawler)

    def state(self, key: str, factory: Any) -> Any:
        spider = self.crawler.spider
        store = spider.__dict__.setdefault("state", {})
        if key not in store:
            store[key] = factory()
        return store[key]

    def drop(self, reason: str, item: Any) -> None:
        self.stats.inc_value(f"dataagent/dropped/{reason}")
        raise DropItem(f"{reason}: {getattr(item, 'url', '')}")


def canonical(url: str) -> str:
    """w3lib's canonical form, minus tracking parameters and the fragment."""
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith(TRACKING_PARAMS)
    ]
    cleaned = urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", urlencode(query), ""))
    return canonicalize_url(cleaned)


class CanonicalUrlPipeline(_Step):
    """Canonicalise URLs and drop a page already kept under another URL (/, /index.html, ?utm=...).

    A declared canonical (``<link rel=canonical>``, else ``og:url``) that names another URL than the page's
    own is believed only when the page kept there has the same text: real sites paste one ``og:url`` into a
    shared template, and taking it at its word dropped 150 distinct pages of one site as ``duplicate_url``.
    Otherwise the page keeps its own URL and ``canonical_differs`` counts it.
    """

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, DocumentItem):
            own = canonical(item.url)
            declared = canonical(item.canonical_url or item.url)
            kept = self.state("canonical_hashes", dict)  # canonical URL -> content hash of the page kept there
            if declared != own:
                self.stats.inc_value("dataagent/canonical_differs")
                if kept.get(declared) != item.content_hash:
                    declared = own
            item.canonical_url = declared
            if declared in kept:
                self.drop("duplicate_url", item)
            kept[declared] = item.content_hash
        return item


class ExactDedupPipeline(_Step):
    """Drop pages (and FAQ pairs) whose normalised text was already kept."""

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if isinstance(item, DocumentItem):
            seen, key, reason = self.state("content_hashes", set), item.content_hash, "duplicate_content"
        elif isinstance(item, QAPairItem):
            seen, key, reason = self.state("qa_hashes", set), content_hash(item.question, item.answer), "duplicate_qa"
        else:
            return item
        if key in seen:
            self.drop(reason, item)
        seen.add(key)
        return item


class FilterPipeline(_Step):
    """Length and language filters (DATAAGENT_MIN_CHARS, DATAAGENT_LANGUAGES; a recipe sets them)."""

    def process_item(self, item: Any, spider: Any = None) -> Any:
        settings = self.crawler.settings
        languages = settings.getlist("DATAAGENT_LANGUAGES")
        if isinstance(item, DocumentItem):
            if weighted_length(item.text) < settings.getint("DATAAGENT_MIN_CHARS"):
                self.drop("too_short", item)
            if languages and item.language not in languages:
                self.drop("language", item)
        elif isinstance(item, QAPairItem) and languages and item.language not in languages:
            self.drop("language", item)
        return item


class NearDupPipeline(_Step):
    """Drop pages whose character 5-gram Jaccard with a kept page reaches DATAAGENT_NEAR_DUP_THRESHOLD.

    MinHash LSH only proposes candidates (with a looser threshold, since banding misses some pairs just
    above its own); each candidate is confirmed on the exact Jaccard of the two pages' shingle sets, because
    the 128-permutation estimate is off by up to ±0.05 and dropped pages of exact Jaccard 0.88 under a 0.9
    threshold. Kept texts are held zlib-compressed for that check (a few KB a page).

    Shingles (character 5-grams of the normalised page, as 64-bit hashes) and signatures come from
    validate.shingles, the gate's own primitives; the gate shingles records differently (words, folded
    punctuation), so only the hashing and the MinHash engine are shared, not the threshold's meaning.
    """

    NUM_PERM = 128
    # Shingle arrays of recently kept pages that candidates were checked against: templated pages keep meeting
    # the same few kept pages, and re-shingling a kept text cost more than the page's own signature.
    CACHED_SHINGLES = 256

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.threshold = crawler.settings.getfloat("DATAAGENT_NEAR_DUP_THRESHOLD")
        self._shingles: OrderedDict[str, np.ndarray] = OrderedDict()

    def _kept_shingles(self, key: str, texts: dict[str, bytes]) -> np.ndarray:
        grams = self._shingles.pop(key, None)
        if grams is None:
            grams = char_shingle_array(zlib.decompress(texts[key]).decode("utf-8"))
            if len(self._shingles) >= self.CACHED_SHINGLES:
                self._shingles.popitem(last=False)
        self._shingles[key] = grams
        return grams

    def process_item(self, item: Any, spider: Any = None) -> Any:
        threshold = self.threshold
        if not isinstance(item, DocumentItem) or threshold >= 1.0:
            return item
        lsh = self.state(
            "near_dup_lsh", lambda: MinHashLSH(threshold=max(0.5, threshold - 0.2), num_perm=self.NUM_PERM)
        )
        texts = self.state("near_dup_texts", dict)
        grams = char_shingle_array(item.text)
        mh = minhash(grams, self.NUM_PERM)
        for key in lsh.query(mh):
            if jaccard_sorted(grams, self._kept_shingles(key, texts)) >= threshold:
                self.drop("near_duplicate", item)
        lsh.insert(item.canonical_url, mh)
        texts[item.canonical_url] = zlib.compress(item.text.encode("utf-8"))
        return item


class ContractWriterPipeline(_Step):
    """Journal items as they come, then check them against their contract and write JSONL + Parquet.

    The journal (``*.journal.jsonl``) is appended to, not rewritten, when the crawl runs
    with JOBDIR, so a stopped and resumed crawl ends with the pages of both runs. Rows
    that break the contract go to ``*.quarantine.*`` (validate.quarantine's schema) with the reason, never
    dropped silently.
    """

    OUTPUTS = (("documents", DocumentItem, Document), ("qa", QAPairItem, QAItem))

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.out_dir = Path(crawler.settings.get("DATAAGENT_OUTPUT_DIR"))
        self.resume = bool(crawler.settings.get("JOBDIR"))
        self.files: dict[type, Any] = {}
        self.summary: dict[str, Any] = {}
        # Written on spider_closed, after Scrapy's own stats (finish_reason, elapsed time) are final.
        crawler.signals.connect(self.write_stats, signal=signals.spider_closed)

    def open_spider(self, spider: Any = None) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        mode = "a" if self.resume else "w"
        for name, item_type, _ in self.OUTPUTS:
            self.files[item_type] = (self.out_dir / f"{name}.journal.jsonl").open(mode, encoding="utf-8")

    def process_item(self, item: Any, spider: Any = None) -> Any:
        fh = self.files.get(type(item))
        if fh is not None:
            # vars(), not asdict(): the items are flat dataclasses, and asdict deep-copies every field first.
            fh.write(json.dumps(vars(item), ensure_ascii=False) + "\n")
            fh.flush()  # a killed crawl keeps every item it had
        return item

    def close_spider(self, spider: Any = None) -> None:
        summary: dict[str, Any] = {}
        for name, item_type, model in self.OUTPUTS:
            self.files[item_type].close()
            journal = self.out_dir / f"{name}.journal.jsonl"
            frame = read_table(journal) if journal.stat().st_size else pd.DataFrame()
            if len(frame):
                # Sorted by URL (stable, so FAQ pairs keep page order): crawl order depends on
                # network timing, and a re-crawl of an unchanged site should write the same file.
                frame = frame.sort_values("url", kind="stable").reset_index(drop=True)
            accepted, quarantined = split_by_contract(frame, model)
            write_records(accepted, self.out_dir / name, model)
            quarantine = self.out_dir / f"{name}.quarantine"
            if len(quarantined):
                write_quarantine(quarantined, quarantine, "crawl", source_file=journal, id_column="url")
            self.stats.set_value(f"dataagent/{name}/kept", len(accepted))
            self.stats.set_value(f"dataagent/{name}/quarantined", len(quarantined))
            summary[name] = {"kept": len(accepted), "quarantined": len(quarantined)}
        self.summary = summary

    def write_stats(self, spider: Any = None, reason: str = "") -> None:
        stats = {k: v for k, v in self.stats.get_stats().items() if isinstance(v, int | float | str)}
        summary = {**self.summary, "finish_reason": reason}
        summary["dropped"] = {
            k.removeprefix("dataagent/dropped/"): v
            for k, v in sorted(stats.items())
            if k.startswith("dataagent/dropped/")
        }
        summary["stats"] = dict(sorted(stats.items()))
        (self.out_dir / "crawl_stats.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
