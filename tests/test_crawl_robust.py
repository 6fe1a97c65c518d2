"""Crawler behaviour on hostile and tricky sites, all served on 127.0.0.1 by dataagent.testing.sites."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from crawlers.run import crawl_site
from dataagent.samples import SITE_DIR
from dataagent.testing.sites import LoggingServer, html_page, static_routes

BIG5_TEXT = (
    "臺灣的勞工保險提供生育、傷病、失能、老年及死亡等給付，投保單位應於員工到職當日申報加保。"
    "全民健康保險則由衛生福利部中央健康保險署辦理，民眾就醫時只需出示健保卡並負擔部分負擔。"
    "每年五月是綜合所得稅結算申報期間，納稅義務人可以使用網路申報，也可以臨櫃辦理。"
)
GB_TEXT = (
    "个人所得税的申报流程包括收入汇总、扣除项目确认和税款计算三个步骤。纳税人应当在每年三月一日至六月三十日"
    "之间办理上一年度的综合所得汇算清缴，可以通过手机应用程序或者网页端提交申报表，并保存相关凭证五年。"
    "如果预缴税额高于应纳税额，可以申请退税；如果低于应纳税额，需要补缴税款。"
)
BIG5_TEXT_2 = (
    "租賃契約應載明租金數額、支付日期、押金金額與返還方式，以及房屋修繕的責任歸屬。押金最多不得超過兩個月租金，"
    "租約終止時房東應於點交房屋後返還。若房屋有漏水或電線老舊等影響居住安全的問題，承租人可以定相當期限"
    "催告房東修繕，房東未於期限內修繕時，承租人得自行修繕並請求償還費用，或從租金中扣除。"
)
BIG5_TEXT_3 = (
    "高血壓常被稱為沉默的殺手，因為多數人在早期沒有明顯症狀。建議成年人每年至少量測一次血壓，"
    "量測前應靜坐五分鐘，避免喝咖啡或吸菸。若居家量測的收縮壓經常超過一百三十毫米汞柱，應該就醫評估。"
    "減少鹽分攝取、規律運動、維持理想體重與充足睡眠，都是控制血壓的重要生活習慣。"
)
GB_TEXT_2 = (
    "社会保险包括养老保险、医疗保险、失业保险、工伤保险和生育保险五个险种。用人单位应当自用工之日起三十日内"
    "为职工办理社会保险登记，职工个人缴纳的部分由单位从工资中代扣代缴。参保人员退休后可以按月领取养老金，"
    "跨地区就业时，养老保险关系可以转移接续，缴费年限累计计算，不会因为工作地点变化而中断。"
)
EN_TEXT = (
    "A statute of limitations sets the deadline for bringing a legal claim. Once the period expires, "
    "the claim is usually barred, even if it would otherwise have succeeded. The clock normally starts "
    "when the injury happens or is discovered, and some events pause it. "
)


def _page(status: int, body: str | bytes, ctype: str = "text/html; charset=utf-8", **headers: str):
    data = body.encode("utf-8") if isinstance(body, str) else body
    return (status, {"Content-Type": ctype, **headers}, data)


def _hostile_routes() -> dict:
    links = "".join(
        f'<a href="{p}">{p}</a> '
        for p in [
            "/ok.html",
            "/big5.html",
            "/big5-nodecl.html",
            "/big5-wrong.html",
            "/gb.html",
            "/gb-nodecl.html",
            "/malformed.html",
            "/image.html",
            "/nul.html",
            "/loop1",
            "/missing.html",
            "/error.html",
            "/huge.html",
            "/slow.html",
            "/ok.html?utm_source=x",
            "/copy.html",
        ]
    )
    big5_page = html_page("勞保與健保", f"<p>{BIG5_TEXT}</p>", charset="big5", lang="zh-Hant")
    gb_page = html_page("个人所得税", f"<p>{GB_TEXT}</p>", charset="gb2312", lang="zh-Hans")
    return {
        "/": _page(200, html_page("Home", f"<p>{links}</p>")),
        "/robots.txt": _page(200, "User-agent: *\nDisallow:\n", "text/plain"),
        "/ok.html": _page(200, html_page("Limitations", f"<p>{EN_TEXT}</p>")),
        "/copy.html": _page(200, html_page("Limitations", f"<p>{EN_TEXT}</p>")),  # same text, other URL
        "/big5.html": _page(200, big5_page.encode("big5"), "text/html"),
        "/big5-nodecl.html": _page(
            200, html_page("租約", f"<p>{BIG5_TEXT_2}</p>", charset=None, lang="zh-Hant").encode("big5"), "text/html"
        ),
        "/big5-wrong.html": _page(
            200, html_page("血壓", f"<p>{BIG5_TEXT_3}</p>", charset=None).encode("big5"), "text/html; charset=utf-8"
        ),
        "/gb.html": _page(200, gb_page.encode("gb18030"), "text/html"),
        "/gb-nodecl.html": _page(
            200, html_page("社保", f"<p>{GB_TEXT_2}</p>", charset=None, lang="zh-Hans").encode("gb18030"), "text/html"
        ),
        "/malformed.html": _page(
            200, "<html><body><article><h1>Broken<p>" + EN_TEXT.upper() + "<p>" + EN_TEXT[::-1] + "<div><span><p>"
        ),
        "/image.html": _page(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "image/png"),
        "/nul.html": _page(200, b"<html>\x00\x00\x00" + bytes(range(256)) * 20, "text/html"),
        "/loop1": _page(302, "", Location="/loop2"),
        "/loop2": _page(302, "", Location="/loop1"),
        "/error.html": _page(500, "<h1>boom</h1>"),
        "/huge.html": _page(200, "<html><body>" + "<p>x</p>" * 1_300_000 + "</body></html>"),
        "/slow.html": lambda: (time.sleep(3), _page(200, html_page("Slow", "<p>late</p>")))[1],
    }


@pytest.fixture(scope="module")
def hostile_crawl(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    with LoggingServer(_hostile_routes()) as site:
        summary = crawl_site(
            f"{site.base_url}/",
            out,
            settings={
                "AUTOTHROTTLE_ENABLED": False,
                "DOWNLOAD_TIMEOUT": 1,
                "RETRY_TIMES": 0,
                "HTTPCACHE_ENABLED": False,
                "DOWNLOAD_MAXSIZE": 8 * 1024 * 1024,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
            },
        )
    return out, summary


def test_hostile_site_never_crashes_and_counts_every_reason(hostile_crawl):
    _, summary = hostile_crawl
    dropped = summary["dropped"]
    assert dropped["fetch_error/http_404"] == 1
    assert dropped["fetch_error/http_500"] == 1
    assert dropped["not_text"] == 2  # image/png and the NUL-filled "html"
    assert dropped["duplicate_url"] == 1  # ?utm_source= is the same page
    assert dropped["duplicate_content"] == 1  # /copy.html
    assert dropped["fetch_error/timeout"] == 1  # /slow.html
    assert dropped["fetch_error/too_large"] == 1  # /huge.html, past DOWNLOAD_MAXSIZE
    assert dropped["fetch_error/redirect_loop"] == 1  # /loop1 -> /loop2 -> /loop1


def test_legacy_chinese_charsets_decode_to_the_original_text(hostile_crawl):
    out, _ = hostile_crawl
    docs = pd.read_parquet(out / "documents.parquet").set_index("url")
    by_path = {url.split("/", 3)[3]: row for url, row in docs.iterrows()}
    assert BIG5_TEXT in by_path["big5.html"]["text"]
    assert BIG5_TEXT_2 in by_path["big5-nodecl.html"]["text"]
    assert BIG5_TEXT_3 in by_path["big5-wrong.html"]["text"]
    assert GB_TEXT in by_path["gb.html"]["text"]
    assert GB_TEXT_2 in by_path["gb-nodecl.html"]["text"]
    assert by_path["big5.html"]["language"] == "zh-Hant"
    assert by_path["gb.html"]["language"] == "zh-Hans"
    assert "malformed.html" in by_path


def _sample_server() -> LoggingServer:
    server = LoggingServer({})
    server.routes.update(static_routes(SITE_DIR, server.base_url))
    return server


def test_jobdir_resume_loses_no_page_and_fetches_none_twice(tmp_path):
    settings = {
        "AUTOTHROTTLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "JOBDIR": str(tmp_path / "job"),
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
    }
    with _sample_server() as site:
        first = crawl_site(f"{site.base_url}/", tmp_path / "out", settings={**settings, "CLOSESPIDER_PAGECOUNT": 12})
        assert first["stats"]["finish_reason"] == "closespider_pagecount"
        pages_after_stop = {p for p, n in site.hits.items() if n and p.endswith(".html")}
        second = crawl_site(f"{site.base_url}/", tmp_path / "out", settings=settings)
        assert second["stats"]["finish_reason"] == "finished"
    public = {p for p in site.routes if p.endswith(".html") and not p.startswith("/private/")}
    fetched_twice = {p: n for p, n in site.hits.items() if n > 1 and p != "/robots.txt"}
    assert not fetched_twice, fetched_twice
    assert 5 < len(pages_after_stop) < len(public)
    assert public <= set(site.hits)  # every page fetched across the two runs
    assert "/private/internal-notes.html" not in site.hits
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert len(docs) == second["documents"]["kept"] >= 38
    assert docs["canonical_url"].is_unique


def test_crawl_delay_from_robots_is_applied(tmp_path):
    routes = {
        "/robots.txt": _page(200, "User-agent: *\nCrawl-delay: 1\n", "text/plain"),
        "/": _page(200, html_page("Home", "".join(f'<a href="/p{i}.html">p{i}</a>' for i in range(3)))),
        **{
            f"/p{i}.html": _page(200, html_page(f"P{i}", f"<p>{text}</p>"))
            for i, text in enumerate((EN_TEXT, BIG5_TEXT_2, GB_TEXT_2))
        },
    }
    with LoggingServer(routes) as site:
        summary = crawl_site(
            f"{site.base_url}/", tmp_path, settings={"HTTPCACHE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}
        )
    pages = sorted(t for t, p in site.times if p != "/robots.txt")
    gaps = [b - a for a, b in zip(pages, pages[1:], strict=False)]
    assert len(pages) >= 4 and min(gaps) >= 0.9, gaps
    assert summary["stats"]["dataagent/crawl_delay/127.0.0.1"] == 1.0


def test_recipe_follow_deny_depth_and_selectors(tmp_path):
    routes = {
        "/robots.txt": _page(200, "User-agent: *\n", "text/plain"),
        "/start.html": _page(
            200,
            html_page(
                "Start",
                '<a href="/keep/a.html">a</a><a href="/skip/b.html">b</a>'
                '<a href="/keep/print/c.html">c</a>' + f"<p>{EN_TEXT}</p>",
            ),
        ),
        "/keep/a.html": _page(
            200,
            html_page(
                "A",
                f'<a href="/keep/deeper.html">d</a><p>{EN_TEXT} a</p>'
                '<aside class="ad">BUY NOW special offer</aside>'
                '<time class="pub" datetime="2024-02-03">x</time>',
            ),
        ),
        "/keep/deeper.html": _page(200, html_page("Deeper", f"<p>{EN_TEXT} deeper</p>")),
        "/skip/b.html": _page(200, html_page("B", f"<p>{EN_TEXT} b</p>")),
        "/keep/print/c.html": _page(200, html_page("C", f"<p>{EN_TEXT} c</p>")),
    }
    with LoggingServer(routes) as site:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(
            f"name: test-recipe\nstart_urls: ['{site.base_url}/start.html']\nrobots_sitemaps: false\n"
            "follow: ['/keep/']\ndeny: ['/print/']\nmax_depth: 1\nlicense: test licence\nmin_chars: 50\n"
            "near_dup_threshold: 1.0\n"
            "selectors:\n  main: 'css:article'\n  published_at: 'xpath://time[@class=\"pub\"]/@datetime'\n"
            "settings:\n  AUTOTHROTTLE_ENABLED: false\n  HTTPCACHE_ENABLED: false\n",
            encoding="utf-8",
        )
        summary = crawl_site(str(recipe), tmp_path / "out")
    assert set(site.hits) == {"/robots.txt", "/start.html", "/keep/a.html"}
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet").set_index("title")
    assert docs.loc["A", "published_at"] == "2024-02-03"
    assert set(docs["source"]) == {"test-recipe"} and set(docs["license"]) == {"test licence"}
    assert summary["documents"]["kept"] == 2


def test_bad_recipe_is_one_line(tmp_path):
    from crawlers.recipe import load_recipe
    from validate.errors import DataAgentError

    bad = tmp_path / "bad.yaml"
    bad.write_text("start_urls: ['http://x.test/']\nmax_pages: lots\n", encoding="utf-8")
    with pytest.raises(DataAgentError, match=r"recipe key 'max_pages' expected int, got str \(.*bad.yaml\)"):
        load_recipe(bad)
    bad.write_text("start_url: ['http://x.test/']\n", encoding="utf-8")
    with pytest.raises(DataAgentError, match=r"unknown recipe key 'start_url'"):
        load_recipe(bad)


def test_near_duplicate_pages_are_dropped(tmp_path):
    base = EN_TEXT + BIG5_TEXT + GB_TEXT
    routes = {
        "/robots.txt": _page(200, "User-agent: *\n", "text/plain"),
        "/": _page(200, html_page("Home", '<a href="/a.html">a</a> <a href="/b.html">b</a> <a href="/c.html">c</a>')),
        "/a.html": _page(200, html_page("A", f"<p>{base}</p>")),
        "/b.html": _page(200, html_page("B", f"<p>{base} Updated.</p>")),  # near copy
        "/c.html": _page(200, html_page("C", f"<p>{BIG5_TEXT_3}</p>", lang="zh-Hant")),
    }
    with LoggingServer(routes) as site:
        summary = crawl_site(
            f"{site.base_url}/", tmp_path, settings={"AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False}
        )
    assert summary["dropped"]["near_duplicate"] == 1
    assert json.loads((tmp_path / "crawl_stats.json").read_text())["documents"]["kept"] == 2


def test_per_domain_concurrency_is_enforced(tmp_path):
    # Stock Scrapy 2.19 starts every queued request of a slot at once; PoliteDownloader fixes it.
    routes = {
        "/robots.txt": _page(200, "User-agent: *\n", "text/plain"),
        "/": _page(200, html_page("Home", "".join(f'<a href="/p{i}.html">p{i}</a>' for i in range(12)))),
        **{f"/p{i}.html": _page(200, html_page(f"P{i}", f"<p>{EN_TEXT} {i}</p>")) for i in range(12)},
    }
    with LoggingServer(routes, delay=0.05) as site:
        crawl_site(f"{site.base_url}/", tmp_path, settings={"AUTOTHROTTLE_ENABLED": False, "HTTPCACHE_ENABLED": False})
    assert site.hits["/p11.html"] == 1
    assert site.max_active <= 2


def test_sitemap_index_and_gzip_sitemaps_are_followed(tmp_path):
    import gzip

    def urlset(paths: list[str], base: str) -> bytes:
        locs = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
        return (
            f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'.encode()
        )

    site = LoggingServer({})
    base = site.base_url
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/sm-a.xml</loc></sitemap><sitemap><loc>{base}/sm-b.xml.gz</loc></sitemap>"
        "</sitemapindex>"
    ).encode()
    site.routes.update(
        {
            "/robots.txt": _page(200, f"User-agent: *\nSitemap: {base}/sitemap_index.xml\n", "text/plain"),
            "/sitemap_index.xml": _page(200, index, "application/xml"),
            "/sm-a.xml": _page(200, urlset(["/a.html"], base), "application/xml"),
            "/sm-b.xml.gz": _page(200, gzip.compress(urlset(["/b.html"], base)), "application/gzip"),
            "/a.html": _page(200, html_page("A", f"<p>{EN_TEXT}</p>")),
            "/b.html": _page(200, html_page("B", f"<p>{BIG5_TEXT_2}</p>", lang="zh-Hant")),
        }
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: sm\nsitemaps: ['{base}/robots.txt']\nrobots_sitemaps: false\nmin_chars: 50\n"
        "settings: {AUTOTHROTTLE_ENABLED: false, HTTPCACHE_ENABLED: false}\n",
        encoding="utf-8",
    )
    with site:
        summary = crawl_site(str(recipe), tmp_path / "out")
    assert site.hits["/a.html"] == 1 and site.hits["/b.html"] == 1
    assert summary["documents"]["kept"] == 2


def test_http_cache_makes_a_recrawl_reproducible_and_ua_names_the_project(tmp_path):
    seen_agents: list[str] = []
    routes = {
        "/robots.txt": _page(200, "User-agent: *\n", "text/plain"),
        "/": _page(200, html_page("Home", f'<a href="/a.html">a</a><p>{EN_TEXT}</p>')),
        "/a.html": _page(200, html_page("A", f"<p>{BIG5_TEXT_3}</p>", lang="zh-Hant")),
    }
    with LoggingServer(routes) as site:
        site.on_request = seen_agents.append
        first = crawl_site(f"{site.base_url}/", tmp_path, settings={"AUTOTHROTTLE_ENABLED": False})
        hits_after_first = sum(site.hits.values())
        second = crawl_site(f"{site.base_url}/", tmp_path, settings={"AUTOTHROTTLE_ENABLED": False})
    assert sum(site.hits.values()) == hits_after_first, "the re-crawl went to the site instead of the cache"
    assert second["documents"] == first["documents"]
    assert second["stats"]["httpcache/hit"] >= 2
    assert seen_agents and all(ua.startswith("DataAgent/") and "(+http" in ua for ua in seen_agents)


def test_extraction_time_limit_interrupts_a_stuck_page():
    from crawlers.extract import ExtractTimeoutError, time_limit

    # The loop never ends by itself: reaching the assertion at all is the proof that the limit fired.
    with pytest.raises(ExtractTimeoutError), time_limit(0.2):
        while True:
            pass
