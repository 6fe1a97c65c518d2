"""Which links the crawler follows: HTML only, frames, browser-style hrefs, trap bounds, redirects.

Every crawl is a real `scrapy crawl` against a loopback site from dataagent.testing.sites.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from crawlers.run import crawl_site
from crawlers.spiders.site import is_html, whatwg_href
from crawlers.traps import DEFAULTS, TrapMiddleware, date_template
from dataagent.testing.sites import LoggingServer, html_page

SETTINGS = {
    "AUTOTHROTTLE_ENABLED": False,
    "HTTPCACHE_ENABLED": False,
    "RETRY_TIMES": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
}
COOKIE = "s=1; Domain=127.0.0.1; Path=/"
WORDS = "ledger audit invoice pension statute tariff subsidy zoning permit levy appeal quota".split()


def _text(n: int) -> str:
    """A paragraph of its own for page ``n``, long enough to be kept and unlike every other page's."""
    words = [WORDS[(n * 7 + i * (n % 5 + 1)) % len(WORDS)] for i in range(60)]
    return f"Page number {n} explains " + " ".join(words) + f". Reference {n * 7919}."


def _page(body: str, ctype: str = "text/html; charset=utf-8", status: int = 200, **headers: str):
    return (status, {"Content-Type": ctype, **headers}, body.encode("utf-8"))


def _html(n: int, links: str = "") -> tuple:
    return _page(html_page(f"Page {n}", f"<p>{_text(n)}</p>{links}"))


class Routes(dict):
    """Fixed routes plus generated ones: a path prefix maps to a function of the path."""

    def __init__(self, fixed: dict, generated: dict) -> None:
        super().__init__(fixed)
        self.generated = generated

    def get(self, path: str, default: object = None) -> object:
        if path in self:
            return self[path]
        for prefix, make in self.generated.items():
            if path.startswith(prefix):
                return make(path)
        return default


def _events(path: str) -> tuple:
    # /events/2024/05/ links to the month before and after: a calendar without end.
    match = re.fullmatch(r"/events/(\d{4})/(\d{2})/", path)
    if not match:
        return _page("<h1>not found</h1>", status=404)
    month = int(match[1]) * 12 + int(match[2]) - 1
    prev, nxt = divmod(month - 1, 12), divmod(month + 1, 12)
    links = (
        f'<a href="/events/{prev[0]}/{prev[1] + 1:02d}/">prev</a><a href="/events/{nxt[0]}/{nxt[1] + 1:02d}/">next</a>'
    )
    return _html(month, links)


def _loop(path: str) -> tuple:
    # A relative link that nests the page's own folders into itself: /loop/a/b/a/b/...
    return _html(len(path), '<a href="a/b/">again</a>')


def _deep(path: str) -> tuple:
    depth = path.count("/")
    return _html(1000 + depth, f'<a href="d{depth}/">deeper</a>')


def _trap_site() -> tuple[LoggingServer, Routes]:
    months = itertools.count(1)

    def calendar() -> tuple:
        # The server ignores the query, so each fetch links one month further: ?month= without end.
        n = next(months)
        return _html(5000 + n, f'<a href="/cal?month={n + 1}">next</a><a href="/cal?month=-{n}">prev</a>')

    home_links = "".join(
        f'<a href="{href}">link</a>'
        for href in (
            "/data.json",
            "/frames.html",
            "/embed.html",
            "/back/index.html",
            "/plain-html",
            "/plain.txt",
            "/cal",
            "/events/2024/05/",
            "/loop/a/b/",
            "/deep/",
            "/dir/",
            "/dir",
            "/loop1",
            "/hop0",
        )
    )
    fixed = {
        "/robots.txt": _page("User-agent: *\n", "text/plain"),
        # A cookie for a domain makes Scrapy's CookiesMiddleware consult the Public Suffix List.
        "/": _page(
            html_page("Home", f"<p>{_text(0)}</p>{home_links}"), **{"Set-Cookie": "s=1; Domain=127.0.0.1; Path=/"}
        ),
        "/data.json": _page(
            json.dumps({"next": "/from-json.html", "items": [{"url": "/from-json.html"}]}), "application/json"
        ),
        "/from-json.html": _html(1),
        "/frames.html": _page(
            '<!doctype html><html><head><title>Frames</title></head><frameset cols="50%,50%">'
            '<frame src="/framed/left.html"><frame src="framed/right.html"></frameset></html>'
        ),
        "/embed.html": _html(14, '<iframe src="/framed/inner.html" width="300"></iframe>'),
        "/framed/left.html": _html(2),
        "/framed/right.html": _html(3),
        "/framed/inner.html": _html(4),
        "/back/index.html": _html(
            5,
            '<a href="sub\\page.html">backslash</a> <a href="..\\up.html">dot-dot</a>'
            '<a href="\n   /with space.html \t\n">spaces</a> <a href="/split\n/line.html">newline</a>',
        ),
        "/back/sub/page.html": _html(6),
        "/up.html": _html(7),
        "/with%20space.html": _html(8),
        "/split/line.html": _html(9),
        # Served as text/plain but plainly HTML: its links are followed.
        "/plain-html": _page(html_page("Plain", f'<p>{_text(10)}</p><a href="/from-plain.html">x</a>'), "text/plain"),
        "/from-plain.html": _html(11),
        "/plain.txt": _page("Just text, a link-like /not-a-link.html inside.", "text/plain"),
        "/cal": calendar,
        "/dir/": _html(12),
        "/dir": _page("", status=301, Location="/dir/"),
        "/loop1": _page("", status=302, Location="/loop2"),
        "/loop2": _page("", status=302, Location="/loop1"),
        **{f"/hop{i}": _page("", status=302, Location=f"/hop{i + 1}") for i in range(10)},
        "/hop10": _html(13),
    }
    routes = Routes(fixed, {"/events/": _events, "/loop/": _loop, "/deep/": _deep})
    return LoggingServer(routes), routes


