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


# --- questions written as stand-alone blocks and bold lines --------------------------------------------------------


def test_div_header_and_content_blocks_traditional_chinese():
    body = """
    <div class="faq-list">
      <div class="faq-item">
        <div class="header">如何申請會員？</div>
        <div class="content"><p>請至官網填寫申請表。</p><p>審核約需三個工作天。</p></div>
      </div>
      <div class="faq-item">
        <div class="question">可以取消訂單嗎？ <span class="icon">+</span></div>
        <div class="answer"><ul><li>出貨前可以取消</li><li>出貨後請申請退貨</li></ul></div>
      </div>
    </div>"""
    assert pairs(page(body=body)) == [
        ("如何申請會員？", "請至官網填寫申請表。\n審核約需三個工作天。", "html"),
        ("可以取消訂單嗎？", "出貨前可以取消\n出貨後請申請退貨", "html"),
    ]


def test_p_class_q_with_numbered_markers_and_answer_labels_stripped():
    body = """
    <p class="q">Q1. How do I apply?</p>
    <p>A: Fill in the online form.</p>
    <ol><li>Sign in</li><li>Upload your ID</li></ol>
    <p class="q">Q2. Is there a fee?</p>
    <p>Answer: No, it is free.</p>"""
    assert pairs(page(body=body)) == [
        ("How do I apply?", "Fill in the online form.\nSign in\nUpload your ID", "html"),
        ("Is there a fee?", "No, it is free.", "html"),
    ]


def test_bold_question_paragraphs_until_next_question_or_heading():
    body = """
    <article>
      <p><strong>Q: 會員點數如何使用？</strong></p>
      <p>A: 結帳時可直接折抵。</p>
      <p><b>問：點數會過期嗎？</b></p>
      <p>答：自取得日起一年內有效。</p>
      <p>到期前會以簡訊通知。</p>
      <h2>聯絡我們</h2>
      <p>客服電話 0800-000-000。</p>
    </article>"""
    assert pairs(page(body=body)) == [
        ("會員點數如何使用？", "結帳時可直接折抵。", "html"),
        ("點數會過期嗎？", "自取得日起一年內有效。\n到期前會以簡訊通知。", "html"),
    ]


def test_plain_q_and_a_paragraphs_with_fullwidth_markers():
    body = """
    <div>
      <p>Q：如何退貨？</p><p>A：請聯絡客服並提供訂單編號。</p>
      <p>Q１：可以貨到付款嗎？</p><p>Ａ：可以，限本島地區。</p>
      <p>问：支持电子发票吗？</p><p>答：支持。</p>
      <p>Question: Do you ship abroad?</p><p>A. Only to Japan.</p>
    </div>"""
    assert pairs(page(body=body)) == [
        ("如何退貨？", "請聯絡客服並提供訂單編號。", "html"),
        ("可以貨到付款嗎？", "可以，限本島地區。", "html"),
        ("支持电子发票吗？", "支持。", "html"),
        ("Do you ship abroad?", "Only to Japan.", "html"),
    ]


def test_bold_question_lines_separated_by_br_inside_one_paragraph():
    body = """
    <div class="content"><p>
      <b>Q: 如何申請？</b><br>A: 線上申請。<br>需附身分證影本。<br><br>
      <b>Q: 審核要多久？</b><br>A: 約三天。
    </p></div>"""
    assert pairs(page(body=body)) == [
        ("如何申請？", "線上申請。\n需附身分證影本。", "html"),
        ("審核要多久？", "約三天。", "html"),
    ]


def test_accordion_buttons_and_q_badges():
    body = """
    <div class="accordion">
      <button class="accordion">How long does shipping take?</button>
      <div class="panel"><p>Two working days.</p></div>
      <button class="accordion">Can I return an item?</button>
      <div class="panel"><p>Yes, within 7 days.</p></div>
    </div>
    <div class="qa-block">
      <div class="faq-q"><span>Q</span><p>如何重設密碼？</p></div>
      <div class="faq-a"><span>A</span><p>請點選「忘記密碼」。</p></div>
    </div>"""
    assert pairs(page(body=body)) == [
        ("How long does shipping take?", "Two working days.", "html"),
        ("Can I return an item?", "Yes, within 7 days.", "html"),
        ("如何重設密碼？", "請點選「忘記密碼」。", "html"),
    ]


def test_heading_inside_question_wrapper_and_bare_heading_are_each_emitted_once():
    body = """
    <div class="card">
      <div class="card-header"><h5><button>How do I pay?</button></h5></div>
      <div class="collapse"><div class="card-body">By credit card or bank transfer.</div></div>
    </div>
    <section class="faq"><h3>運費怎麼算？</h3><p>依重量計算。</p></section>
    <section class="faq"><h3><strong>Q: 可以自取嗎？</strong></h3><p>可以。</p></section>"""
    assert pairs(page(body=body)) == [
        ("How do I pay?", "By credit card or bank transfer.", "html"),
        ("運費怎麼算？", "依重量計算。", "html"),
        ("可以自取嗎？", "可以。", "html"),
    ]


