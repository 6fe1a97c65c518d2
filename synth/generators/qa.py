"""Question/answer pairs from document chunks, written by an LLM (task_type ``doc_qa``).

The record is the bare question and its answer with an empty input: the model is
trained to answer from knowledge, so questions must stand on their own, and those
that point back at "the text" are rejected. The chunk's heading path stays in meta.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping

import pandas as pd

from synth.chunking import chunk_document
from synth.engine import GenRequest, GenResult
from synth.generators import (
    ParseError,
    check_language,
    check_length,
    check_result,
    generator_name,
    load_prompt,
    need_dict,
    need_list,
    need_str,
    prompt_language,
    render,
    rows,
)
from synth.records import make_record
from validate.text import detect_language, normalize_text

TEMPLATE = "doc_qa"
TASK_TYPE = "doc_qa"
# Phrases that make a question unanswerable without the chunk it was written from.
_REFERS_TO_SOURCE = re.compile(
    r"\b(the|this|that|above|given|following) (text|passage|article|excerpt|document|paragraph|section|source)\b"
    r"|本文|文中|上文|原文|這段|这段|該文|该文|此文|文章中|根據文章|根据文章",
    re.IGNORECASE,
)


def topic_matches(text: str, topics: Iterable[str]) -> list[str]:
    """The topics ``text`` mentions: whole words for Latin-script topics ('tax' is not in 'taxi'),
    substrings for Chinese, which has no word boundaries to match."""
    norm = normalize_text(text)
    found = []
    for topic in topics:
        t = normalize_text(topic)
        if not t:
            continue
        if t.isascii():
            hit = re.search(rf"(?<![0-9a-z]){re.escape(t)}(?![0-9a-z])", norm)
        else:
            hit = t in norm
        if hit:
            found.append(topic)
    return found


def build_requests(
    documents: pd.DataFrame | Iterable[Mapping],
    *,
    n_pairs: int = 3,
    focus_topics: Iterable[str] | None = None,
    chunk_size: int = 600,
    min_chunk_tokens: float = 40,
    min_answer_chars: int = 20,
    max_answer_chars: int = 1500,
    model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int | None = None,
    stats: MutableMapping[str, int] | None = None,
) -> list[GenRequest]:
    """One request per chunk of each document, asking for ``n_pairs`` pairs as JSON.

    ``documents`` are Document rows. With ``focus_topics`` only chunks that mention one of
    them are used, and the prompt names the ones they mention. ``stats`` (if given) counts
    documents, chunks, requests, and chunks skipped as too short or off-topic.
    """
    if n_pairs < 1:
        raise ValueError("n_pairs must be at least 1")
    topics = [t for t in (focus_topics or []) if str(t).strip()]
    counts = stats if stats is not None else {}
    for key in ("documents", "chunks", "requests", "skipped_short", "skipped_no_topic"):
        counts.setdefault(key, 0)
    # Room for n answers at the upper bound (~1 token per 3 weighted chars) plus JSON overhead.
    max_tokens = max_tokens or 200 + n_pairs * (max_answer_chars // 3 + 60)
    requests = []
    for doc in rows(documents):
        counts["documents"] += 1
        language = doc.get("language") or "und"
        if language == "und":
            language = detect_language(doc["text"])
        lang = prompt_language(language)
        prompt = load_prompt(TEMPLATE)[lang]
        title = doc.get("title") or doc.get("canonical_url") or doc.get("url", "")
        for chunk in chunk_document(doc["text"], chunk_size=chunk_size):
            counts["chunks"] += 1
            if chunk.tokens < min_chunk_tokens:
                counts["skipped_short"] += 1
                continue
            focus = ""
            matched: list[str] = []
            if topics:
                matched = topic_matches(chunk.text, topics)
                if not matched:
                    counts["skipped_no_topic"] += 1
                    continue
                focus = prompt["focus"].format(topics=("、" if lang.startswith("zh") else ", ").join(matched))
            messages = render(
                TEMPLATE, lang, title=title, heading=chunk.heading or title, n=n_pairs, chunk=chunk.text, focus=focus
            )
            meta = {
                "source_ref": doc.get("canonical_url") or doc["url"],
                "language": language,
                "heading_path": list(chunk.heading_path),
                "chunk_index": chunk.index,
                "chunk": chunk.text,
                "n_pairs": n_pairs,
                "focus_topics": matched,
                "min_answer_chars": min_answer_chars,
                "max_answer_chars": max_answer_chars,
            }
            if model:
                meta["model"] = model
            params = {
                "temperature": temperature,
                "max_tokens": max_tokens,
                "response_format": {"type": "json_object"},
            }
            requests.append(GenRequest(template=TEMPLATE, messages=messages, params=params, meta=meta))
            counts["requests"] += 1
    return requests


def to_records(result: GenResult) -> list[dict]:
    """One ``doc_qa`` record per pair; any malformed pair rejects the whole answer (ParseError)."""
    check_result(result)
    meta = result.request.meta
    data = need_dict(result.data)
    pairs = need_list(data, "pairs")
    language = meta["language"]
    records, seen = [], set()
    for i, pair in enumerate(pairs[: meta.get("n_pairs", len(pairs))]):
        where = f"pairs[{i}]"
        pair = need_dict(pair, where)
        question = need_str(pair, "question", where)
        answer = need_str(pair, "answer", where)
        check_length(question, 4, 600, f"{where}.question")
        check_length(answer, meta.get("min_answer_chars", 20), meta.get("max_answer_chars", 1500), f"{where}.answer")
        if _REFERS_TO_SOURCE.search(question):
            raise ParseError(f"{where}.question refers to the source text, which the record does not include")
        check_language(f"{question}\n{answer}", language)
        if normalize_text(question) in seen:
            continue  # the same question twice adds nothing; not worth rejecting the others for
        seen.add(normalize_text(question))
        record = make_record(
            question,
            answer,
            task_type=TASK_TYPE,
            language=language,
            generator=generator_name(meta),
            source_ref=meta["source_ref"],
        )
        # Not a contract field (the gate drops it): kept for review and for tracing a pair to its section.
        record["meta"] = {"heading_path": meta["heading_path"], "chunk_index": meta["chunk_index"]}
        records.append(record)
    return records
