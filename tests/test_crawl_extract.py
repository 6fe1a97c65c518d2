"""Main-text fixes over trafilatura (crawlers/extract.py), each on a fixture shaped like the real page that
needed it."""

from __future__ import annotations

import lxml.html
import trafilatura

from crawlers.extract import extract_document, prepare_paragraphs, prepare_tables, restore_headings

ANSWER = (
    "\nThere is only one usual catch: the system C libraries are built with the most\nrecent "
    '<span class="emphasis"><em>stable</em></span> releases of the <span class="strong"><strong>kernel</strong>'
    "</span> headers.  If you happen to need to build a\nprogram with kernel headers newer than those of the "
    "stable branch, then\nyou should either upgrade the package that contains the headers "
    '(<code class="systemitem">linux-libc-dev</code><a id="idm1783" class="indexterm"></a>), or use the new '
    "headers from an\nunpacked tree of the newer kernel.  That is, if the kernel sources are in\n"
    '<code class="filename">/usr/src/linux</code>, then you should add\n'
    '<code class="literal">-I/usr/src/linux/include/</code> to your command line when\ncompiling.\n'
)


def _docbook_chapter() -> str:
    # The Debian FAQ's chunked DocBook chapter: the chapter title over a table of contents that trafilatura
    # drops, then a section whose answer starts with a one-word paragraph.
    titles = [
        "10.1.\u00a0Can I install and compile a kernel without some Debian-specific tweaking?",
        "10.2. What tools does Debian provide to build custom kernels?",
        "10.3. What special provisions does Debian provide to deal with modules?",
        "10.4. Can I safely de-install an old kernel package, and if so, how?",
        "10.5. Where can I get more information about Linux packages for Debian?",
    ]
    toc = "".join(
        f'<dt><span class="section"><a href="kernel.html#s{i}">{t}</a></span></dt>' for i, t in enumerate(titles, 1)
    )
    section = (
        '<div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="s{n}"></a>{title}</h2>'
        "</div></div></div>{body}</div>"
    )
    return (
        "<html><head><title>Chapter 10. Debian and the kernel</title></head><body>"
        '<div class="navheader"><a href="prev.html">Prev</a> <a href="next.html">Next</a></div>'
        '<div class="chapter"><div class="titlepage"><div><div><h1 class="title"><a id="kernel"></a>'
        "Chapter 10. Debian and the kernel</h1></div></div></div>"
        f'<div class="toc"><p><strong>Table of Contents</strong></p><dl class="toc">{toc}</dl></div>'
        + section.format(n=1, title=titles[0], body=f"<p>\nYes.\n</p><p>{ANSWER}</p>")
        + "</div></body></html>"
    )


def test_a_title_over_a_short_answer_and_the_chapter_title_above_it_come_back():
    doc = extract_document(_docbook_chapter(), "http://h/kernel.html")
    assert doc is not None
    text = doc["text"]
    chapter = text.find("# Chapter 10. Debian and the kernel")
    first = text.find("## 10.1. Can I install and compile a kernel")
    assert 0 <= chapter < first < text.find("Yes.") < text.find("only one usual catch")
    assert "Table of Contents" not in text


def test_restore_headings_reads_across_short_lines_and_chains_titles():
    long_line = "The new kernel package will be created one level above the source tree."
    text = f"Yes.\n\n{long_line}\n\nAnother paragraph that was kept."
    headings = [
        (1, "Chapter 1. Kernel", "Table of Contents 1.1 Section"),  # followed by text that was dropped
        (2, "1.1. Can I compile a kernel?", "Yes. " + long_line),
    ]
    assert restore_headings(headings, text) == f"# Chapter 1. Kernel\n\n## 1.1. Can I compile a kernel?\n\n{text}"


def test_a_dropped_heading_of_a_lower_rank_is_not_pulled_before_the_next_heading():
    text = "# Main title\n\nThe article text that trafilatura kept, long enough to be keyed."
    headings = [
        (3, "Popular posts", "Ten things you did not know about kernels"),  # a sidebar before the article
        (1, "Main title", "The article text that trafilatura kept"),
    ]
    assert restore_headings(headings, text) == text


