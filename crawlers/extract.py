"""Turn one decoded HTML page into the fields of a Document."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import trafilatura
from parsel import Selector
from trafilatura.settings import use_config

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


def extract_document(html: str, url: str, selectors: dict[str, str] | None = None) -> dict | None:
    """Main content as Markdown plus title/canonical/date, or None when the page has no main text.

    Recipe selectors override what trafilatura guesses: ``main`` narrows the page to
    one element before extraction, ``title`` and ``published_at`` replace the metadata.
    """
    selectors = selectors or {}
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    meta = trafilatura.extract_metadata(tree, default_url=url)
    source = html
    if "main" in selectors:
        parts = select(html, selectors["main"])
        if not parts:
            return None
        source = f"<html><body><article>{''.join(parts)}</article></body></html>"
    # favor_precision: boilerplate in instruction data is worse than a missing paragraph.
    text = trafilatura.extract(
        source if "main" in selectors else tree,
        url=url,
        output_format="markdown",
        include_formatting=True,
        favor_precision=True,
        with_metadata=False,
        config=CONFIG,
    )
    if not text or not text.strip():
        return None
    title = (meta.title if meta and meta.title else "") or ""
    published = meta.date if meta and meta.date else None
    if "title" in selectors:
        title = " ".join((select(html, selectors["title"]) or [title])[0].split())
    if "published_at" in selectors:
        published = (select(html, selectors["published_at"]) or [published])[0]
    return {
        "url": url,
        "canonical_url": (meta.url if meta and meta.url else url),
        "title": title,
        "text": text,
        "language": detect_language(text),
        "published_at": published,
        "content_hash": content_hash(text),
    }


def process_page(body: bytes, header_charset: str | None, url: str, selectors: dict[str, str], timeout: float) -> dict:
    """Everything CPU-bound about one page, in one picklable call so it can run in a worker process.

    Returns the decoded HTML's charset and how it was chosen, the Document fields (or
    None with the reason) and the QA pairs with their language.
    """
    from crawlers.encoding import decode_html
    from crawlers.faq import extract_qa_pairs

    html, encoding, how = decode_html(body, header_charset)
    result: dict = {"encoding": encoding, "how": how, "doc": None, "drop": None, "pairs": []}
    try:
        with time_limit(timeout):
            result["doc"] = extract_document(html, url, selectors)
            if result["doc"] is None:
                result["drop"] = "no_main_text"
    except ExtractTimeoutError:
        result["drop"] = "extract_timeout"
    for pair in extract_qa_pairs(html, url):
        pair["language"] = detect_language(pair["question"] + " " + pair["answer"])
        result["pairs"].append(pair)
    return result