def test_jsonld_still_wins_over_a_marked_html_copy_of_the_same_question():
    data = {
        "@type": "FAQPage",
        "mainEntity": [{"@type": "Question", "name": "如何退貨？", "acceptedAnswer": {"text": "七日內申請。"}}],
    }
    body = "<p><strong>Q：如何退貨？</strong></p><p>A：請在七天內申請。</p>"
    assert pairs(page(ld(data), body)) == [("如何退貨？", "七日內申請。", "jsonld")]


def test_rhetorical_questions_in_prose_are_not_pairs():
    body = """
    <article>
      <p>Have you ever wondered why the sky is blue? It is Rayleigh scattering.</p>
      <p>Most people ask <strong>why does this matter?</strong> The answer is simple.</p>
      <p>你是否也曾好奇<b>為什麼天空是藍色的？</b>其實原因很簡單。</p>
      <p>真的是這樣嗎？</p>
      <p>研究指出確實如此。</p>
    </article>"""
    assert pairs(page(body=body)) == []


def test_navigation_menus_and_chrome_are_ignored():
    body = """
    <header><div class="question">需要協助嗎？</div><div>撥打客服專線。</div></header>
    <nav><ul><li><a href="/faq"><strong>常見問題?</strong></a></li></ul><p><b>常見問題？</b></p><p>更多說明</p></nav>
    <div class="menu"><p><b>常見問題？</b></p><p>看這裡</p></div>
    <div role="navigation"><p class="q">Need help?</p><p>Visit the help centre.</p></div>
    <ul><li><a href="/faq"><b>常見問題？</b></a></li></ul>
    <footer><p><strong>Q: 如何聯絡我們？</strong></p><p>A: 請寄信。</p></footer>"""
    assert pairs(page(body=body)) == []


def test_questions_without_real_answers_are_dropped():
    body = """
    <div class="faq">
      <p><strong>Q: 如何聯絡客服？</strong></p>
      <p><strong>Where can I buy it?</strong></p>
      <p><a href="/shops">Shop list</a></p>
      <p class="q">運費多少？</p>
      <p>A：</p>
      <div class="question">有其他問題嗎？</div><div class="answer">歡迎來信詢問？</div>
    </div>"""
    assert pairs(page(body=body)) == []


def test_answer_drops_link_only_rows_but_keeps_text_with_links():
    body = """
    <div class="faq">
      <p><b>How do I reset my password?</b></p>
      <p>Use the <a href="/reset">reset page</a>.</p>
      <p><a href="#top">Back to top</a></p>
    </div>"""
    assert pairs(page(body=body)) == [("How do I reset my password?", "Use the reset page.", "html")]


def test_thousands_of_paragraphs_stay_correct():
    items = []
    for i in range(3000):
        if i % 3 == 0:
            items.append(f"<p><strong>Q{i}: 第 {i} 題如何處理？</strong></p><p>A: 第 {i} 題的答案。</p>")
        else:
            items.append(f"<p>普通段落 {i}，沒有問題。</p>")
    body = f"<div class='faq'>{''.join(items)}</div>" + "".join(f"<p>尾段 {i}</p>" for i in range(3000))
    got = pairs(page(body=body))
    assert len(got) == 1000
    assert got[0] == ("第 0 題如何處理？", "第 0 題的答案。\n普通段落 1，沒有問題。\n普通段落 2，沒有問題。", "html")
    assert got[-1] == (
        "第 2997 題如何處理？",
        "第 2997 題的答案。\n普通段落 2998，沒有問題。\n普通段落 2999，沒有問題。",
        "html",
    )


def test_plain_question_paragraph_counts_when_its_answer_is_labelled():
    body = "<p>真的免費嗎？</p><p>答：是的，完全免費。</p><p>Is it safe?</p><p>We think so.</p>"
    assert pairs(page(body=body)) == [("真的免費嗎？", "是的，完全免費。", "html")]


def test_docbook_section_titles_are_questions_with_their_sections_as_answers():
    # The Debian FAQ's layout: an XHTML page, each question a numbered h2 inside div.titlepage wrappers.
    def section(number: str, title: str, body: str) -> str:
        return (
            f'<div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="s{number}"></a>'
            f"{number}.&#160;{title}</h2></div></div></div>{body}</div>"
        )

    html = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter 1</title></head><body>'
        '<div class="chapter"><div class="titlepage"><div><div><h1 class="title">Chapter 1. Overview</h1>'
        "</div></div></div>"
        + section("1.1", "What is this FAQ?", "<p>Frequently asked questions about Debian.</p>")
        + section(
            "1.2",
            "OK, now I know what Debian is... what is Linux?!",
            '<p>Linux is a kernel.</p><div class="itemizedlist"><ul><li><p>free</p></li></ul></div>',
        )
        + section("1.3", "Where to start", "<p>Read the manual.</p>")
        + "</div></body></html>"
    )
    assert pairs(html) == [
        ("What is this FAQ?", "Frequently asked questions about Debian.", "html"),
        ("OK, now I know what Debian is... what is Linux?!", "Linux is a kernel.\nfree", "html"),
    ]
