"""A real Scrapy crawl of the sample site served on 127.0.0.1."""

import json

from validate.contracts import Document, QAItem
from validate.io import read_records


def test_crawl_keeps_every_public_page_as_a_valid_document(crawl_dir):
    docs = read_records(crawl_dir / "documents.parquet", Document)
    assert len(docs) >= 30
    assert docs["content_hash"].is_unique
    assert set(docs["language"]) >= {"zh-Hant", "en"}
    assert not docs["url"].str.contains("/private/").any(), "robots.txt Disallow was not obeyed"
    article = docs[docs["url"].str.endswith("/articles/finance-compound-interest.html")].iloc[0]
    assert article["language"] == "zh-Hant"
    assert "\n## " in article["text"], "headings should survive as Markdown"
    assert "© 2025" not in article["text"], "footer boilerplate leaked into main content"
    assert article["published_at"].startswith("20")
    assert article["license"] == "CC BY 4.0"


def test_faq_jsonld_becomes_qa_items(crawl_dir):
    qa = read_records(crawl_dir / "qa.jsonl", QAItem)
    assert len(qa) >= 25
    assert set(qa["origin"]) == {"jsonld"}
    assert set(qa["language"]) >= {"zh-Hant", "en"}
    assert qa["url"].str.contains("/faq/").all()


def test_crawl_stats_count_what_was_dropped(crawl_dir):
    stats = json.loads((crawl_dir / "crawl_stats.json").read_text())
    assert stats["documents"]["quarantined"] == 0
    # index.html and / are the same page: one is kept, the other counted; /private/ is refused.
    assert stats["dropped"].get("duplicate_url", 0) + stats["dropped"].get("duplicate_content", 0) == 1
    assert stats["dropped"]["fetch_error/robots_txt"] == 1
    kept = stats["documents"]["kept"]
    # fetch_error/* are requests that never became a page; every page is kept or dropped for a reason.
    dropped = sum(v for k, v in stats["dropped"].items() if not k.startswith("fetch_error/"))
    assert kept + dropped == stats["stats"]["dataagent/pages"]
    assert stats["stats"]["dataagent/pages"] == 41  # 40 public pages in the sitemap, plus "/"
