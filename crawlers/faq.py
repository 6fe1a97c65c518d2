"""Harvest question/answer pairs a page already publishes: schema.org JSON-LD, microdata and common HTML FAQ markup."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from parsel import Selector
from w3lib.html import remove_tags

from validate.jsonparse import loads_lenient

__all__ = ["extract_qa_pairs"]

# Lower rank wins when the same question is published several ways: structured data is what the site vouches for.
_RANK = {"jsonld": 0, "microdata": 1, "html": 2}

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "details", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tr", "ul", *_HEADINGS,
    }
)  # fmt: skip
# Never reader-visible text; a <script> inside an answer would otherwise leak code into the dataset.
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head", "title"})
# What may follow a question heading as its answer. A div counts when it holds such blocks (DocBook wraps
# lists, listings and examples in divs: div.itemizedlist, div.informalexample), not when it is bare text
# (an ad slot) or starts another question.
_ANSWER_SIBLINGS = frozenset({"p", "ul", "ol", "pre", "table", "blockquote"})

_EN_QUESTION_WORDS = frozenset(
    {"what", "how", "why", "when", "where", "who", "which", "can", "could", "do", "does", "did", "is", "are", "should",
     "will", "would"}
)  # fmt: skip
_ZH_QUESTION_PREFIXES = (
    "如何", "怎麼", "怎么", "怎樣", "怎样", "為什麼", "为什么", "為何", "为何", "什麼", "什么", "是否", "可以", "可否",
    "能否", "哪",
)  # fmt: skip
_QUESTION_MARKS = "?？"
_PERMALINK_GLYPHS = "¶§#🔗 "
# Longer "questions" are prose; a real FAQ question fits on a line or two.
_MAX_QUESTION = 200
_SEED_TAGS = frozenset({"div", "p", "dt", "strong", "b", "span", "button", "h2", "h3", "h4", "h5", "h6"})
_INLINE_SEEDS = frozenset({"strong", "b", "span", "button"})
_LIFT_TAGS = frozenset({"div", "p", "dt", "span", "strong", "b", "em", "i", "u", "font", "small", "big", "button"})
_EMPHASIS_TAGS = frozenset({"strong", "b", "dt", "button", *_HEADINGS})
# Paragraph-like containers: starting or ending one starts or ends a line of text.
_LINE_TAGS = _BLOCK_TAGS | {"td", "th", "body"}
_CHROME_TAGS = frozenset(
    {"nav", "header", "footer", "aside", "menu", "form", "a", "summary", "select", "option", "label", "textarea",
     *_SKIP_TAGS}
)  # fmt: skip
# Extra characters a wrapper may hold around its question: a "Q" badge or an accordion's "+" icon.
_LABEL_SLACK = 3
_TRAILING_GLYPHS = " \t\n+＋-−–▼▲▾▴▸▹►›»>⌄⌃∨✚✕×"
_Q_MARKER = re.compile(
    r"^\s*(?:[QqＱ][0-9０-９]*\s*[:：.．、)）]|(?:問題?|问题?)\s*[0-9０-９一二三四五六七八九十]*\s*[:：]"
    r"|(?i:questions?)\s*[0-9０-９]*\s*[:：.．])\s*"
)
# "Q1 如何…？" or a separate "Q" badge: only stripped from text that already ends in a question mark.
_Q_LABEL = re.compile(r"^\s*[QＱ](?:[0-9０-９]+\s*|\s+)(?=\S)")
_A_MARKER = re.compile(
    r"^(?:(?:[AＡ][0-9０-９]*\s*(?:[:：、)）]|[.．](?![A-Za-z0-9]))|(?:答|回答|解答)\s*[:：]"
    r"|(?i:answers?|ans)\s*[0-9０-９]*\s*[:：.．])[ \t]*|(?:[AＡ]|答)[ \t]*(?:\n|$))"
)
_INLINE_ANSWER = re.compile(r"(?<=[?？])\s*(?:[AＡ][0-9０-９]*|答|(?i:answer))\s*[:：]\s*")
_QUESTION_CLASS = re.compile(
    r"(?<![a-z])(?:q|qa|ques|question|faq|ask|header|heading|head|title|toggle|trigger|accordion|collapse)(?![a-z])"
)
_FAQ_CONTEXT = re.compile(r"(?<![a-z])(?:faqs?|qa|qna|questions?|accordion)(?![a-z])")
_CHROME_CLASS = re.compile(
    r"(?<![a-z])(?:nav|navbar|navigation|menu|megamenu|dropdown|breadcrumbs?|footer|sidebar|masthead|topbar"
    r"|(?:site|page|global|top)-header)(?![a-z])"
)
_SENTENCE_END = re.compile(r"[。！!；;.?？]")
_FIRST_WORD = re.compile(r"[a-z]+")
# Only block boundaries matter inside JSON-LD answer HTML; this runs on a JSON string value, never on the page.
_FRAGMENT_BREAK = re.compile(r"<\s*(?:br|/?(?:p|div|li|ul|ol|h[1-6]|tr|blockquote|pre|dd|dt))\b[^>]*>", re.IGNORECASE)
_JSON_WRAPPERS = (("<!--", "-->"), ("<![CDATA[", "]]>"), ("//<![CDATA[", "//]]>"), ("/*<![CDATA[*/", "/*]]>*/"))

_JSONLD_XPATH = (
    "//script[starts-with(translate(normalize-space(@type), 'APPLICATINOLDJSN', 'applicatinoldjsn'),"
    " 'application/ld+json')]"
)
_FAQ_MARKED_XPATH = (
    "ancestor-or-self::*[not(self::body or self::html)]"
    "[contains(translate(concat(@class, ' ', @id), 'FAQ', 'faq'), 'faq')]"
)


def extract_qa_pairs(html: str, base_url: str | None = None) -> list[dict]:
    """Return ``{"question", "answer", "origin"}`` dicts in document order, one per distinct question.

    ``base_url`` is handed to the parser as the document URL; answers are plain text so it never changes them.
    """
    if not html:
        return []
    # type="html": parsel reads a page that opens with `<?xml ...?>` (XHTML, DocBook output) as XML, where every
    # tag is namespaced and no XPath below matches.
    if isinstance(html, bytes):
        sel = Selector(body=html, base_url=base_url, type="html")
    else:
        sel = Selector(text=html, base_url=base_url, type="html")
    root = sel.root
    if not isinstance(root, etree._Element):
        return []
    # One pass gives every element a document position, so pairs from different extractors interleave correctly.
    position = {el: i for i, el in enumerate(root.iter())}

    candidates: list[tuple[tuple[int, int], str, str, str]] = []
    candidates.extend(_from_jsonld(root, position))
    candidates.extend(_from_microdata(root, position))
    candidates.extend(_from_details(root, position))
    candidates.extend(_from_definition_lists(root, position))
    candidates.extend(_from_headings(root, position))
    candidates.extend(_from_question_blocks(root, position))

    best: dict[str, tuple[tuple[int, int], tuple[int, int], str, str, str]] = {}
    for pos, origin, question, answer in candidates:
        if not question or not answer:
            continue
        if origin == "html":
            question = _SECTION_NUMBER.sub("", question, count=1)  # "1.2. What is Debian?": the number is layout
        key = _dedup_key(question)
        entry = ((_RANK[origin], pos[0], pos[1]), pos, question, answer, origin)
        if key not in best or entry[0] < best[key][0]:
            best[key] = entry
    kept = sorted(best.values(), key=lambda entry: entry[1])
    return [{"question": q, "answer": a, "origin": origin} for _, _, q, a, origin in kept]


# --- JSON-LD -----------------------------------------------------------------------------------------------------


def _from_jsonld(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    blocks: list[tuple[int, Any]] = []
    for script in root.xpath(_JSONLD_XPATH):
        data = _load_json(script.text or "")
        if data is not None:
            blocks.append((position.get(script, 0), data))
    if not blocks:
        return
    # Yoast and similar plugins point FAQPage.mainEntity at Question nodes elsewhere in the @graph via @id.
    index: dict[str, dict] = {}
    for _, data in blocks:
        for node in _walk_json(data):
            ref = node.get("@id")
            if isinstance(ref, str) and len(node) > 1:
                index.setdefault(ref, node)
    for pos, data in blocks:
        n = 0
        for node in _walk_json(data):
            types = _types(node)
            if not types & {"FAQPage", "QAPage"}:
                continue
            for item in _as_list(node.get("mainEntity")):
                question_node = _resolve(item, index)
                if question_node is None:
                    continue
                question = _clean_inline(_literal(question_node.get("name")) or _literal(question_node.get("text")))
                answer = _jsonld_answer(question_node, index)
                yield (pos, n), "jsonld", question, answer
                n += 1


def _load_json(raw: str) -> Any:
    """Parse one JSON-LD block, tolerating the wrappers and trailing commas real CMSs emit; None when hopeless."""
    text = raw.strip()
    for start, end in _JSON_WRAPPERS:
        if text.startswith(start):
            text = text[len(start) :].lstrip()
        if text.endswith(end):
            text = text[: -len(end)].rstrip()
    text = text.rstrip(";").strip()
    if not text:
        return None
    try:
        # Raw newlines inside strings are the most common defect in hand-written JSON-LD, trailing commas next.
        return loads_lenient(text)
    except (ValueError, RecursionError):
        return None  # a broken block must not cost us the good ones next to it


def _walk_json(data: Any) -> Iterator[dict]:
    # Iterative so that absurdly nested JSON cannot hit the recursion limit.
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _types(node: dict) -> set[str]:
    # "schema:FAQPage" and "https://schema.org/FAQPage" both occur in the wild.
    return {t.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for t in _as_list(node.get("@type")) if isinstance(t, str)}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _resolve(value: Any, index: dict[str, dict]) -> dict | None:
    if not isinstance(value, dict):
        return None
    ref = value.get("@id")
    if len(value) == 1 and isinstance(ref, str):
        return index.get(ref)
    return value


def _literal(value: Any) -> str:
    """A JSON-LD literal as text: plain strings, ``{"@value": ...}`` objects, or the first usable list item."""
    for item in _as_list(value):
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and isinstance(item.get("@value"), str):
            return item["@value"]
        if isinstance(item, int | float) and not isinstance(item, bool):
            return str(item)
    return ""


def _jsonld_answer(question: dict, index: dict[str, dict]) -> str:
    accepted = _as_list(question.get("acceptedAnswer"))
    if accepted:
        first = accepted[0]
        # A bare string is invalid schema.org but common enough to accept.
        chosen = first if isinstance(first, str) else _resolve(first, index)
    else:
        suggested = [a for a in (_resolve(x, index) for x in _as_list(question.get("suggestedAnswer"))) if a]
        # max() keeps the first answer on ties, so unvoted suggestions fall back to page order.
        chosen = max(suggested, key=lambda a: _votes(a.get("upvoteCount"))) if suggested else None
    if isinstance(chosen, str):
        return _clean_fragment(chosen)
    if chosen is None:
        return ""
    return _clean_fragment(_literal(chosen.get("text")) or _literal(chosen.get("description")))


def _votes(value: Any) -> int:
    try:
        return int(float(_literal(value) or 0))
    except (TypeError, ValueError):
        return 0


# --- microdata ----------------------------------------------------------------------------------------------------


def _from_microdata(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    for item in root.xpath("//*[contains(@itemtype, 'schema.org/Question')]"):
        if not any(_is_schema_type(t, "Question") for t in item.get("itemtype", "").split()):
            continue
        names = _item_props(item, "name")
        question = " ".join(_microdata_value(names[0]).split()) if names else ""
        answer_el = _microdata_answer(item)
        if answer_el is None:
            continue
        texts = _item_props(answer_el, "text") if answer_el.get("itemscope") is not None else []
        answer = _block_text(texts[0]) if texts else _block_text(answer_el)
        yield (position.get(item, 0), 0), "microdata", question, answer


def _is_schema_type(itemtype: str, name: str) -> bool:
    scheme, _, rest = itemtype.rstrip("/").partition("://")
    return scheme in {"http", "https"} and rest in {f"schema.org/{name}", f"www.schema.org/{name}"}


def _item_props(scope: etree._Element, prop: str) -> list[etree._Element]:
    """Elements carrying ``itemprop=prop`` that belong to ``scope`` itself, not to an item nested inside it."""
    found = []
    xpath = f".//*[contains(concat(' ', normalize-space(@itemprop), ' '), ' {prop} ')]"
    for el in scope.xpath(xpath):
        owner = el.getparent()
        while owner is not None and owner is not scope and owner.get("itemscope") is None:
            owner = owner.getparent()
        if owner is scope:
            found.append(el)
    return found


def _microdata_value(el: etree._Element) -> str:
    if el.tag == "meta":
        return el.get("content", "")
    return _inline_text(el)


def _microdata_answer(question: etree._Element) -> etree._Element | None:
    accepted = _item_props(question, "acceptedAnswer")
    if accepted:
        return accepted[0]
    suggested = _item_props(question, "suggestedAnswer")
    if not suggested:
        return None

    def votes(answer: etree._Element) -> int:
        counts = _item_props(answer, "upvoteCount")
        return _votes(_microdata_value(counts[0]).strip()) if counts else 0

    return max(suggested, key=votes)


# --- plain HTML ---------------------------------------------------------------------------------------------------


def _from_details(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    for details in root.xpath("//details[summary]"):
        # A <details> wrapping other Q/A <details> is a collapsible section, not a question.
        if details.xpath(".//details[summary]"):
            continue
        summary = details.xpath("./summary")[0]
        question = _inline_text(summary)
        answer = _block_text(details, skip=summary)
        yield (position.get(details, 0), 0), "html", question, answer


def _from_definition_lists(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    for dl in root.xpath("//dl"):
        marked = bool(dl.xpath(_FAQ_MARKED_XPATH))
        # HTML allows one <div> per term group inside <dl>; the union comes back in document order.
        terms = dl.xpath("./dt | ./dd | ./div/dt | ./div/dd")
        i = 0
        while i < len(terms):
            dt = terms[i]
            i += 1
            if dt.tag != "dt":
                continue
            answers = []
            while i < len(terms) and terms[i].tag == "dd":
                answers.append(_block_text(terms[i]))
                i += 1
            question = _inline_text(dt)
            if answers and (marked or _looks_like_question(question)):
                yield (position.get(dt, 0), 0), "html", question, "\n".join(a for a in answers if a)


def _from_headings(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    for heading in root.xpath("//h2 | //h3 | //h4 | //h5 | //h6"):
        # Docs generators append a permalink glyph after the heading text.
        question = _Q_MARKER.sub("", _inline_text(heading).rstrip(_PERMALINK_GLYPHS), count=1)
        if not question.rstrip("!！").endswith(tuple(_QUESTION_MARKS)):  # "… what is Linux?!"
            continue
        anchor = heading
        while _only_wraps(anchor.getparent(), anchor):
            # DocBook writes `div.titlepage > div > div > h2`: the answer follows the outermost wrapper.
            anchor = anchor.getparent()
        parts = []
        for sibling in anchor.itersiblings():
            tag = sibling.tag if isinstance(sibling.tag, str) else ""
            if tag in _HEADINGS or tag == "hr" or (tag and sibling.xpath(".//h1|.//h2|.//h3|.//h4|.//h5|.//h6")):
                break  # the answer ends where the next question or section begins
            if tag in _ANSWER_SIBLINGS:
                parts.append(_block_text(sibling))
            elif tag == "div" and (sibling.find(".//p") is not None or sibling.find(".//pre") is not None):
                text = _block_text(sibling)
                if _question_shape(text.split("\n", 1)[0]) is not None:
                    break
                parts.append(text)
        yield (position.get(heading, 0), 0), "html", question, "\n".join(p for p in parts if p)


# A section number before a title: "1.2. ", "3) ", "2.4 "; not "3 ways" or "IV. " (they could be words).
_SECTION_NUMBER = re.compile(r"^\s*(?:\d+(?:[.．]\d+)*[.．)]|\d+(?:[.．]\d+)+)\s+(?=\S)")


def _only_wraps(parent: etree._Element | None, child: etree._Element) -> bool:
    """A ``div`` holding nothing but ``child`` (no other element, no text of its own)."""
    return (
        parent is not None
        and parent.tag == "div"
        and len(parent) == 1
        and not (parent.text or "").strip()
        and not (child.tail or "").strip()
    )


def _from_question_blocks(root: etree._Element, position: dict) -> Iterator[tuple[tuple[int, int], str, str, str]]:
    """Questions written as short stand-alone blocks or bold lines (``<div class="q">``, ``<p><b>Q: …</b></p>``).

    Answers are the following siblings up to the next question, heading or the end of the enclosing block.
    """
    elements = [el for el in position if isinstance(el.tag, str)]
    count, blocky, has_heading = _text_stats(elements)
    units: dict[etree._Element, tuple[str, str, bool]] = {}
    for el in elements:
        if el.tag not in _SEED_TAGS or el in blocky or not 0 < count[el] <= _MAX_QUESTION:
            continue
        seed_text = _block_text(el)
        # A question is the whole of its line: "<b>Q…?</b><br>A…" inside one <p> is two lines, found via the <b>.
        if "\n" in seed_text or _question_shape(seed_text) is None:
            continue
        unit = _lift(el, count)
        if unit is None or unit in units:
            continue
        shape = _question_shape(_inline_text(unit))
        context = _question_context(unit)
        if shape is None or context is None:
            continue
        question, inline_answer, marked = shape
        if unit.tag in _HEADINGS and _inline_text(unit).rstrip(_PERMALINK_GLYPHS).endswith(tuple(_QUESTION_MARKS)):
            continue  # a bare question heading belongs to _from_headings; emitting it here too would duplicate it
        if unit.tag not in _SEED_TAGS - _INLINE_SEEDS and unit.tag not in _HEADINGS and not _alone_on_line(unit, count):
            continue  # bold text mid-sentence is emphasis, not a question header
        units[unit] = (question, inline_answer, marked or context or _bold_or_marked_class(unit, count))

    # Each sibling walk stops at the next question, so every element is read by at most one answer: linear overall.
    holds_unit: set[etree._Element] = set()
    for unit in units:
        node = unit
        while node is not None and node not in holds_unit:
            holds_unit.add(node)
            node = node.getparent()
    for unit, (question, inline_answer, signal) in units.items():
        answer = _answer_after(unit, inline_answer, count, has_heading, holds_unit)
        stripped = _A_MARKER.sub("", answer, count=1)
        # An unmarked plain paragraph ending in "?" counts only when its answer is explicitly labelled as one.
        if not signal and stripped == answer:
            continue
        answer = _normalise_answer(stripped)
        if not answer or _is_bare_question(answer):
            continue
        yield (position.get(unit, 0), 0), "html", question, answer


def _is_bare_question(answer: str) -> bool:
    # Only a single question sentence is rejected; "Yes. Did you know …?" is still an answer.
    return "\n" not in answer and _question_shape(answer) is not None and not _SENTENCE_END.search(answer[:-1])


def _text_stats(
    elements: list[etree._Element],
) -> tuple[dict[etree._Element, int], set[etree._Element], set[etree._Element]]:
    """Visible non-space characters per element, and which elements hold block-level or heading descendants.

    Children come after their parent in document order, so one reversed pass sees every child first.
    """
    count: dict[etree._Element, int] = {}
    blocky: set[etree._Element] = set()
    has_heading: set[etree._Element] = set()
    for el in reversed(elements):
        if el.tag in _SKIP_TAGS:
            count[el] = 0
            continue
        n = _nonspace(el.text)
        for child in el:
            tag = child.tag if isinstance(child.tag, str) else None
            if tag is not None and tag not in _SKIP_TAGS:
                n += count[child]
                if tag in _BLOCK_TAGS or child in blocky:
                    blocky.add(el)
                if tag in _HEADINGS or child in has_heading:
                    has_heading.add(el)
            n += _nonspace(child.tail)
        count[el] = n
    return count, blocky, has_heading


def _nonspace(text: str | None) -> int:
    return len("".join(text.split())) if text else 0


def _question_shape(text: str) -> tuple[str, str, bool] | None:
    """``(question, answer written on the same line, has an explicit Q marker)`` or None when not a question."""
    if not text or len(text) > _MAX_QUESTION:
        return None
    text = text.rstrip(_TRAILING_GLYPHS)
    marker = _Q_MARKER.match(text)
    core = text[marker.end() :] if marker else _Q_LABEL.sub("", text, count=1)
    inline_answer = ""
    split = _INLINE_ANSWER.search(core) if marker else None
    if split:
        core, inline_answer = core[: split.start()], core[split.end() :]
    core = core.strip()
    if not core or _Q_MARKER.match(core):
        return None  # a lone "Q:" label, or a run of labels, has no question in it
    if not marker and not core.endswith(tuple(_QUESTION_MARKS)):
        return None
    return core, inline_answer, bool(marker)


def _lift(el: etree._Element, count: dict) -> etree._Element | None:
    """Widen ``el`` to the outermost wrapper holding nothing but the same question (plus a "Q" label or icon)."""
    if any(anc.tag in _HEADINGS for anc in el.iterancestors()):
        return None
    question = None
    while True:
        parent = el.getparent()
        if parent is None or parent.tag not in _LIFT_TAGS:
            return el
        if count[parent] != count[el]:
            if count[parent] - count[el] > _LABEL_SLACK:
                return el
            if question is None:
                shape = _question_shape(_inline_text(el))
                question = shape[0] if shape else ""
            shape = _question_shape(_inline_text(parent))
            if not question or shape is None or shape[0] != question:
                return el
        el = parent


def _question_context(unit: etree._Element) -> bool | None:
    """None when ``unit`` sits in page chrome; otherwise whether an ancestor marks the region as an FAQ."""
    if unit.tag in _CHROME_TAGS or _is_chrome(unit, ancestor=False):
        return None
    faq = False
    for anc in unit.iterancestors():
        if anc.tag in _CHROME_TAGS or anc.tag == "button" or _is_chrome(anc, ancestor=True):
            return None
        faq = faq or bool(_FAQ_CONTEXT.search(_class_and_id(anc)))
    return faq


def _is_chrome(el: etree._Element, ancestor: bool) -> bool:
    if (el.get("role") or "").strip().lower() in {"navigation", "menu", "menubar"}:
        return True
    return ancestor and bool(_CHROME_CLASS.search(_class_and_id(el)))


def _class_and_id(el: etree._Element) -> str:
    return f"{el.get('class', '')} {el.get('id', '')}".lower()


def _bold_or_marked_class(unit: etree._Element, count: dict) -> bool:
    """Whether the question is set in bold, or labelled as a question/accordion header by its class or id."""
    whole = count[unit] - _LABEL_SLACK
    for el in unit.iter():
        if not isinstance(el.tag, str) or count.get(el, 0) < whole:
            continue
        if el.tag in _EMPHASIS_TAGS or _QUESTION_CLASS.search(_class_and_id(el)):
            return True
    return False


def _alone_on_line(el: etree._Element, count: dict) -> bool:
    """Whether inline ``el`` has nothing but whitespace and empty elements between it and the nearest line breaks."""
    parent = el.getparent()
    if parent is None:
        return False
    prev = el.getprevious()
    while prev is not None:
        if prev.tail and prev.tail.strip():
            return False
        tag = prev.tag if isinstance(prev.tag, str) else None
        if tag == "br" or tag in _BLOCK_TAGS:
            break
        if tag is not None and count.get(prev, 0):
            return False
        prev = prev.getprevious()
    else:
        if (parent.text and parent.text.strip()) or parent.tag not in _LINE_TAGS:
            return False
    if el.tail and el.tail.strip():
        return False
    nxt = el.getnext()
    while nxt is not None:
        tag = nxt.tag if isinstance(nxt.tag, str) else None
        if tag == "br" or tag in _BLOCK_TAGS:
            return True
        if (tag is not None and count.get(nxt, 0)) or (nxt.tail and nxt.tail.strip()):
            return False
        nxt = nxt.getnext()
    return parent.tag in _LINE_TAGS


def _answer_after(unit: etree._Element, inline_answer: str, count: dict, has_heading: set, holds_unit: set) -> str:
    parts = [inline_answer, unit.tail or ""]
    for sibling in unit.itersiblings():
        tag = sibling.tag if isinstance(sibling.tag, str) else None
        if tag is not None:
            if tag in _HEADINGS or tag in {"hr", "details"} or sibling in has_heading or sibling in holds_unit:
                break
            if tag not in _CHROME_TAGS and not _is_chrome(sibling, ancestor=True) and not _only_links(sibling, count):
                parts.extend(_text_parts(sibling, skip=None, breaks=True))
        parts.append(sibling.tail or "")
    return _normalise_answer("".join(parts))


def _only_links(el: etree._Element, count: dict) -> bool:
    # "Back to top" and "related questions" link rows are navigation, not answer text.
    linked = sum(count.get(a, 0) for a in el.iter("a"))
    return linked > 0 and linked >= count.get(el, 0)


def _looks_like_question(text: str) -> bool:
    if not text:
        return False
    if text.endswith(tuple(_QUESTION_MARKS)):
        return True
    if text.startswith(_ZH_QUESTION_PREFIXES):
        return True
    word = _FIRST_WORD.match(text.casefold())
    return bool(word) and word.group() in _EN_QUESTION_WORDS


# --- text helpers -------------------------------------------------------------------------------------------------


def _inline_text(el: etree._Element) -> str:
    """Reader-visible text of ``el`` on one line, for questions."""
    return " ".join("".join(_text_parts(el, skip=None, breaks=True)).split())


def _block_text(el: etree._Element, skip: etree._Element | None = None) -> str:
    """Reader-visible text of ``el`` with one ``\\n`` between block elements (paragraphs, list items, ``<br>``)."""
    return _normalise_answer("".join(_text_parts(el, skip=skip, breaks=True)))


def _text_parts(el: etree._Element, skip: etree._Element | None, breaks: bool) -> Iterator[str]:
    # Explicit stack: recovered malformed HTML can nest deeper than Python's recursion limit.
    stack: list[tuple[etree._Element, bool]] = [(el, False)]
    while stack:
        node, closing = stack.pop()
        tag = node.tag if isinstance(node.tag, str) else None
        if closing:
            if breaks and tag in _BLOCK_TAGS:
                yield "\n"
            if node is not el and node.tail:
                yield node.tail
            continue
        if tag is None or tag in _SKIP_TAGS or node is skip:
            # Comments and skipped subtrees still own the text that follows them.
            if node is not el and node.tail:
                yield node.tail
            continue
        if breaks and (tag in _BLOCK_TAGS or tag == "br"):
            yield "\n"
        if node.text:
            yield node.text
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))


def _clean_fragment(value: str) -> str:
    """Answer text from JSON-LD, which may carry HTML markup and entities, as plain text with paragraph breaks."""
    if not value:
        return ""
    # Unescape after stripping so that escaped markup such as "&lt;b&gt;" survives as literal text.
    return _normalise_answer(html_lib.unescape(remove_tags(_FRAGMENT_BREAK.sub("\n", value))))


def _clean_inline(value: str) -> str:
    """A JSON-LD question, which may carry markup and entities, on one line."""
    if not value:
        return ""
    return " ".join(html_lib.unescape(remove_tags(value)).split())


def _normalise_answer(value: str) -> str:
    lines = (" ".join(line.split()) for line in value.splitlines())
    return "\n".join(line for line in lines if line)


def _dedup_key(question: str) -> str:
    # "Q: X?" in the page body and "X?" in JSON-LD are the same question.
    return _Q_MARKER.sub("", " ".join(question.split()), count=1).casefold().rstrip(_QUESTION_MARKS + " ")
