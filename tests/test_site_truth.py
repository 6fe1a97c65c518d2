"""The real-site harness's truth rules (bench/site_truth.py) on small inline pages: no network, no crawl."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import site_truth as st  # noqa: E402

DOCBOOK_PAGE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>章 1</title><style>p {color: red}</style></head><body>
<div class="navheader"><a href="index.html">前一頁</a> 導覽列</div>
<div class="chapter"><div class="titlepage"><h1 class="title">章 1. 教學</h1></div>
<div class="toc"><p><strong>目錄</strong></p><a href="ch02.html">第二章</a></div>
<p>你好世界 Hello <b>World</b><script>var x = 1;</script> again</p>
<nav>site menu</nav>
</div>
<div class="navfooter"><a href="ch02.html">下一頁</a></div>
</body></html>"""


def test_tokens_split_han_characters_and_lowercase_words() -> None:
    assert st.tokens("Debian 套件, APT-get 2.0！") == ["debian", "套", "件", "apt", "get", "2", "0"]
    assert st.tokens("ｆｕｌｌwidth") == ["fullwidth"]  # NFKC folds full-width Latin


def test_token_f1_is_a_bag_f1() -> None:
    assert st.token_f1("a b c d", "a b c d") == 1.0
    assert st.token_f1("", "") == 1.0
    assert st.token_f1("a b", "") == 0.0
    # 2 of 4 reference tokens found, 2 of 2 candidate tokens right: P=1, R=0.5.
    assert st.token_f1("中 文 a b", "中 a") == pytest.approx(2 / 3)
    assert st.token_f1("a a b", "a b b") == pytest.approx(2 / 3)


def test_markdown_targets_and_tags_are_not_text() -> None:
    md = "## Title\n\nSee [the guide](http://127.0.0.1:8000/ch01.html#x) and ![logo](img.png)<sup>\\[1\\]</sup>.\n"
    assert st.tokens(st.markdown_to_text(md)) == ["title", "see", "the", "guide", "and", "logo", "1"]


def test_reference_drops_docbook_chrome_and_unshown_text() -> None:
    text = st.reference_text(st.parse_html(DOCBOOK_PAGE.encode()), "docbook")
    assert st.tokens(text) == st.tokens("章 1. 教學 你好世界 Hello World again")


def test_reference_drops_publican_chrome() -> None:
    page = """<html><body><div id="banner"><a href="x">Download the ebook</a></div>
    <p id="title"><a href="index.html">logo</a></p><ul class="docnav top"><li>前一頁</li></ul>
    <div class="section"><div class="para">內容 text</div></div><ul class="docnav"><li>下一頁</li></ul></body></html>"""
    assert st.tokens(st.reference_text(st.parse_html(page.encode()), "publican")) == ["內", "容", "text"]


