"""Truth for the real-site crawl harness (``bench/site_accuracy.py``): pages, their text and their FAQ questions.

Sites are real HTML manuals that Debian ships as packages, pinned to exact versions, fetched at bench time
with ``apt-get download <package>=<version>`` and unpacked with ``dpkg-deb -x`` into ``out/site_truth/<key>/``
(``truth_fetch.debian_package``; nothing is committed). Each site is one folder of the package, served as
is on loopback. The development sets (``dev``: the Debian Reference in Traditional Chinese and the Debian
FAQ) are the ones to look at page by page while fixing the crawler; the others (the Debian New Maintainers'
Guide and the Debian Administrator's Handbook, both in Traditional Chinese) are held out and only read as
aggregate scores. The handbook package holds 26 translations of 129 pages; only its ``zh-TW`` folder is a
site here, so the whole run takes minutes.

What counts, and how each truth is obtained:

* Reachable content pages. Breadth-first from the start page over the files on disk: every ``<a href>``,
  ``<area href>``, ``<frame src>``, ``<iframe src>`` and ``<meta http-equiv=refresh>`` target that resolves
  to an HTML file (``.html``/``.htm``/``.xhtml``) inside the site folder is reachable, unless the site's own
  ``robots.txt`` (when it has one) disallows it for the crawler's user agent. Fragments and queries are
  dropped; symlinks count once, as the file they point to. A reachable page whose reference text (below)
  is empty, or that only redirects (a refresh and no text), is not a content page and is not scored.
* Kept. A page is kept when ``documents.jsonl`` has a record whose ``url`` or ``canonical_url`` maps to its
  file (a canonical URL on the site's public host maps through the site's ``canonical_base``).
* Reference text: the page's own text as a browser shows it, by a deliberately simple rule. The ``<body>``
  text (lxml ``itertext``) after removing ``script``, ``style``, ``noscript`` and ``template``, the HTML5
  chrome elements ``header``, ``nav`` and ``footer``, and the navigation chrome of the site's generator:

  - DocBook XSL (Debian Reference, maint-guide, Debian FAQ): ``div.navheader`` and ``div.navfooter`` (the
    prev/next/up bars) and the tables of contents ``div.toc``, ``div.list-of-tables``,
    ``div.list-of-figures``, ``div.list-of-examples``;
  - Publican (the handbook): ``div#banner`` ("Download the ebook"), ``p#title`` (the logo links),
    ``ul.docnav`` (the prev/up/home/next bars) and the same DocBook tables of contents.

  A table of contents is navigation, what HTML5 writes as ``<nav>`` (removed everywhere): lists of links
  to sections whose titles are scored where they stand. Except on a page that *is* a table of contents:
  when the tables of contents hold more tokens than the rest of the page (a book's front page: title page
  plus contents), they are what a reader opens the page for, and they stay (the issue counts such index
  pages as content to keep). Everything else in the body, footnotes, code listings, tables, legal notices
  included, is page text.
* Text F1: a bag-of-tokens F1 between the reference and a candidate text. A token is one Han (or kana)
  character, or a maximal run of other letters/digits lowercased; punctuation and Markdown markers are
  never tokens, and the crawler's Markdown is first stripped of link targets, image URLs and inline tags
  (``markdown_to_text``) so a URL the reader never sees does not count as text.
* FAQ questions. A page has FAQ blocks when it holds a DocBook ``div.qandaset`` (its ``.question``
  elements are the questions, the ``Q:`` label dropped), or a section (``div.chapter``/``div.section``/
  ``div.sectN``/``section``) whose title says FAQ (``FAQ``, ``常見問題``, ``問與答``, ``問答``) or, on a site
  whose whole document is a FAQ (``Site.faq_document``: the Debian FAQ), any section: there every
  sub-section title that ends with a question mark (``?``/``？``, trailing ``!``/``)`` ignored) is a
  question. A reference question is found when a ``qa.jsonl`` pair from that page has the same token
  sequence once a leading section number (``1.2.``) is dropped from both.
"""

from __future__ import annotations

import copy
import re
import sys
import unicodedata
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import lxml.html
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

CACHE = ROOT / "out" / "site_truth"
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
ROBOTS_AGENT = "DataAgent"  # the crawler's User-Agent starts with this


