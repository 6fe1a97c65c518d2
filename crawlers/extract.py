"""Turn one decoded HTML page into the fields of a Document."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import trafilatura
from lxml.html import HtmlElement
from parsel import Selector
from trafilatura.settings import Document, use_config

from validate.text import content_hash, detect_language

# Pages bigger than this many elements are cut by trafilatura instead of parsed whole:
# a bound on the worst case that the per-page timeout alone does not give.
CONFIG = use_config()
CONFIG.set("DEFAULT", "MAX_TREE_SIZE", "60000")


class ExtractTimeoutError(Exception):
    """Extraction of one page ran past its time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractTimeoutError in the block after ``seconds`` (main thread only, else no limit).

    A timer signal rather than a worker thread: Scrapy runs callbacks in the main thread,
    and a thread would not make a stuck lxml parse stop, only stop waiting for it, while
    adding a thread hop to every page.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum: int, frame: object) -> None:
        raise ExtractTimeoutError(f"extraction took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def select(html_or_sel: str | Selector, spec: str) -> list[str]:
    """Values for a recipe selector 'css:...' or 'xpath:...'."""
    sel = html_or_sel if isinstance(html_or_sel, Selector) else Selector(text=html_or_sel)
    kind, _, expr = spec.partition(":")
    found = sel.css(expr) if kind == "css" else sel.xpath(expr)
    return [v for v in found.getall() if v and v.strip()]


# How much of a page's main text to keep. "precision" is trafilatura's favor_precision (fewest boilerplate
# lines, but it cuts link lists, tables of contents and short list items that are the page's content);
# "balanced" is trafilatura's default; "recall" its favor_recall. The default is the one measured best on
# real documentation sites against the pages' own text (bench/site_accuracy.py, docs/CRAWL.md).
MODES = ("precision", "balanced", "recall")
DEFAULT_MODE = "balanced"


def canonical_link(tree: HtmlElement, url: str) -> str:
    """The page's ``<link rel=canonical>``, resolved against its URL; "" when it has none.

    Read first because it is the one a site sets per page; ``og:url`` (trafilatura's ``meta.url``) is often
    one value pasted into a shared template, which made 150 distinct pages of one real site collapse into one.
    """
    for link in tree.iterfind(".//link[@rel][@href]"):
        if "canonical" in link.get("rel", "").lower().split():
            href = link.get("href", "").strip()
            if href:
                return urljoin(url, href)
    return ""


def extract_metadata(tree: HtmlElement, url: str) -> Document | None:
    """Title, date and declared URL; the date by htmldate's fast path.

    ``extensive=False``: the extensive date search runs dateparser over the page's free text, and its first
    call compiles patterns for about 200 locales (16–40 s), which cost pages their text under the page
    timeout. Dates in markup (meta tags, time elements, JSON-LD, URLs) are still found.
    """
    return trafilatura.extract_metadata(tree, default_url=url, extensive=False)


_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_CHROME = ("nav", "header", "footer", "aside", "script", "style", "noscript", "template")


def page_headings(tree: HtmlElement) -> list[tuple[int, str, str]]:
    """(level, title, the text that follows it) of each heading outside the page chrome, before extraction
    prunes the tree."""
    found = []
    for heading in tree.iter(*_HEADINGS):
        title = " ".join(heading.text_content().split())
        if title and not any(a.tag in _CHROME for a in heading.iterancestors()):
            found.append((int(heading.tag[1]), title, _next_text(heading)))
    return found


def restore_headings(headings: list[tuple[int, str, str]], text: str) -> str:
    """Put back, as Markdown headings, the section titles trafilatura left out of ``text``.

    trafilatura 2.3 drops a section's leading heading in many layouts (a lone ``h2`` before its
    paragraphs, DocBook's ``div.titlepage > div > div > h2``), so every title of a manual, and every question
    of a FAQ written as section titles, went missing. No option brings them back, so each heading of the page
    whose words are absent is inserted before the line that starts with the text that follows it in the page.
    """
    lines = text.split("\n")
    starts: dict[str, int] = {}
    for i, line in enumerate(lines):
        key = _line_key(line)
        if key and key not in starts:
            starts[key] = i
    inserts: dict[int, list[str]] = {}
    present = " ".join(text.split())
    for level, title, following in headings:
        at = starts.get(_line_key(following)) if following and title not in present else None
        if at is not None:
            inserts.setdefault(at, []).append("#" * level + " " + title)
    if not inserts:
        return text
    out: list[str] = []
    for i, line in enumerate(lines):
        for heading in inserts.get(i, []):
            out += [heading, ""]
        out.append(line)
    return "\n".join(out)


def _line_key(line: str) -> str:
    words = "".join(ch for ch in line[:200] if ch.isalnum())
    return words[:24] if len(words) >= 12 else ""


def _next_text(heading: HtmlElement, enough: int = 200) -> str:
    """The start of the first text after the heading in document order, outside the heading.

    Only its first ``enough`` characters are read (``_line_key`` looks at no more), so a heading followed
    by a whole section costs no more than one followed by a line.
    """
    if (heading.tail or "").strip():
        return heading.tail.strip()[:enough]
    node = heading
    while node is not None:
        sibling = node.getnext()
        while sibling is not None:
            if isinstance(sibling.tag, str):
                parts: list[str] = []
                for piece in sibling.itertext():
                    parts.append(piece)
                    if sum(map(len, parts)) >= enough:
                        break
                content = "".join(parts).strip()
                if content:
                    return content[:enough]
            elif (sibling.tail or "").strip():
                return sibling.tail.strip()[:enough]
            sibling = sibling.getnext()
        node = node.getparent()
    return ""


def main_text(source: str | HtmlElement, url: str, mode: str = DEFAULT_MODE) -> str:
    """Main content as Markdown (headings, lists and tables kept) in one of MODES."""
    if mode not in MODES:
        raise ValueError(f"unknown extraction mode {mode!r} (one of {', '.join(MODES)})")
    text = trafilatura.extract(
        source,
        url=url,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        favor_precision=mode == "precision",
        favor_recall=mode == "recall",
        with_metadata=False,
        config=CONFIG,
    )
    return text or ""


def extract_document(
    html: str,
    url: str,
    selectors: dict[str, str] | None = None,
    mode: str = DEFAULT_MODE,
    meta_timeout: float = 0.0,
    timings: dict[str, float] | None = None,
) -> dict | None:
    """Main content as Markdown plus title/canonical/date, or None when the page has no main text.

    Recipe selectors override what trafilatura guesses: ``main`` narrows the page to
    one element before extraction, ``title`` and ``published_at`` replace the metadata.
    Metadata runs under its own ``meta_timeout``: when it runs out, the page keeps its
    text and goes without a date (``timings["metadata_timeout"]`` says so).
    """
    selectors = selectors or {}
    timings = timings if timings is not None else {}
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    start = time.perf_counter()
    declared = canonical_link(tree, url)
    try:
        with time_limit(meta_timeout):
            meta = extract_metadata(tree, url)
    except ExtractTimeoutError:
        meta, timings["metadata_timeout"] = None, 1.0
    timings["metadata"] = time.perf_counter() - start
    start = time.perf_counter()
    if "main" in selectors:
        parts = select(html, selectors["main"])
        if not parts:
            return None
        text = main_text(f"<html><body><article>{''.join(parts)}</article></body></html>", url, mode)
    else:
        headings = page_headings(tree)  # read before trafilatura prunes the tree
        text = main_text(tree, url, mode)
        if text.strip():
            text = restore_headings(headings, text)
    timings["text"] = time.perf_counter() - start
    if not text.strip():
        return None
    title = (meta.title if meta and meta.title else "") or " ".join((tree.findtext(".//title") or "").split())
    published = meta.date if meta and meta.date else None
    if "title" in selectors:
        title = " ".join((select(html, selectors["title"]) or [title])[0].split())
    if "published_at" in selectors:
        published = (select(html, selectors["published_at"]) or [published])[0]
    return {
        "url": url,
        "canonical_url": declared or (meta.url if meta and meta.url else url),
        "title": title,
        "text": text,
        "language": detect_language(text),
        "published_at": published,
        "content_hash": content_hash(text),
    }


def process_page(
    body: bytes,
    header_charset: str | None,
    url: str,
    selectors: dict[str, str],
    timeout: float,
    mode: str = DEFAULT_MODE,
) -> dict:
    """Everything CPU-bound about one page, in one picklable call so it can run in a worker process.

    Returns the decoded HTML's charset and how it was chosen, the Document fields (or
    None with the reason), the QA pairs with their language, and the seconds each part
    took (decode, metadata, text, faq) for the crawl's per-page cost report.
    """
    from crawlers.encoding import decode_html
    from crawlers.faq import extract_qa_pairs

    timings: dict[str, float] = {}
    start = time.perf_counter()
    html, encoding, how = decode_html(body, header_charset)
    timings["decode"] = time.perf_counter() - start
    result: dict = {"encoding": encoding, "how": how, "doc": None, "drop": None, "pairs": [], "timings": timings}
    try:
        with time_limit(timeout):
            # Metadata gets a quarter of the page's time: past it the page keeps its text without a date.
            result["doc"] = extract_document(html, url, selectors, mode, meta_timeout=timeout / 4, timings=timings)
            result["metadata_timeout"] = bool(timings.pop("metadata_timeout", 0))
            if result["doc"] is None:
                result["drop"] = "no_main_text"
    except ExtractTimeoutError:
        result["drop"] = "extract_timeout"
    start = time.perf_counter()
    for pair in extract_qa_pairs(html, url):
        pair["language"] = detect_language(pair["question"] + " " + pair["answer"])
        result["pairs"].append(pair)
    timings["faq"] = time.perf_counter() - start
    return result