@pytest.fixture(scope="module")
def trap_crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("links")
    site, _ = _trap_site()
    with site, pytest.MonkeyPatch.context() as env:
        # Any Public Suffix List download would come here, and be seen.
        env.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", f"{site.base_url}/psl.dat")
        env.setenv("TLDEXTRACT_CACHE", str(out / "tldextract-cache"))
        summary = crawl_site(f"{site.base_url}/", out, settings=SETTINGS)
    return site, summary, (out / "crawl.log").read_text(encoding="utf-8")


def test_json_and_plain_text_are_counted_not_parsed_for_links(trap_crawl):
    site, summary, log = trap_crawl
    assert site.hits["/data.json"] == 1 and "/from-json.html" not in site.hits
    assert summary["dropped"]["not_html"] == 2  # /data.json and /plain.txt
    assert "/not-a-link.html" not in site.hits
    assert site.hits["/from-plain.html"] == 1, "text/plain that is HTML should be parsed as HTML"
    assert "Traceback" not in log and "has no attribute 'iter'" not in log


def test_frames_and_iframes_are_followed(trap_crawl):
    site, _, _ = trap_crawl
    assert site.hits["/framed/left.html"] == site.hits["/framed/right.html"] == site.hits["/framed/inner.html"] == 1


def test_hrefs_are_cleaned_like_a_browser_does(trap_crawl):
    site, _, _ = trap_crawl
    assert site.hits["/back/sub/page.html"] == 1  # sub\page.html
    assert site.hits["/up.html"] == 1  # ..\up.html
    assert site.hits["/with%20space.html"] == 1  # surrounding newlines stripped, space encoded
    assert site.hits["/split/line.html"] == 1  # newline inside dropped
    assert not [p for p in site.hits if "\\" in p or "%5C" in p.upper() or "%0A" in p.upper()]


def test_calendar_and_query_traps_are_bounded_and_counted(trap_crawl):
    site, summary, _ = trap_crawl
    stats = summary["stats"]
    # The home page's link plus at most the default number of query variants.
    assert site.hits["/cal"] == 1 + DEFAULTS["DATAAGENT_TRAP_MAX_QUERY_VARIANTS"]
    assert stats["dataagent/skipped/trap_query"] >= 1
    events = sum(n for p, n in site.hits.items() if p.startswith("/events/"))
    assert events == DEFAULTS["DATAAGENT_TRAP_MAX_CALENDAR_PAGES"]  # the home page's link counts as one
    assert stats["dataagent/skipped/trap_calendar"] >= 1


def test_path_traps_are_bounded_and_counted(trap_crawl):
    site, summary, _ = trap_crawl
    stats = summary["stats"]
    loop = sorted(p for p in site.hits if p.startswith("/loop/"))
    assert loop == ["/loop/a/b/", "/loop/a/b/a/b/"]  # a third a/b repeats "a" three times
    assert stats["dataagent/skipped/trap_repeat"] == 1
    deep = [p for p in site.hits if p.startswith("/deep/")]
    assert max(p.strip("/").count("/") + 1 for p in deep) == DEFAULTS["DATAAGENT_TRAP_MAX_PATH_DEPTH"]
    assert stats["dataagent/skipped/trap_depth"] == 1


def test_redirects_are_labelled_honestly(trap_crawl):
    site, summary, _ = trap_crawl
    dropped = summary["dropped"]
    assert site.hits["/dir"] == 1 and site.hits["/dir/"] == 1
    assert dropped["redirect_to_seen"] == 1  # /dir -> /dir/, already crawled: a duplicate, not an error
    assert dropped["fetch_error/redirect_loop"] == 2  # /loop1 <-> /loop2, and /hop0 past REDIRECT_MAX_TIMES
    assert "/hop10" not in site.hits


def test_every_page_is_kept_or_dropped_for_one_reason(trap_crawl):
    _, summary, _ = trap_crawl
    pages = summary["stats"]["dataagent/pages"]
    page_drops = sum(v for k, v in summary["dropped"].items() if not k.startswith("fetch_error/"))
    assert summary["documents"]["kept"] + page_drops == pages


def test_public_suffix_list_is_never_downloaded(trap_crawl):
    site, _, log = trap_crawl
    assert site.hits["/psl.dat"] == 0
    assert "suffix" not in log.lower() and "tldextract" not in log.lower()