def _write(root: Path, name: str, body: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>", encoding="utf-8")


def test_reachable_pages_follow_links_robots_and_skip_redirects(tmp_path: Path) -> None:
    links = (
        "<a href='a.html#top'>a</a> <a href='sub/'>sub</a> <a href='private/p.html'>p</a>",
        "<a href='http://elsewhere.example/x.html'>x</a> <a href='move.html'>m</a>",
        "<iframe src='frame.html'></iframe>",
    )
    _write(tmp_path, "index.html", "<p>home</p>" + " ".join(links))
    _write(tmp_path, "a.html", "<p>page a</p><a href='index.html'>back</a><a href='img.png'>png</a>")
    _write(tmp_path, "sub/index.html", "<p>sub page</p>")
    _write(tmp_path, "frame.html", "<p>framed</p>")
    _write(tmp_path, "private/p.html", "<p>secret</p>")
    _write(tmp_path, "orphan.html", "<p>nobody links here</p>")
    (tmp_path / "move.html").write_text(
        "<html><head><meta http-equiv='Refresh' content='0; url=target.html'></head><body></body></html>"
    )
    _write(tmp_path, "target.html", "<p>target</p>")
    (tmp_path / "alias.html").symlink_to(tmp_path / "a.html")
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    pages = st.reachable_pages(tmp_path, "index.html", "docbook")
    assert list(pages) == ["index.html", "a.html", "sub/index.html", "move.html", "frame.html", "target.html"]
    assert [k for k, p in pages.items() if not p.content] == ["move.html"]
    assert st.page_key(tmp_path, tmp_path / "alias.html") == "a.html"


def test_urls_map_to_pages_through_loopback_and_canonical_bases(tmp_path: Path) -> None:
    _write(tmp_path, "index.html", "<p>home</p>")
    _write(tmp_path, "a b.html", "<p>a</p>")
    base, canonical = "http://127.0.0.1:5000", "https://example.org/browse/zh-TW/stable/"
    assert st.url_to_key(tmp_path, "http://127.0.0.1:5000/", base) == "index.html"
    assert st.url_to_key(tmp_path, "http://127.0.0.1:5000/a%20b.html", base) == "a b.html"
    assert st.url_to_key(tmp_path, "https://example.org/browse/zh-TW/stable/a%20b.html", base, canonical) == "a b.html"
    assert st.url_to_key(tmp_path, "http://127.0.0.1:5000/missing.html", base) is None
    assert st.url_to_key(tmp_path, "https://other.example/a%20b.html", base, canonical) is None


def test_faq_questions_from_qandaset_and_faq_sections() -> None:
    page = """<html><body>
    <div class="qandaset"><dl><dt class="question"><span class="label">Q:</span> 如何安裝套件？</dt>
    <dd class="answer"><p>用 apt。</p></dd></dl></div>
    <div class="section"><div class="titlepage"><h2 class="title">2. 常見問題</h2></div>
      <div class="section"><div class="titlepage"><h3 class="title">2.1. 為什麼要用 Debian?</h3></div>
      <p>因為。</p></div>
      <div class="section"><div class="titlepage"><h3 class="title">2.2. 延伸閱讀</h3></div></div></div>
    <div class="section"><div class="titlepage"><h2 class="title">3. Not a FAQ section?</h2></div></div>
    </body></html>"""
    doc = st.parse_html(page.encode())
    assert st.faq_questions(doc) == ["如何安裝套件？", "2.1. 為什麼要用 Debian?"]  # 3. is not under a FAQ title
    faq_doc = """<html><body><div class="chapter"><div class="titlepage"><h1 class="title">Chapter 1. Basics</h1></div>
    <div class="section"><div class="titlepage">
    <h2 class="title">1.3. OK, now I know what Debian is... what is Linux?!</h2></div></div></div></body></html>"""
    assert st.faq_questions(st.parse_html(faq_doc.encode())) == []
    assert st.faq_questions(st.parse_html(faq_doc.encode()), faq_document=True) == [
        "1.3. OK, now I know what Debian is... what is Linux?!"
    ]


def test_question_key_ignores_numbering_labels_and_punctuation() -> None:
    assert st.question_key("1.3. OK, now I know?!") == st.question_key("ok, now I know")
    assert st.question_key("Q: 如何安裝？") == st.question_key("如何安裝?")
    assert st.question_key("I am making a distribution?") == ("i", "am", "making", "a", "distribution")
    assert st.question_key("A.1. Why?") == ("why",)


def test_crash_count_and_log_fates() -> None:
    log = "\n".join(
        [
            "2025-01-01 00:00:00 [scrapy.core.engine] DEBUG: Crawled (200) <GET http://h/a.html> (referer: None)",
            "2025-01-01 00:00:00 [scrapy.core.scraper] WARNING: Dropped: near_duplicate: http://h/b.html",
            "{'url': 'http://h/b.html'}",
            "2025-01-01 00:00:01 [scrapy.core.scraper] ERROR: Spider error processing <GET http://h/c.html>",
            "Traceback (most recent call last):",
            '  File "x.py", line 1',
            "2025-01-01 00:00:02 [py.warnings] WARNING: something odd",
            "Traceback (most recent call last):",
            "2025-01-01 00:00:03 [scrapy.core.engine] INFO: Closing spider (finished)",
        ]
    )
    assert st.count_crashes(log) == 2
    assert st.log_fates(log) == {
        "http://h/a.html": "fetched (200), no document",
        "http://h/b.html": "dropped: near_duplicate",
    }


def test_reference_keeps_the_table_of_contents_of_a_page_that_is_one() -> None:
    entries = "".join(f"<dt><a href='ch{i}.html'>第 {i} 章 教學 tutorial</a></dt>" for i in range(1, 9))
    page = (
        "<html><body><div class='navheader'><a href='ch01.html'>下一頁</a></div><div class='book'>"
        "<div class='titlepage'><h1>手冊</h1><p class='copyright'>版權 2021</p></div>"
        f"<div class='toc'><p><strong>目錄</strong></p><dl class='toc'>{entries}</dl></div></div></body></html>"
    )
    got = st.tokens(st.reference_text(st.parse_html(page.encode()), "docbook"))
    assert got[:7] == st.tokens("手冊 版權 2021 目錄") and got.count("tutorial") == 8
    assert "下" not in got
