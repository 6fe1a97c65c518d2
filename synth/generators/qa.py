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
    Reject,
    all_or_nothing,
    answer_value,
    check_items,
    check_language,
    check_length,
    find_items,
    first_problem,
    generator_name,
    load_prompt,
    lower_keys,
    need_str,
    pick_field,
    prompt_language,
    register_check,
    render,
    rows,
    useless_answer,
)
from synth.records import make_record
from validate.jsonparse import parse_json_loose
from validate.text import detect_language, normalize_text

TEMPLATE = "doc_qa"
TASK_TYPE = "doc_qa"
# Where servers put the list of pairs, best first; any other key holding the only list of objects also works.
LIST_KEYS = ("pairs", "qa_pairs", "qa", "qas", "items", "questions", "data", "results", "faq", "faqs", "output")
QUESTION_KEYS = ("question", "q", "query")
ANSWER_KEYS = ("answer", "a", "response")
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


def pairs_of(value: object) -> list:
    """The question/answer items of a parsed answer, in any of the shapes servers produce (see find_items)."""
    return find_items(value, ("question", "answer"), LIST_KEYS)


def check_pair(
    pair: object, where: str, *, language: str, min_answer_chars: int = 20, max_answer_chars: int = 1500
) -> tuple[str, str]:
    """(question, answer) of one item, or a ParseError with a fixed category.

    The one per-item check for doc QA: the ``qa`` generator and the LangChain route both use it,
    so the same answer gets the same records and the same quarantine reasons on either backend.
    """
    if not isinstance(pair, dict):
        raise ParseError("item is not a JSON object", f"{where}: got {type(pair).__name__}")
    item = lower_keys(pair)
    fields = {"question": pick_field(item, QUESTION_KEYS), "answer": pick_field(item, ANSWER_KEYS)}
    question = need_str(fields, "question", where)
    answer = need_str(fields, "answer", where)
    check_length(question, 4, 600, "question", where)
    check_length(answer, min_answer_chars, max_answer_chars, "answer", where)
    if _REFERS_TO_SOURCE.search(question):
        raise ParseError("question refers to the source text", where)
    check_language(f"{question}\n{answer}", language)
    return question, answer


def pair_records(
    pairs: list, meta: Mapping, *, generator: str, limit: int | None = None
) -> tuple[list[dict], list[Reject]]:
    """(records, rejects) for the items of one answer; a question asked twice keeps its first answer."""
    seen: set[str] = set()

    def one(pair: object, where: str) -> dict | None:
        question, answer = check_pair(
            pair,
            where,
            language=meta["language"],
            min_answer_chars=meta.get("min_answer_chars", 20),
            max_answer_chars=meta.get("max_answer_chars", 1500),
        )
        key = normalize_text(question)
        if key in seen:
            return None  # the same question twice adds nothing; not worth quarantining
        seen.add(key)
        record = make_record(
            question,
            answer,
            task_type=TASK_TYPE,
            language=meta["language"],
            generator=generator,
            source_ref=meta["source_ref"],
        )
        if "heading_path" in meta:
            # Not a contract field (the gate drops it): kept for review and for tracing a pair to its section.
            record["meta"] = {"heading_path": meta["heading_path"], "chunk_index": meta["chunk_index"]}
        return record

    return check_items(pairs[:limit] if limit else pairs, one)


def split_records(result: GenResult) -> tuple[list[dict], list[Reject]]:
    """(records, rejected items): each pair judged alone; a ParseError when the answer as a whole is unusable."""
    meta = result.request.meta
    pairs = pairs_of(answer_value(result))
    return pair_records(pairs, meta, generator=generator_name(meta), limit=meta.get("n_pairs"))


def to_records(result: GenResult) -> list[dict]:
    """One ``doc_qa`` record per pair; any malformed pair rejects the whole answer (ParseError)."""
    return all_or_nothing(*split_records(result))


def check_answer(text: str) -> str | None:
    """Why an answer cannot make records whatever its content (None when it can): for re-asking before caching.

    Only what a second try can fix is judged: no JSON, no list of pairs, no pair with a question and an
    answer. Lengths and language depend on the request and are left to ``to_records``.
    """

    def parse() -> None:
        try:
            value = parse_json_loose(text)
        except ValueError as exc:
            raise ParseError("unparseable") from exc
        items = [lower_keys(p) for p in pairs_of(value) if isinstance(p, dict)]
        if not any(
            isinstance(pick_field(p, QUESTION_KEYS), str)
            and str(pick_field(p, QUESTION_KEYS)).strip()
            and isinstance(pick_field(p, ANSWER_KEYS), str)
            and str(pick_field(p, ANSWER_KEYS)).strip()
            for p in items
        ):
            raise ParseError("no item has a question and an answer")

    return first_problem(parse)


def engine_check(request: GenRequest, text: str, data: object) -> str | None:
    """The engine's re-ask check (synth.engine.register_check): why this answer makes no record, or None."""
    return useless_answer(split_records, request, text, data)


register_check(TEMPLATE, engine_check)