def _manual_page(body: str, paragraphs: int = 6) -> str:
    intro = "".join(
        f"<p>Paragraph {i} of the chapter explains how the desktop environment is installed and configured.</p>"
        for i in range(paragraphs)
    )
    return (
        "<html><head><title>Chapter 7. GUI system</title></head><body><div class='chapter'>"
        f"<h1>Chapter 7. GUI system</h1>{intro}{body}<p>The chapter goes on after the box with more prose.</p>"
        "</div></body></html>"
    )


def _admonition(kind: str, content: str) -> str:
    # DocBook's note/tip/warning: a two-row layout table, an icon cell, a label cell and a cell of content.
    return (
        f'<div class="{kind.lower()}" style="margin-left: 0.5in; margin-right: 0.5in;">'
        f'<table border="0" summary="{kind}"><tr><td rowspan="2" align="center" valign="top">'
        f'<img alt="[{kind}]" src="images/{kind.lower()}.png"/></td><th align="left">{kind}</th></tr>'
        f'<tr><td align="left" valign="top">{content}</td></tr></table></div>'
    )


def test_a_box_laid_out_as_a_table_keeps_its_label_and_its_list():
    steps = "".join(
        f"<li class='listitem'><p>Move the cursor to item {n} and press Enter.</p></li>" for n in ("Tasks", "End-user")
    )
    box = _admonition(
        "Tip", f"<p>The task packages may lag behind; adjust the selection as follows:</p><ul>{steps}</ul>"
    )
    doc = extract_document(_manual_page(box), "http://h/ch07.html")
    assert doc is not None
    text = doc["text"]
    assert "**Tip** The task packages may lag behind" in text
    assert "Move the cursor to item Tasks and press Enter." in text
    assert "Move the cursor to item End-user and press Enter." in text


def test_a_data_table_of_links_is_kept():
    # The Debian Reference's package tables: name, popularity and size are links, then a type and a short note
    # that often links too (laid out over several lines, as the generator writes it).
    rows = "".join(
        "<tr>\n"
        f'<td style="text-align: left">\n<a class="ulink" href="http://packages.debian.org/sid/p{i}">\n'
        f'<code class="literal">package-{i}</code> </a>\n</td>\n'
        f'<td style="text-align: left">\n<a class="ulink" href="http://qa.debian.org/popcon-graph.php?packages=p{i}">'
        f"V:{i}, I:{i * 7}</a>\n</td>\n"
        f'<td style="text-align: left">\n<a class="ulink" href="http://packages.qa.debian.org/p/p{i}.html">{1000 + i}'
        "</a>\n</td>\n"
        '<td style="text-align: left"> GTK </td>\n'
        f'<td style="text-align: left"> mail client {i} (<a class="ulink" href="https://en.wikipedia.org/wiki/M{i}">'
        f"Mail {i}</a>) </td>\n</tr>\n"
        for i in range(40)
    )
    table = (
        '<div class="table"><p class="title"><strong>Table 7.3. Notable GUI applications</strong></p>'
        '<div class="table-contents"><table class="table" summary="Notable GUI applications" border="1"><thead>'
        "<tr><th> package </th><th> popcon </th><th> size </th><th> type </th><th> description </th></tr></thead>\n"
        f"<tbody>{rows}</tbody></table></div></div>"
    )
    # A long chapter: on a short page trafilatura's fallback extractors would bring the table back anyway.
    doc = extract_document(_manual_page(table, paragraphs=40), "http://h/ch07.html")
    assert doc is not None
    assert "package-5" in doc["text"] and "mail client 5" in doc["text"] and "V:5, I:35" in doc["text"]