def test_ordinary_site_is_not_touched_by_trap_bounds(tmp_path):
    # Nested doc folders, a few query strings, a news list of 60 ?id= articles with prev/next
    # links between them, dated blog posts and month archives: every page is fetched.
    docs = [f"/docs/{a}/{b}/{c}/page{i}.html" for a in "xy" for b in "pq" for c in range(5) for i in range(6)]
    articles = [f"/article.aspx?id={i}" for i in range(60)]
    months = [f"/blog/{y}/{m:02d}/" for y in (2022, 2023) for m in range(1, 13)]
    posts = [f"/blog/{y}/{m:02d}/post-{y}-{m}.html" for y in (2022, 2023) for m in range(1, 13)]
    routes: dict = {"/robots.txt": _page("User-agent: *\n", "text/plain")}
    index = "".join(f'<a href="{u}">d</a>' for u in docs)
    index += '<a href="/docs/x/p/0/page0.html?lang=en">en</a><a href="/docs/x/p/0/page0.html?print=1">print</a>'
    index += '<a href="/news.aspx">news</a><a href="/blog/">blog</a>'
    routes["/"] = _page(html_page("Home", f"<p>{_text(0)}</p>{index}"))
    for n, url in enumerate(docs, start=1):
        routes[url] = _html(n, '<a href="../../../../../index.html">up</a>')
    routes["/index.html"] = routes["/"]
    routes["/news.aspx"] = _page(
        html_page("News", f"<p>{_text(900)}</p>" + "".join(f'<a href="{u}">a</a>' for u in articles))
    )

    def article() -> tuple:
        # The server ignores ?id=, so every article links to "its" neighbours: 60 distinct variants.
        n = next(counter)
        return _html(1000 + n, f'<a href="/article.aspx?id={(n + 1) % 60}">next</a>')

    counter = itertools.count()
    routes["/article.aspx"] = article
    routes["/blog/"] = _page(html_page("Blog", f"<p>{_text(901)}</p>" + "".join(f'<a href="{u}">p</a>' for u in posts)))
    for k, (month, post) in enumerate(zip(months, posts, strict=True)):
        nav = f'<a href="{months[k - 1]}">prev</a>' if k else ""
        routes[month] = _html(2000 + k, f'{nav}<a href="{post}">post</a>')
        routes[post] = _html(3000 + k, f'<a href="{month}">archive</a>')
    with LoggingServer(routes) as site:
        summary = crawl_site(f"{site.base_url}/", tmp_path, settings=SETTINGS)
    assert not {k for k in summary["stats"] if k.startswith("dataagent/skipped/trap_")}
    expected = {u.split("?")[0] for u in [*docs, *months, *posts, "/news.aspx", "/blog/"]}
    assert expected <= set(site.hits)
    assert site.hits["/article.aspx"] == 60
    assert site.hits["/docs/x/p/0/page0.html"] == 3


def _middleware(**settings: int) -> TrapMiddleware:
    crawler = get_crawler(Spider, settings_dict=settings)
    crawler.spider = Spider("t")
    return TrapMiddleware(crawler)


def test_each_trap_rule_can_be_turned_off():
    off = _middleware(**dict.fromkeys(DEFAULTS, 0))
    on = _middleware(DATAAGENT_TRAP_MAX_PER_DIRECTORY=3)
    base = "http://h.test"
    cases = [
        (f"{base}/a/b/a/b/a/b/", f"{base}/a/b/a/b/", "repeat"),
        (f"{base}/" + "/".join(f"d{i}" for i in range(13)), f"{base}/", "depth"),
    ]
    for url, ref, reason in cases:
        assert on.trap_reason(url, ref) == reason
        assert off.trap_reason(url, ref) is None
    results = [on.trap_reason(f"{base}/cal?m={i}", f"{base}/cal?m={i - 1}") for i in range(31)]
    assert results[:30] == [None] * 30 and results[30] == "query"
    assert {off.trap_reason(f"{base}/cal?m={i}", f"{base}/cal") for i in range(100)} == {None}
    assert on.trap_reason(f"{base}/cal?m=999", f"{base}/list") is None  # linked from another page: never limited
    dirs = [on.trap_reason(f"{base}/wiki/P{i}", f"{base}/") for i in range(4)]
    assert dirs == [None, None, None, "directory"]


def test_date_templates_and_href_cleaning():
    assert date_template("/events/2024/05/") == "/events/{date}/{date}/"
    assert date_template("/cal/2024-05-17") == "/cal/{date}"
    assert date_template("/docs/v2/12/") is None
    assert whatwg_href("  ..\\a\\b.html?q=x\\y#f\\g\n") == "../a/b.html?q=x\\y#f\\g"
    assert whatwg_href("\\\\host\\p") == "//host/p"
    assert whatwg_href("mailto:a\\b") == "mailto:a\\b"
    assert is_html("application/xhtml+xml", b"")
    assert not is_html("application/json", b'{"a": "<html>"}')
    assert is_html("", b"\xef\xbb\xbf\n<!-- x --><!DOCTYPE html><html>")
    assert not is_html("text/plain", b"see <html> tags")