@dataclass(frozen=True)
class Site:
    key: str  # folder under out/site_truth
    package: str
    version: str  # exact Debian version
    folder: str  # the site inside the unpacked package
    start: str  # start page, relative to the folder
    generator: str  # "docbook" or "publican": picks the chrome rule
    language: str
    what: str
    dev: bool = False
    canonical_base: str = ""  # the public URL the pages' rel=canonical points under
    faq_document: bool = False  # the whole document is a FAQ: question-titled sections are its questions


# Development sets first; the rest are held out.
SITES = (
    Site("debian-reference-zh-tw", "debian-reference-zh-tw", "2.100", "usr/share/debian-reference",
         "index.zh-tw.html", "docbook", "zh-Hant",
         "Debian Reference, Traditional Chinese: 15 long DocBook pages, tables and code", dev=True),
    Site("debian-faq", "debian-faq", "11.1", "usr/share/doc/debian/FAQ", "index.en.html", "docbook", "en",
         "The Debian GNU/Linux FAQ, English: every section title is a question", dev=True, faq_document=True),
    Site("maint-guide-zh-tw", "maint-guide-zh-tw", "1.2.53", "usr/share/doc/maint-guide-zh-tw/html",
         "index.zh-tw.html", "docbook", "zh-Hant", "Debian New Maintainers' Guide, Traditional Chinese"),
    Site("debian-handbook-zh-tw", "debian-handbook", "11.20220922", "usr/share/doc/debian-handbook/html/zh-TW",
         "index.html", "publican", "zh-Hant",
         "The Debian Administrator's Handbook, zh-TW folder only (129 Publican pages, partly untranslated)",
         canonical_base="https://debian-handbook.info/browse/zh-TW/stable/"),
)  # fmt: skip


def fetch_site(site: Site, cache: Path = CACHE) -> tuple[Path, str]:
    """The site's folder on disk, fetched and unpacked on first use, and the package version actually used."""
    from truth_fetch import debian_package

    dest, used = debian_package(cache / site.key, site.package, site.version)
    root = dest / "deb" / site.folder
    if not root.is_dir():
        raise FileNotFoundError(f"{site.package}={used} has no folder {site.folder}")
    return root, used


# --- tokens and F1 -------------------------------------------------------------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokens(text: str) -> list[str]:
    """Single Han/kana characters and lowercased runs of other letters or digits, in order."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def token_f1(reference: str, candidate: str) -> float:
    """Bag-of-tokens F1; two texts without tokens agree (1.0), one empty side scores 0."""
    ref, got = Counter(tokens(reference)), Counter(tokens(candidate))
    if not ref and not got:
        return 1.0
    common = sum((ref & got).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def token_diff(reference: str, candidate: str, n: int = 8) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The tokens the candidate misses most and the ones it adds most, for eyeballing a low F1."""
    ref, got = Counter(tokens(reference)), Counter(tokens(candidate))
    return (ref - got).most_common(n), (got - ref).most_common(n)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_MD_LINK_DEF = re.compile(r"^\s*\[[^\]]+\]:\s+\S+.*$", re.MULTILINE)
_MD_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")


def markdown_to_text(markdown: str) -> str:
    """What a reader sees of the crawler's Markdown: link and image targets and inline tags dropped.

    Emphasis, heading, list, table and fence markers are punctuation, which ``tokens`` never counts.
    """
    text = _MD_IMAGE.sub(r"\1", markdown)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_LINK_DEF.sub("", text)
    text = _MD_AUTOLINK.sub(r"\1", text)
    return _HTML_TAG.sub(" ", text)


# --- reference text ------------------------------------------------------------------------------------------

_NEVER_SHOWN = ("script", "style", "noscript", "template")
_HTML5_CHROME = ("header", "nav", "footer")
_DOCBOOK_TOCS = ("toc", "list-of-tables", "list-of-figures", "list-of-examples")
CHROME = {
    "docbook": [("class", c) for c in ("navheader", "navfooter")],
    "publican": [("id", "banner"), ("id", "title"), ("class", "docnav")],
}
TOCS = {"docbook": [("class", c) for c in _DOCBOOK_TOCS], "publican": [("class", c) for c in _DOCBOOK_TOCS]}


def _has_class(el: etree._Element, name: str) -> bool:
    return name in (el.get("class") or "").split()


