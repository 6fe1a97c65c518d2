"""Turn one decoded HTML page into the fields of a Document."""

from __future__ import annotations

import copy
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import trafilatura
from htmldate import find_date
from lxml import etree
from lxml.html import HtmlElement
from parsel import Selector
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title, extract_url
from trafilatura.settings import Document, set_date_params, use_config

from validate.text import content_hash, detect_language, weighted_length

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


def extract_metadata(tree: HtmlElement, url: str) -> Document:
    """Title, date and declared URL, as ``trafilatura.extract_metadata`` finds them, without the rest.

    The same steps in the same order (meta tags, JSON-LD, title, URL, date, trimming), leaving out what a
    Document never stores: author (a deep copy of the whole tree per page), site name, categories, tags and
    licence, which were two thirds of the metadata's cost. ``extensive=False``: the extensive date search
    runs dateparser over the page's free text, and its first call compiles patterns for about 200 locales
    (16–40 s), which cost pages their text under the page timeout. Dates in markup (meta tags, time
    elements, JSON-LD, URLs) are still found.
    """
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:  # as trafilatura does before reading JSON-LD
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # noqa: BLE001 - trafilatura's own guard: bugs in its JSON-LD reader
        pass
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    date_config = set_date_params(False)
    date_config["url"] = metadata.url
    metadata.date = find_date(tree, **date_config)
    metadata.clean_and_trim()
    return metadata


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
    whose words are absent is inserted before the line where the text that follows it in the page starts
    (matched on its first letters and digits, read across lines when the first is short: a FAQ answer
    "Yes."). A heading followed only by text trafilatura dropped (a chapter title over its table of
    contents) goes right before the next heading of the page when that one is of a lower rank and is in
    the text or put back: it is the title of the section that heading opens.
    """
    lines = text.split("\n")
    starts: dict[str, int] = {}
    heading_lines: dict[str, int] = {}
    for i, line in enumerate(lines):
        key = _key_at(lines, i)
        if key and key not in starts:
            starts[key] = i
        if line.startswith("#"):
            heading_lines.setdefault(" ".join(line.lstrip("#").split()), i)
    present = " ".join(text.split())
    # Where each heading of the page is (line index), or will be put back; None where neither.
    at: list[int | None] = []
    missing: list[bool] = []
    for _, title, following in headings:
        absent = title not in present
        missing.append(absent)
        if absent:
            key = _line_key(following) if following else ""
            at.append(starts.get(key) if key else None)
        else:
            at.append(heading_lines.get(title))
    for i in range(len(headings) - 2, -1, -1):  # backwards, so a chain of dropped titles follows its anchor
        if missing[i] and at[i] is None and at[i + 1] is not None and headings[i + 1][0] > headings[i][0]:
            at[i] = at[i + 1]
    inserts: dict[int, list[str]] = {}
    for (level, title, _), where, absent in zip(headings, at, missing, strict=True):
        if absent and where is not None:
            inserts.setdefault(where, []).append("#" * level + " " + title)
    if not inserts:
        return text
    out: list[str] = []
    for i, line in enumerate(lines):
        for heading in inserts.get(i, []):
            out += [heading, ""]
        out.append(line)
    return "\n".join(out)


_KEY_CHARS = 24  # letters and digits that identify where a text starts
_KEY_MIN = 12  # fewer than this say too little to match on


def _line_key(text: Iterable[str]) -> str:
    """The first 24 letters and digits of ``text`` (a string, or characters); "" when it has fewer than 12."""
    chars: list[str] = []
    for ch in text:
        if ch.isalnum():
            chars.append(ch)
            if len(chars) == _KEY_CHARS:  # no need to read further
                break
    return "".join(chars) if len(chars) >= _KEY_MIN else ""


def _key_at(lines: list[str], i: int, reach: int = 200, max_lines: int = 12) -> str:
    """``_line_key`` of the text from line ``i`` on: the line's first ``reach`` characters, and the lines after
    it while they hold fewer than 24 letters and digits. Reads no further than the 24th."""
    if not lines[i].strip():
        return ""
    return _line_key(ch for line in lines[i : i + max_lines] for ch in line[:reach])


def _next_text(heading: HtmlElement, enough: int = 200) -> str:
    """The start of the text after the heading in document order, outside the heading.

    Read until it holds 24 letters and digits (``_line_key`` looks at no more), across elements when the
    first is short, and at most ``enough`` characters of each piece, so a heading followed by a whole
    section costs no more than one followed by a line.
    """
    parts: list[str] = []
    count = 0
    for piece in _following_text(heading):
        piece = piece.strip()[:enough]
        if piece:
            parts.append(piece)
            for ch in piece:
                count += ch.isalnum()
                if count >= _KEY_CHARS:
                    return " ".join(parts)
    return " ".join(parts)


def _following_text(heading: HtmlElement) -> Iterator[str]:
    """Text pieces after ``heading`` in document order (its tail, following siblings, then its ancestors')."""
    yield heading.tail or ""
    node = heading
    while node is not None:
        sibling = node.getnext()
        while sibling is not None:
            if isinstance(sibling.tag, str):
                yield from sibling.itertext()
            yield sibling.tail or ""
            sibling = sibling.getnext()
        node = node.getparent()
        if node is not None:
            yield node.tail or ""


_BLOCKS = ("p", "ul", "ol", "dl", "div", "pre", "blockquote", "table")


def _rows(table: HtmlElement) -> list[HtmlElement]:
    """The table's own rows (not those of a table nested in a cell)."""
    return [row for row in table.iter("tr") if next(row.iterancestors("table"), None) is table]


def _cells(row: HtmlElement) -> list[HtmlElement]:
    return [cell for cell in row if cell.tag in ("td", "th")]


def prepare_tables(tree: HtmlElement) -> HtmlElement:
    """Undo two table layouts that make trafilatura drop content, before it reads the page.

    * A box laid out as a small table (DocBook's note/tip/warning: an icon cell, a label cell and a cell
      of paragraphs or lists; many CMS callouts): trafilatura drops the paragraphs and lists inside its
      cells. The table becomes a ``div`` of its cells' content, the label as a paragraph before it.
    * A data table (a first row of header cells, at least two more rows) whose cells link somewhere, such
      as a package list linking each name and count: trafilatura deletes it as link-heavy boilerplate. Its
      links are unwrapped to their text (the Markdown output has no links anyway), so the table stays.

    Navigation tables (link cells without a header row) are left as they are.
    """
    for table in list(tree.iter("table")):
        if table.getparent() is None:
            continue
        rows = _rows(table)
        if not rows:
            continue
        cells = [cell for row in rows for cell in _cells(row)]
        blocky = [cell for cell in cells if any(child.tag in _BLOCKS for child in cell)]
        if len(rows) <= 3 and all(len(_cells(row)) <= 2 for row in rows) and blocky:
            _unwrap_box(table, cells)
        elif len(rows) >= 3 and _cells(rows[0]) and all(c.tag == "th" for c in _cells(rows[0])):
            if any(True for _ in table.iter("a")):
                etree.strip_tags(table, "a")
    return tree


# Elements a browser lays out as blocks; a div holding none of them is a run of text.
_BLOCK_TAGS = frozenset(
    ("div", "p", "ul", "ol", "dl", "li", "dt", "dd", "table", "pre", "blockquote", "section", "article", "aside",
     "nav", "header", "footer", "main", "figure", "form", "hr", "h1", "h2", "h3", "h4", "h5", "h6")
)  # fmt: skip


def prepare_paragraphs(tree: HtmlElement) -> HtmlElement:
    """Make each ``div`` that holds only text and inline elements a ``p``, which is how a browser shows it.

    Publican manuals and many CMSs write every paragraph as ``<div class="para">``. trafilatura's main pass
    looks for paragraphs and found none, so it fell back to comparing other extractors' guesses, which kept one
    section of a page or the whole page with its navigation, and changed its pick on any small edit.
    """
    for div in list(tree.iter("div")):
        if (not (div.text or "").strip() and not len(div)) or _is_chrome(div):
            continue  # a banner or menu made a paragraph would read as text
        if not any(isinstance(d.tag, str) and d.tag in _BLOCK_TAGS for d in div.iterdescendants()):
            div.tag = "p"
    return tree


def prepare_links(tree: HtmlElement) -> HtmlElement:
    """Unwrap the ``<a>`` elements that trafilatura's link-density test misjudges, so it keeps their text.

    * A link target (``<a id="x"/>``, ``<a name="x">``, no ``href``) is invisible, but trafilatura counts it as a
    link with no text, and a short block whose links all have no text is deleted as all-link: every DocBook
    heading (``<h2><a id="s1"/>1. Title</h2>``) and each short table that opens with its anchor went missing.
    * Links inside a sentence (``_is_prose_with_links``). The Markdown output has no links, so nothing is lost.
    """
    anchors = [a for a in tree.iter("a") if a.get("href") is None]
    for a in anchors:
        a.tag = "anchor-target"  # a tag of its own so strip_tags takes these and no real link
    if anchors:
        etree.strip_tags(tree, "anchor-target")
    for block in list(tree.iter(*_TEXT_BLOCKS)):
        if _is_prose_with_links(block):
            etree.strip_tags(block, "a")
    return tree


# Blocks of running text, and what makes one not a leaf (it holds other blocks, judged on their own).
_TEXT_BLOCKS = ("p", "li", "dt", "dd", "td", "th")
_NESTED = frozenset((*_TEXT_BLOCKS, "ul", "ol", "dl", "div", "table", "pre", "blockquote"))
# Prose around its links: the letters outside links are at least half those inside, and a few words' worth.
_PROSE_SHARE = 0.5
_PROSE_MIN = 10


def _letters(parts: Iterable[str]) -> int:
    return weighted_length("".join(ch for part in parts for ch in part if ch.isalnum()))


def _is_prose_with_links(block: HtmlElement) -> bool:
    """A sentence with inline links, which trafilatura's link-density test takes for a link farm when it is short.

    Its thresholds count characters and call a link under 10 characters "short": in Chinese that is every link
    (語法分析程式 is six), so "Flex 是相容 Lex 的快速語法分析程式生成器。" and a list of such sentences were deleted
    as all-link. The letters outside the links, weighted by script, tell prose from a row of links.
    """
    links = [a for a in block.iter("a") if a.get("href") is not None]
    if not links or any(isinstance(d.tag, str) and d.tag in _NESTED for d in block.iterdescendants()):
        return False
    inside = _letters(t for a in links for t in a.itertext())
    outside = _letters(block.itertext()) - inside
    return outside >= _PROSE_MIN and outside >= _PROSE_SHARE * inside


def _unwrap_box(table: HtmlElement, cells: list[HtmlElement]) -> None:
    """Replace a box laid out as a table by a div of its content; its label opens the first paragraph.

    A label alone in a paragraph ("注意", "Note") is too short for trafilatura to keep, so it is put in bold
    at the start of the box's first paragraph instead.
    """
    box = etree.Element("div")
    labels: list[str] = []
    for cell in cells:
        if any(child.tag in _BLOCKS for child in cell):
            holder = etree.SubElement(box, "div")
            holder.text = cell.text
            holder.extend(list(cell))
        elif " ".join(cell.text_content().split()):
            labels.append(" ".join(cell.text_content().split()))
    if labels:
        first = next(box.iter("p"), None)
        # Only when nothing is written before that paragraph: the label must open the box's text.
        if first is not None and not (first.getparent().text or "").strip():
            label = etree.Element("strong")
            label.text = " ".join(labels)
            label.tail = " " + (first.text or "")
            first.text = None
            first.insert(0, label)
        else:
            paragraph = etree.Element("p")
            paragraph.text = " ".join(labels)
            box.insert(0, paragraph)
    box.tail = table.tail
    table.getparent().replace(table, box)


# Page chrome for measuring how much text a reader sees: HTML5 navigation elements, what is never shown, and
# blocks whose class or id names them navigation (DocBook's navheader/navfooter, Publican's docnav, a CMS's
# menu or sidebar). Only used to size the page and to pick link lists, never to cut text out of it.
_NOT_SHOWN = ("nav", "header", "footer", "aside", "script", "style", "noscript", "template", "form", "select", "button")
_NAV_NAMES = re.compile(r"nav|menu|sidebar|breadcrumb|banner|footer", re.IGNORECASE)
_LISTS = ("ul", "ol", "dl")
# A list is a link list when link text is this share of its text and it has at least this many links.
_LINK_SHARE = 0.6
_MIN_LINKS = 3
# The page is a table of contents (a book's front page, an index of talks or tools) when its link lists hold
# at least this share of the text a reader sees; extraction fell short when it kept less than this share.
_LIST_PAGE_SHARE = 0.5
_SHORT_SHARE = 0.5


def _is_chrome(el: HtmlElement) -> bool:
    if el.tag in _NOT_SHOWN:
        return True
    return bool(_NAV_NAMES.search(f"{el.get('class', '')} {el.get('id', '')}"))


def _shown_text(el: HtmlElement) -> Iterator[str]:
    """The text of ``el`` outside page chrome, in document order (tails of chrome elements are shown)."""
    if not isinstance(el.tag, str) or _is_chrome(el):
        return
    yield el.text or ""
    for child in el:
        yield from _shown_text(child)
        yield child.tail or ""


def _size(parts: Iterable[str]) -> int:
    return weighted_length(" ".join(parts))


def link_lists(tree: HtmlElement) -> list[HtmlElement]:
    """The outermost lists (``ul``/``ol``/``dl``) outside chrome whose text is mostly the text of their links."""
    found: list[HtmlElement] = []
    for lst in tree.iter(*_LISTS):
        if any(a in found or a.tag in _LISTS for a in lst.iterancestors()):
            continue  # nested lists are judged with the outermost one
        if _is_chrome(lst) or any(_is_chrome(a) for a in lst.iterancestors()):
            continue
        links = [a for a in lst.iter("a") if a.get("href")]
        if len(links) < _MIN_LINKS:
            continue
        total = _size(lst.itertext())
        if total and _size(t for a in links for t in a.itertext()) >= _LINK_SHARE * total:
            found.append(lst)
    return found


def list_page_size(tree: HtmlElement) -> int:
    """How much text a reader sees on a page that is mostly link lists (a table of contents); 0 otherwise."""
    lists = link_lists(tree)
    if not lists:
        return 0
    body = tree.find(".//body")
    shown = _size(_shown_text(body if body is not None else tree))
    listed = sum(_size(lst.itertext()) for lst in lists)
    return shown if shown and listed >= _LIST_PAGE_SHARE * shown else 0


def unwrap_link_lists(tree: HtmlElement) -> HtmlElement:
    """The page with the links of its link lists replaced by their text.

    trafilatura deletes link-dense blocks as boilerplate in every mode, so a page whose content is a table of
    contents came out as its copyright line. Unlinked, the same lists are kept like any list; the Markdown
    output has no links anyway.
    """
    for lst in link_lists(tree):
        etree.strip_tags(lst, "a")
    return tree


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
        shown = list_page_size(tree)
        spare = copy.deepcopy(tree) if shown else None  # trafilatura prunes the tree it reads
        text = main_text(prepare_tables(prepare_links(prepare_paragraphs(tree))), url, mode)
        if spare is not None and weighted_length(text) < _SHORT_SHARE * shown:
            # A table of contents dropped as boilerplate: read the page again with its link lists as plain lists.
            fuller = main_text(prepare_tables(prepare_links(prepare_paragraphs(unwrap_link_lists(spare)))), url, mode)
            if weighted_length(fuller) > weighted_length(text):
                text = fuller
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
