"""Turn one HTML response into a Document dict and the QA pairs the page already publishes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import trafilatura
from parsel import Selector
from w3lib.html import remove_tags

from validate.text import content_hash, detect_language


def extract_document(html: str, url: str) -> dict | None:
    """Main content as Markdown plus title/canonical/date, or None when the page has no main text."""
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    meta = trafilatura.extract_metadata(tree, default_url=url)
    # favor_precision: boilerplate in instruction data is worse than a missing paragraph.
    text = trafilatura.extract(
        tree, url=url, output_format="markdown", include_formatting=True, favor_precision=True, with_metadata=False
    )
    if not text or not text.strip():
        return None
    return {
        "url": url,
        "canonical_url": (meta.url if meta and meta.url else url),
        "title": (meta.title if meta and meta.title else "") or "",
        "text": text,
        "language": detect_language(text),
        "published_at": meta.date if meta and meta.date else None,
        "content_hash": content_hash(text),
    }


def extract_faq(html: str) -> Iterator[dict]:
    """Yield {question, answer, origin} from schema.org FAQPage/QAPage JSON-LD."""
    sel = Selector(text=html)
    for raw in sel.xpath('//script[@type="application/ld+json"]/text()').getall():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue  # a broken JSON-LD block is common on real sites and never fatal
        for node in _walk(data):
            kind = node.get("@type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "Question" not in kinds:
                continue
            answer = node.get("acceptedAnswer") or node.get("suggestedAnswer")
            if isinstance(answer, list):
                answer = answer[0] if answer else None
            question = _clean(node.get("name") or node.get("text"))
            answer_text = _clean(answer.get("text") if isinstance(answer, dict) else answer)
            if question and answer_text:
                yield {"question": question, "answer": answer_text, "origin": "jsonld"}


def _walk(data: object) -> Iterator[dict]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from _walk(value)
    elif isinstance(data, list):
        for value in data:
            yield from _walk(value)


def _clean(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(remove_tags(value).split())