_DECLARED_CHARSET = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def parse_html(data: bytes) -> etree._Element:
    """The page as lxml parses it in the charset it declares, else UTF-8 (what the loopback server sends)."""
    declared = _DECLARED_CHARSET.search(data[:4096])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        parser = lxml.html.HTMLParser(encoding=encoding)
    except LookupError:
        parser = lxml.html.HTMLParser(encoding="utf-8")
    return lxml.html.document_fromstring(data, parser=parser)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _matches(el: etree._Element, rules: list[tuple[str, str]]) -> bool:
    return any((_has_class(el, v) if attr == "class" else el.get("id") == v) for attr, v in rules)


def _remove(elements: list[etree._Element]) -> None:
    for el in elements:
        parent = el.getparent()
        if parent is None:
            continue
        # Keep the tail: it is the text after the removed element, still shown.
        if el.tail:
            prev = el.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + " " + el.tail
            else:
                parent.text = (parent.text or "") + " " + el.tail
        parent.remove(el)


def _outermost(elements: list[etree._Element]) -> list[etree._Element]:
    chosen = set(elements)
    return [el for el in elements if not any(a in chosen for a in el.iterancestors())]


def reference_text(doc: etree._Element, generator: str) -> str:
    """The body text minus what is never shown and the generator's navigation chrome (see module docstring).

    Tables of contents are removed unless they hold more tokens than the rest of the page: then the page is
    a table of contents (a book's front page), and its entries are what a reader opens it for.
    """
    body = doc.find(".//body")
    if body is None:
        return ""
    body = copy.deepcopy(body)  # the caller's tree is used again for links
    rules = CHROME.get(generator, [])
    _remove([el for el in body.iter() if _local(el.tag) in _NEVER_SHOWN + _HTML5_CHROME or _matches(el, rules)])
    if _local(body.tag) in _NEVER_SHOWN:
        return ""
    tocs = _outermost([el for el in body.iter() if _matches(el, TOCS.get(generator, []))])
    toc_tokens = sum(len(tokens(" ".join(el.itertext()))) for el in tocs)
    if toc_tokens * 2 <= len(tokens(" ".join(body.itertext()))):
        _remove(tocs)
    return " ".join(t for t in body.itertext() if isinstance(t, str))


# --- reachable pages -----------------------------------------------------------------------------------------

_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.IGNORECASE)
_FAKE_HOST = "http://site.invalid/"  # resolves links as the browser would, without a server


