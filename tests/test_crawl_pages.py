"""Which pages a crawl keeps: declared canonicals, near-duplicates by exact Jaccard, metadata off the text's path."""

from __future__ import annotations

import json

import pandas as pd
import trafilatura

from crawlers.extract import canonical_link, extract_document, process_page
from crawlers.run import crawl_site
from dataagent.testing.sites import LoggingServer
from validate.shingles import char_shingles, jaccard

SETTINGS = {"AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False}

# Sentences of a real-looking release-notes page; variants swap some of them.
SENTENCES = [
    f"版本 3.{i} 修正了匯出報表時日期欄位錯置的問題，並改善大量資料匯入的速度，同時更新說明文件第{i}節。"
    for i in range(40)
]


def _html(title: str, body: str, head: str = "") -> bytes:
    return (
        f'<!doctype html><html lang="zh-Hant"><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
        f"<body><nav><a href='/'>首頁</a></nav><main><article><h1>{title}</h1>{body}</article></main></body></html>"
    ).encode()


def _route(body: bytes) -> tuple[int, dict[str, str], bytes]:
    return (200, {"Content-Type": "text/html; charset=utf-8"}, body)


def _crawl(routes: dict, tmp_path) -> tuple[dict, pd.DataFrame]:
    routes = {"/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\n"), **routes}
    with LoggingServer(routes) as site:
        summary = crawl_site(f"{site.base_url}/", tmp_path, settings=SETTINGS)
    return summary, pd.read_json(tmp_path / "documents.jsonl", lines=True)


def test_a_shared_og_url_does_not_collapse_distinct_pages(tmp_path):
    # A site template that pastes one og:url (the section index) into every page.
    og = '<meta property="og:url" content="http://127.0.0.1/news/">'
    pages = {
        f"/news/{i}.html": _route(_html(f"公告{i}", "".join(f"<p>{s}</p>" for s in SENTENCES[i::8]), og))
        for i in range(5)
    }
    index = "".join(f'<p><a href="/news/{i}.html">公告{i}</a>：{SENTENCES[30 + i]}</p>' for i in range(5))
    routes = {"/": _route(_html("首頁", index, og)), **pages}
    summary, docs = _crawl(routes, tmp_path)
    assert len(docs) == 6, summary["dropped"]
    assert "duplicate_url" not in summary["dropped"]
    assert docs["canonical_url"].is_unique
    assert summary["stats"]["dataagent/canonical_differs"] == 6


def test_a_declared_canonical_with_the_same_text_is_a_duplicate(tmp_path):
    body = "".join(f"<p>{s}</p>" for s in SENTENCES[:10])
    routes = {
        "/": _route(_html("首頁", '<p><a href="/a.html">a</a> <a href="/print/a.html">print</a></p>' + body[:200])),
        "/a.html": _route(_html("公告", body)),
        "/print/a.html": _route(_html("公告", body, '<link rel="canonical" href="/a.html">')),
    }
    summary, docs = _crawl(routes, tmp_path)
    assert sorted(docs["url"].str.rsplit("/", n=1).str[-1]) == ["", "a.html"]
    # Dropped as the page of its canonical URL, whichever of the two arrived first.
    assert sum(summary["dropped"].get(k, 0) for k in ("duplicate_url", "duplicate_content")) == 1


def test_canonical_link_wins_over_og_url():
    html = _html(
        "x", "<p>y</p>", '<meta property="og:url" content="http://h/sec/"><link rel="Canonical" href="p.html">'
    )
    assert canonical_link(trafilatura.load_html(html.decode()), "http://h/sec/q.html") == "http://h/sec/p.html"


def test_near_duplicates_are_confirmed_on_exact_jaccard(tmp_path):
    base = SENTENCES[:30]
    close = base[:27] + SENTENCES[30:33]  # three of thirty sentences changed
    closer = base[:29] + ["版本 3.29 修正了匯出報表時日期欄位錯置的問題。"]  # one sentence shortened
    texts = {"/base.html": base, "/close.html": close, "/closer.html": closer}
    exact = {k: jaccard(char_shingles("".join(base)), char_shingles("".join(v))) for k, v in texts.items()}
    assert 0.8 < exact["/close.html"] < 0.9 <= exact["/closer.html"]
    links = "".join(f'<a href="{path}">{path}</a> ' for path in texts)
    routes = {"/": _route(_html("首頁", f"<p>{links}</p>"))}
    routes |= {path: _route(_html("版本說明", "".join(f"<p>{s}</p>" for s in v))) for path, v in texts.items()}
    summary, docs = _crawl(routes, tmp_path)
    kept = set(docs["url"].str.rsplit("/", n=1).str[-1])
    assert summary["dropped"].get("near_duplicate") == 1
    assert "close.html" in kept  # exact Jaccard below the 0.9 threshold: a different page
    assert len({"base.html", "closer.html"} & kept) == 1


def test_page_keeps_its_text_when_metadata_runs_out_of_time():
    # A zero metadata budget is "no limit"; the smallest positive one runs out on any page.
    timings: dict[str, float] = {}
    doc = extract_document(
        _html("公告", "".join(f"<p>{s}</p>" for s in SENTENCES[:5])).decode(),
        "http://h/a.html",
        meta_timeout=1e-6,
        timings=timings,
    )
    assert doc is not None and SENTENCES[0] in doc["text"]
    assert timings.get("metadata_timeout") == 1.0 and doc["title"] == "公告"


def test_process_page_reports_the_cost_of_each_part():
    page = process_page(_html("公告", f"<p>{SENTENCES[0] * 3}</p>"), "utf-8", "http://h/a.html", {}, 10)
    assert set(page["timings"]) >= {"decode", "metadata", "text", "faq"}
    assert json.dumps(page["timings"])  # plain floats, for the crawl stats