def test_a_navigation_table_keeps_its_links_for_trafilatura_to_judge():
    nav = (
        "<table><tr><td><a href='/a'>Home</a></td><td><a href='/b'>News</a></td></tr>"
        "<tr><td><a href='/c'>About</a></td><td><a href='/d'>Contact</a></td></tr>"
        "<tr><td><a href='/e'>Jobs</a></td><td><a href='/f'>Press</a></td></tr></table>"
    )
    tree = prepare_tables(lxml.html.fromstring(f"<html><body>{nav}</body></html>"))
    assert len(tree.xpath("//table//a")) == 6


def _front_page(entries: int = 12) -> str:
    # A DocBook book's front page (the Debian FAQ's index): title page, then the table of contents that is what
    # the page is for, between the prev/next bars.
    toc = "".join(
        f'<dt><span class="chapter"><a href="ch{i}.html">{i}. Chapter number {i} of the book</a></span></dt>'
        f'<dd><dl><dt><span class="section"><a href="ch{i}.html#s1">{i}.1. What is question one of chapter {i}?'
        f'</a></span></dt><dt><span class="section"><a href="ch{i}.html#s2">{i}.2. How is the second one '
        f"answered?</a></span></dt></dl></dd>"
        for i in range(1, entries + 1)
    )
    return (
        "<html><head><title>The Debian GNU/Linux FAQ</title></head><body>"
        '<div class="navheader"><table><tr><td><a href="ch1.html">Next</a></td></tr></table></div>'
        '<div class="book"><div class="titlepage"><div><div><h1 class="title"><a id="idm1"></a>'
        'The Debian GNU/Linux FAQ</h1></div><div><p class="copyright">Copyright © 1996-2021 Software in the '
        'Public Interest</p></div><div><div class="abstract"><p>This document answers questions frequently asked '
        "about Debian GNU/Linux.</p></div></div></div></div>"
        f'<div class="toc"><p><strong>Table of Contents</strong></p><dl class="toc">{toc}</dl></div></div>'
        '<div class="navfooter"><table><tr><td><a href="ch1.html">Next</a></td></tr></table></div></body></html>'
    )


def test_a_page_that_is_a_table_of_contents_keeps_its_entries():
    doc = extract_document(_front_page(), "http://h/index.html")
    assert doc is not None
    text = doc["text"]
    assert "This document answers questions" in text
    assert "Chapter number 3 of the book" in text and "12.2. How is the second one answered?" in text
    assert text.find("Chapter number 1 of") < text.find("1.1. What is question one of chapter 1?")
    assert "Next" not in text  # the prev/next bars stay out


def test_an_article_does_not_take_in_its_sidebar_link_list():
    menu = "".join(f"<li><a href='/p{i}'>Another post title number {i}</a></li>" for i in range(30))
    page = (
        "<html><head><title>Post</title></head><body><div class='sidebar'><h3>Popular posts</h3>"
        f"<ul>{menu}</ul></div><article><h1>Post</h1>"
        + "".join(
            f"<p>Sentence {i} of the post explains how the kernel package is built and installed.</p>" for i in range(8)
        )  # fmt: skip
        + "</article></body></html>"
    )
    doc = extract_document(page, "http://h/post.html")
    assert doc is not None
    assert "Sentence 7 of the post" in doc["text"] and "Another post title" not in doc["text"]


def test_a_short_table_and_a_heading_that_open_with_a_link_target_are_kept():
    # DocBook puts an <a id> target first in each table block and each title: trafilatura counted the target
    # as a link with no text and deleted the short block as all-link.
    rows = "".join(f"<tr><td><code>$@</code></td><td>{v}</td></tr>" for v in ("target", "first input"))
    table = (
        '<div class="table"><a id="listofmakeautomaticvariables"></a><p class="title"><strong>Table 12.17. '
        'Automatic variables</strong></p><div class="table-contents"><table class="table" border="1"><thead><tr>'
        f"<th>variable</th><th>value</th></tr></thead><tbody>{rows}</tbody></table></div></div>"
    )
    doc = extract_document(_manual_page(table), "http://h/ch12.html")
    assert doc is not None
    assert "| target |" in doc["text"] and "| first input |" in doc["text"]