def page_key(root: Path, path: Path) -> str | None:
    """The page's identity: its real path relative to the site folder, or None outside the folder."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _file_for(root: Path, url_path: str) -> Path | None:
    rel = unquote(url_path).lstrip("/")
    path = root / rel
    if not rel or rel.endswith("/"):
        path = path / "index.html"
    return path if path.is_file() and path.suffix.lower() in HTML_SUFFIXES else None


def url_to_key(root: Path, url: str, base_url: str, canonical_base: str = "") -> str | None:
    """Map a crawled URL (on the loopback base, or under the site's public canonical base) to a page key."""
    for base in (base_url.rstrip("/") + "/", canonical_base):
        if base and url.startswith(base):
            path = _file_for(root, urlsplit(url).path[len(urlsplit(base).path) :])
            return page_key(root, path) if path else None
    return None


def _robots(root: Path) -> RobotFileParser | None:
    robots = root / "robots.txt"
    if not robots.is_file():
        return None
    parser = RobotFileParser()
    parser.parse(robots.read_text(encoding="utf-8", errors="replace").splitlines())
    return parser


def _links(doc: etree._Element) -> list[str]:
    found = doc.xpath("//a/@href | //area/@href | //frame/@src | //iframe/@src")
    for content in doc.xpath("//meta[translate(@http-equiv, 'REFSH', 'refsh')='refresh']/@content"):
        match = _REFRESH_URL.search(content)
        if match:
            found.append(match.group(1).strip())
    return [str(x).strip() for x in found]


@dataclass
class Page:
    key: str
    reference: str
    redirect: bool  # only a refresh, no text of its own

    @property
    def content(self) -> bool:
        return bool(tokens(self.reference)) and not self.redirect


def reachable_pages(root: Path, start: str, generator: str) -> dict[str, Page]:
    """Breadth-first over the files: every HTML page a reader can reach from ``start`` by links, in order."""
    robots = _robots(root)
    first = page_key(root, root / start)
    if first is None:
        raise FileNotFoundError(root / start)
    seen, queue, pages = {first}, deque([first]), {}
    while queue:
        key = queue.popleft()
        doc = parse_html((root / key).read_bytes())
        refresh = bool(doc.xpath("//meta[translate(@http-equiv, 'REFSH', 'refsh')='refresh']"))
        text = reference_text(doc, generator)
        pages[key] = Page(key, text, redirect=refresh and not tokens(text))
        here = _FAKE_HOST + key
        for href in _links(doc):
            url = urljoin(here, href)
            if not url.startswith(_FAKE_HOST):
                continue
            if robots is not None and not robots.can_fetch(ROBOTS_AGENT, "/" + url[len(_FAKE_HOST) :]):
                continue
            path = _file_for(root, urlsplit(url).path)
            nxt = page_key(root, path) if path else None
            if nxt and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return pages


# --- FAQ questions -------------------------------------------------------------------------------------------

_FAQ_TITLE = re.compile(r"\bFAQ\b|常見問題|問與答|問答", re.IGNORECASE)
_SECTION_XPATH = (
    ".//div[contains(concat(' ', normalize-space(@class), ' '), ' chapter ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' section ')"
    " or starts-with(normalize-space(@class), 'sect')] | .//section"
)
_TITLE_XPATH = "./div[contains(@class, 'titlepage')]//*[contains(@class, 'title')][1] | ./h1 | ./h2 | ./h3 | ./h4"
_NUMBER = re.compile(r"^\s*(?:(?:(?:\d+|[A-Z])(?:\.\d+)+\.?|\d+\.?)\s+|[QqＱ]\s*[:：.]\s*|問\s*[:：]\s*)")


def _text(el: etree._Element) -> str:
    return " ".join(" ".join(el.itertext()).split())


def _is_question(title: str) -> bool:
    return title.rstrip(" !！)）").endswith(("?", "？"))


def faq_questions(doc: etree._Element, faq_document: bool = False) -> list[str]:
    """The page's reference FAQ questions, in page order, by the rule in the module docstring."""
    found: dict[str, None] = {}
    for qandaset in doc.xpath(".//*[contains(concat(' ', normalize-space(@class), ' '), ' qandaset ')]"):
        for q in qandaset.xpath(".//*[contains(concat(' ', normalize-space(@class), ' '), ' question ')]"):
            label = q.xpath(".//*[contains(@class, 'label')]")
            text = _text(q)
            if label:
                text = text.removeprefix(_text(label[0])).strip()
            if text:
                found.setdefault(text)
    scopes = [doc] if faq_document else []
    for section in doc.xpath(_SECTION_XPATH):
        title = section.xpath(_TITLE_XPATH)
        if title and _FAQ_TITLE.search(_text(title[0])):
            scopes.append(section)
    for scope in scopes:
        for section in scope.xpath(_SECTION_XPATH):
            title = section.xpath(_TITLE_XPATH)
            if title and _is_question(_text(title[0])):
                found.setdefault(_text(title[0]))
    return list(found)


def question_key(question: str) -> tuple[str, ...]:
    """Token sequence of a question with its leading section number or ``Q:`` label dropped."""
    return tuple(tokens(_NUMBER.sub("", question.strip(), count=1)))


# --- crawl log -----------------------------------------------------------------------------------------------

_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[^\]]*\] (\w+):")
_CRAWLED = re.compile(r"Crawled \((\d+)\) <GET (\S+?)>")
_DROPPED = re.compile(r"Dropped: ([\w/.-]+): (\S+)")


def count_crashes(log_text: str) -> int:
    """ERROR/CRITICAL log records, plus tracebacks logged under any other level (each event counted once)."""
    crashes, counted = 0, False
    for line in log_text.splitlines():
        record = _LOG_RECORD.match(line)
        if record:
            counted = record.group(1) in ("ERROR", "CRITICAL")
            crashes += counted
        elif line.startswith("Traceback (most recent call last)") and not counted:
            crashes += 1
            counted = True
    return crashes


def log_fates(log_text: str) -> dict[str, str]:
    """What the crawl log says happened to each URL: ``fetched (status)`` or the pipeline's drop reason."""
    fates: dict[str, str] = {}
    for match in _CRAWLED.finditer(log_text):
        fates.setdefault(match.group(2), f"fetched ({match.group(1)}), no document")
    for match in _DROPPED.finditer(log_text):
        fates[match.group(2)] = f"dropped: {match.group(1)}"
    return fates
