"""Question/answer pairs harvested from JSON-LD, microdata and plain HTML FAQ markup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parsel import Selector

from crawlers.faq import extract_qa_pairs
from dataagent.samples import SITE_DIR

BASE = "http://127.0.0.1:8000"


def page(head: str = "", body: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>'


def pairs(html: str) -> list[tuple[str, str, str]]:
    return [(p["question"], p["answer"], p["origin"]) for p in extract_qa_pairs(html, BASE + "/")]


# --- JSON-LD ------------------------------------------------------------------------------------------------------


def test_faqpage_jsonld_strips_html_and_entities_in_answers():
    data = {
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "mainEntity": [
            {
                "@type": "Question",
                "name": "How do I reset my   password?",
                "acceptedAnswer": {
                    "@type": "Answer",
                    "text": "<p>Open <b>Settings</b> &amp; choose <i>Reset</i>.</p><p>Check your e-mail.</p>",
                },
            },
            {
                "@type": "Question",
                "name": "Is support free?",
                "acceptedAnswer": {"@type": "Answer", "text": "Yes &mdash; always."},
            },
        ],
    }
    assert pairs(page(ld(data))) == [
        ("How do I reset my password?", "Open Settings & choose Reset.\nCheck your e-mail.", "jsonld"),
        ("Is support free?", "Yes — always.", "jsonld"),
    ]


def test_faqpage_jsonld_traditional_chinese_single_main_entity():
    data = {
        "@context": "https://schema.org",
        "@type": "FAQPage",
        "mainEntity": {
            "@type": "Question",
            "name": "如何申請退貨？",
            "acceptedAnswer": {"@type": "Answer", "text": "<p>請於七日內登入會員中心提出申請。</p>"},
        },
    }
    assert pairs(page(ld(data))) == [("如何申請退貨？", "請於七日內登入會員中心提出申請。", "jsonld")]


def test_qapage_prefers_accepted_answer():
    data = {
        "@context": "https://schema.org",
        "@type": "QAPage",
        "mainEntity": {
            "@type": "Question",
            "name": "Why does my build fail on CI?",
            "text": "Long body of the question that should not be used as its title.",
            "suggestedAnswer": [{"@type": "Answer", "text": "Reinstall everything.", "upvoteCount": 50}],
            "acceptedAnswer": {"@type": "Answer", "text": "Pin the compiler version.", "upvoteCount": 3},
        },
    }
    assert pairs(page(ld(data))) == [("Why does my build fail on CI?", "Pin the compiler version.", "jsonld")]


def test_qapage_without_accepted_answer_takes_most_upvoted_suggestion():
    data = {
        "@type": "QAPage",
        "mainEntity": {
            "@type": "Question",
            "text": "為什麼網頁載入很慢？",
            "suggestedAnswer": [
                {"@type": "Answer", "text": "重新開機。", "upvoteCount": 1},
                {"@type": "Answer", "text": "請壓縮圖片並啟用快取。", "upvoteCount": "12"},
            ],
        },
    }
    assert pairs(page(ld(data))) == [("為什麼網頁載入很慢？", "請壓縮圖片並啟用快取。", "jsonld")]


def test_graph_nodes_including_id_references():
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "#site", "name": "Example"},
            {"@type": "FAQPage", "@id": "#faq", "mainEntity": [{"@id": "#q1"}, {"@id": "#q2"}]},
            {
                "@type": "Question",
                "@id": "#q1",
                "name": "What is the return window?",
                "acceptedAnswer": {"@type": "Answer", "text": "30 days."},
            },
            {
                "@type": "Question",
                "@id": "#q2",
                "name": "運費如何計算？",
                "acceptedAnswer": {"@type": "Answer", "text": "依重量與配送地區計算。"},
            },
        ],
    }
    assert pairs(page(ld(data))) == [
        ("What is the return window?", "30 days.", "jsonld"),
        ("運費如何計算？", "依重量與配送地區計算。", "jsonld"),
    ]


def test_type_given_as_list_and_top_level_array():
    data = [
        {"@context": "https://schema.org", "@type": "Organization", "name": "Example"},
        {
            "@context": "https://schema.org",
            "@type": ["WebPage", "FAQPage"],
            "mainEntity": [
                {"@type": "Question", "name": "Where are you located?", "acceptedAnswer": {"text": "Taipei."}}
            ],
        },
    ]
    assert pairs(page(ld(data))) == [("Where are you located?", "Taipei.", "jsonld")]


def test_broken_json_block_is_skipped_and_the_good_one_kept():
    broken = '<script type="application/ld+json">{"@type": "FAQPage", "mainEntity": [</script>'
    good = ld(
        {
            "@type": "FAQPage",
            "mainEntity": [{"@type": "Question", "name": "Do you ship abroad?", "acceptedAnswer": {"text": "Yes."}}],
        }
    )
    assert pairs(page(broken + good)) == [("Do you ship abroad?", "Yes.", "jsonld")]


def test_trailing_comma_and_html_comment_around_json_are_tolerated():
    raw = """<script type="application/ld+json"><!--
    {"@type": "FAQPage", "mainEntity": [
      {"@type": "Question", "name": "Can I cancel?", "acceptedAnswer": {"@type": "Answer", "text": "Any time.",},},
    ],}
    --></script>"""
    assert pairs(page(raw)) == [("Can I cancel?", "Any time.", "jsonld")]


# --- microdata ----------------------------------------------------------------------------------------------------


def test_microdata_questions_http_and_https():
    body = """
    <div itemscope itemtype="https://schema.org/FAQPage">
      <div itemscope itemprop="mainEntity" itemtype="https://schema.org/Question">
        <h3 itemprop="name">What payment methods do you accept?</h3>
        <div itemscope itemprop="acceptedAnswer" itemtype="https://schema.org/Answer">
          <div itemprop="text"><p>Credit cards.</p><p>Bank transfer.</p></div>
        </div>
      </div>
      <div itemscope itemprop="mainEntity" itemtype="http://schema.org/Question">
        <span itemprop="name">可以開立統一編號發票嗎？</span>
        <div itemscope itemprop="acceptedAnswer" itemtype="http://schema.org/Answer">
          <span itemprop="text">可以，請於結帳時填寫統一編號。</span>
        </div>
      </div>
    </div>"""
    assert pairs(page(body=body)) == [
        ("What payment methods do you accept?", "Credit cards.\nBank transfer.", "microdata"),
        ("可以開立統一編號發票嗎？", "可以，請於結帳時填寫統一編號。", "microdata"),
    ]


def test_microdata_suggested_answer_when_no_accepted_answer():
    body = """
    <div itemscope itemtype="https://schema.org/Question">
      <h1 itemprop="name">How to exit vim?</h1>
      <div itemscope itemprop="suggestedAnswer" itemtype="https://schema.org/Answer">
        <meta itemprop="upvoteCount" content="2"><div itemprop="text">Unplug the computer.</div>
      </div>
      <div itemscope itemprop="suggestedAnswer" itemtype="https://schema.org/Answer">
        <meta itemprop="upvoteCount" content="900"><div itemprop="text">Type :q and press Enter.</div>
      </div>
    </div>"""
    assert pairs(page(body=body)) == [("How to exit vim?", "Type :q and press Enter.", "microdata")]


# --- plain HTML ---------------------------------------------------------------------------------------------------


def test_details_summary_english_and_traditional_chinese():
    body = """
    <details><summary>What is your refund policy?</summary>
      <p>Full refund within 14 days.</p><p>Shipping is not refunded.</p></details>
    <details><summary> 會員點數 會過期嗎？ </summary><p>點數自取得日起一年內有效。</p></details>"""
    assert pairs(page(body=body)) == [
        ("What is your refund policy?", "Full refund within 14 days.\nShipping is not refunded.", "html"),
        ("會員點數 會過期嗎？", "點數自取得日起一年內有效。", "html"),
    ]


def test_dl_inside_faq_section_is_harvested():
    body = """
    <section class="FAQ-list">
      <dl>
        <dt>Opening hours</dt><dd>Mon–Fri, 9:00–18:00.</dd>
        <dt>營業時間</dt><dd>週一至週五 9:00–18:00。</dd>
      </dl>
    </section>"""
    assert pairs(page(body=body)) == [
        ("Opening hours", "Mon–Fri, 9:00–18:00.", "html"),
        ("營業時間", "週一至週五 9:00–18:00。", "html"),
    ]


def test_dl_with_question_like_terms_outside_faq_section():
    body = """
    <dl>
      <dt>How long does delivery take</dt><dd>Two to three working days.</dd>
      <dt>怎麼追蹤包裹</dt><dd>請使用訂單頁面的追蹤連結。</dd>
      <dt>為什麼需要驗證手機</dt><dd>為了保護帳戶安全。</dd>
    </dl>"""
    assert [q for q, _, _ in pairs(page(body=body))] == [
        "How long does delivery take",
        "怎麼追蹤包裹",
        "為什麼需要驗證手機",
    ]


def test_simplified_chinese_question_word_in_dl():
    body = "<dl><dt>为什么需要实名认证</dt><dd>这是法规要求。</dd></dl>"
    assert pairs(page(body=body)) == [("为什么需要实名认证", "这是法规要求。", "html")]


def test_glossary_dl_is_not_harvested():
    body = """
    <section class="glossary">
      <dl>
        <dt>API</dt><dd>Application programming interface.</dd>
        <dt>Isolation level</dt><dd>How concurrent transactions see each other.</dd>
        <dt>殖利率</dt><dd>股利除以股價的比率。</dd>
      </dl>
    </section>"""
    assert pairs(page(body=body)) == []


def test_heading_question_with_paragraphs_and_list_up_to_next_heading():
    body = """
    <h1>Help centre</h1>
    <h2>Why was my card declined?</h2>
    <p>Your bank may have blocked the payment.</p>
    <p>Then retry.</p>
    <h2>About us</h2>
    <p>We sell books.</p>
    <h3>退貨需要哪些資料？</h3>
    <ul><li>訂單編號</li><li>商品照片</li></ul>
    <div class="ad">Buy now</div>
    <ol><li>寄回商品</li></ol>
    <h3>No answer here?</h3>
    <h3>Last one?</h3><p>Final answer.</p>"""
    assert pairs(page(body=body)) == [
        ("Why was my card declined?", "Your bank may have blocked the payment.\nThen retry.", "html"),
        ("退貨需要哪些資料？", "訂單編號\n商品照片\n寄回商品", "html"),
        ("Last one?", "Final answer.", "html"),
    ]


def test_same_faq_in_jsonld_and_details_is_kept_once_as_jsonld():
    data = {
        "@type": "FAQPage",
        "mainEntity": [
            {"@type": "Question", "name": "如何變更密碼？", "acceptedAnswer": {"text": "請至帳戶設定頁面變更。"}},
        ],
    }
    body = """
    <details><summary>如何變更密碼 ?</summary><p>到「帳戶設定」變更即可。</p></details>
    <details><summary>可以同時登入兩台裝置嗎？</summary><p>可以。</p></details>"""
    assert pairs(page(ld(data), body)) == [
        ("如何變更密碼？", "請至帳戶設定頁面變更。", "jsonld"),
        ("可以同時登入兩台裝置嗎？", "可以。", "html"),
    ]


def test_dedup_ignores_case_whitespace_and_question_mark_and_prefers_microdata_over_html():
    body = """
    <div itemscope itemtype="https://schema.org/Question">
      <h3 itemprop="name">What is   DataAgent?</h3>
      <div itemscope itemprop="acceptedAnswer" itemtype="https://schema.org/Answer">
        <p itemprop="text">A dataset builder.</p>
      </div>
    </div>
    <details><summary>what is dataagent</summary><p>Something else.</p></details>"""
    assert pairs(page(body=body)) == [("What is DataAgent?", "A dataset builder.", "microdata")]


def test_malformed_html_still_yields_pairs():
    html = """<html><body><div class="faq"><p>intro
    <details><summary>Is the <b>API</b> free?</summary><p>Yes, up to 1000 calls
    <h3>付款方式有哪些？<p>信用卡與轉帳。<p>也接受超商付款。
    <dl><dt>Can I export data?<dd>Yes, as CSV.
    </div></span></table>"""
    got = {q: a for q, a, _ in pairs(html)}
    assert got["Is the API free?"].startswith("Yes, up to 1000 calls")
    assert got["付款方式有哪些？"] == "信用卡與轉帳。\n也接受超商付款。"
    assert got["Can I export data?"] == "Yes, as CSV."


@pytest.mark.parametrize("html", ["", "<html></html>", "not html at all", "<<<>>>", "\x00\x01"])
def test_degenerate_input_returns_empty(html):
    assert extract_qa_pairs(html) == []


def test_page_without_faq_returns_empty():
    body = """
    <h1>Quarterly report</h1><h2>Revenue</h2><p>Revenue grew 5%.</p>
    <dl><dt>EBITDA</dt><dd>Earnings before interest, taxes, depreciation and amortisation.</dd></dl>
    <details><summary></summary><p>Orphan content.</p></details>
    <details><summary>Show more</summary></details>"""
    head = ld({"@type": "Article", "headline": "Quarterly report"})
    assert extract_qa_pairs(page(head, body)) == []


# --- the bundled sample site --------------------------------------------------------------------------------------


FAQ_PAGES = sorted((Path(SITE_DIR) / "faq").glob("*.html"))


def test_sample_site_has_faq_pages():
    assert len(FAQ_PAGES) >= 2


@pytest.mark.parametrize("path", FAQ_PAGES, ids=lambda p: p.name)
def test_sample_site_faq_pages_yield_exactly_their_jsonld_items(path):
    html = path.read_text(encoding="utf-8").replace("__BASE_URL__", BASE)
    expected = 0
    for raw in Selector(text=html).xpath('//script[@type="application/ld+json"]/text()').getall():
        data = json.loads(raw)
        if data.get("@type") == "FAQPage":
            expected += len(data["mainEntity"])
    got = extract_qa_pairs(html, f"{BASE}/faq/{path.name}")
    assert len(got) == expected
    assert all(p["origin"] == "jsonld" for p in got)
