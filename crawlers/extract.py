"""Turn one decoded HTML page into the fields of a Document."""

from __future__ import annotations

import trafilatura
from parsel import Selector
from trafilatura.settings import use_config

from validate.text import content_hash, detect_language

# Pages bigger than this many elements are cut by trafilatura instead of parsed whole:
# a bound on the worst case that a per-page timeout alone does not give. trafilatura's
# own timeout uses SIGALRM, which only works in the main thread; the spider runs
# extraction in a worker thread and enforces its own timeout, so that one is off.
CONFIG = use_config()
CONFIG.set("DEFAULT", "MAX_TREE_SIZE", "60000")
CONFIG.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")


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