def test_chinese_sentences_with_short_links_are_kept():
    # The Debian Reference in Chinese: each Chinese link is a short word, so trafilatura's character thresholds
    # took every sentence with two or three links for a link farm.
    items = "".join(
        f"<li class='listitem'><p> <a href='https://zh.wikipedia.org/wiki/{n}'>{n}</a> 在 {y} 年初始釋出，"
        "顯著地改善了速度，但是它仍然建立在本質上慢的 "
        "<a href='https://zh.wikipedia.org/wiki/Make'>Make</a> 之上。</p></li>"
        for n, y in (("CMake", 2000), ("Ninja", 2012), ("Meson", 2013))
    )
    page = (
        "<html><head><title>第 12 章</title></head><body><div class='chapter'><h1>第 12 章 程式設計</h1>"
        + "".join(
            f"<p>第 {i} 段說明如何在 Debian 系統上編譯和安裝軟體，以及常用的開發工具和它們的用法。</p>"
            for i in range(6)
        )
        + "<p><a href='https://zh.wikipedia.org/wiki/Flex'>Flex</a> 是相容 <a href='https://zh.wikipedia.org/wiki/Lex'>"
        "Lex</a> 的快速<a href='https://zh.wikipedia.org/wiki/Lexical_analysis'>語法分析程式</a>生成器。</p>"
        f"<p>軟體構建系統也在演進：</p><div class='itemizedlist'><ul>{items}</ul></div></div></body></html>"
    )
    doc = extract_document(page, "http://h/ch12.html")
    assert doc is not None
    text = doc["text"]
    assert "是相容 Lex 的快速語法分析程式生成器" in text
    assert "Meson 在 2013 年初始釋出" in text and "Ninja 在 2012 年初始釋出" in text


def test_paragraphs_written_as_divs_are_read_as_paragraphs():
    # A Publican manual (the Debian Administrator's Handbook): every paragraph is a div.para, between a banner
    # and the prev/next bars. trafilatura's own pass found no paragraph and took the whole page, bars included
    # (its fallback extractors then kept one section of some real pages); read as paragraphs, the pass works.
    def section(n: int) -> str:
        paras = "".join(
            f'<div class="para">\n\t\t\t第 {n}.{i} 段：散佈版在電腦上安裝自由的作業系統，並提供各種軟體。\n\t\t</div>'
            for i in range(4)
        )
        return (
            f'<div class="section"><div class="titlepage"><div><div><h3 class="title"><a id="s{n}"></a>1.5.{n}. '
            f'小節 {n}</h3></div></div></div><a id="idx{n}" class="indexterm"></a>{paras}</div>'
        )

    page = (
        '<html><head><title>1.5. 散佈版的角色</title></head><body><div id="banner"><a href="http://x/get/">'
        '<span class="text">Download the ebook</span></a></div><ul class="docnav top"><li class="previous">'
        '<a href="prev.html"><strong>前一頁</strong></a></li><li class="next"><a href="next.html"><strong>下一頁'
        '</strong></a></li></ul><div class="section"><div class="titlepage"><div><div><h2 class="title">1.5. '
        f"散佈版的角色</h2></div></div></div>{''.join(section(n) for n in (1, 2, 3))}</div>"
        '<ul class="docnav"><li class="next"><a href="next.html"><strong>下一頁</strong></a></li></ul></body></html>'
    )
    main_pass = trafilatura.extract(prepare_paragraphs(trafilatura.load_html(page)), fast=True) or ""
    assert all(f"第 {n}.{i} 段" in main_pass for n in (1, 2, 3) for i in range(4))
    assert "下一頁" not in main_pass and "Download the ebook" not in main_pass
    doc = extract_document(page, "http://h/sect.role-of-distributions.html")
    assert doc is not None and "第 3.3 段" in doc["text"] and "下一頁" not in doc["text"]
