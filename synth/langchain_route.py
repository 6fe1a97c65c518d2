"""The LangChain backend (`--backend langchain`): QA pairs from documents with a LangChain chain.

The chain is the one QAGenerationChain meant to be, rebuilt from langchain-core because
QAGenerationChain (now in langchain-classic, deprecated) makes a single pair per 4000-char
chunk and crashes when the model wraps its JSON in a Markdown fence:

    ChatPromptTemplate  ->  ChatOpenAI (any OpenAI-compatible server)  ->  tolerant JSON parser

over chunks from synth/chunking.py (langchain-text-splitters with Chinese sentence punctuation).
It has no cache or budget of its own; the `openai` backend is the one with cost control
and resume. Failures are judged as the engine judges them (synth.engine.FailFast,
failure_reason): a wrong URL, key or model stops after the first few chunks, and
``synth_langchain`` raises StageFailed when every request failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from synth.chunking import chunk_document
from synth.engine import (
    FailFast,
    api_key_for,
    effective_base_url,
    failure_reason,
    failure_summary,
    raise_if_all_failed,
)
from synth.jsonparse import parse_json_loose
from synth.records import make_record
from validate.contracts import Document, InstructionRecord
from validate.io import read_records, write_records, write_table

SYSTEM = (
    "You write question/answer pairs for training a domain assistant. Answer only from the text. "
    'Reply with JSON: {{"pairs": [{{"question": "...", "answer": "..."}}]}}.'
)
USER = "Write {n} question/answer pairs in the language of this text.\n\nText:\n{text}"
FAIL_FAST_AFTER = 8  # as EngineConfig.fail_fast_after
PROBE_RETRIES = 2  # the openai client's backoff makes 6 retries of a refused connection take ~20 s


class LooseJsonParser(BaseOutputParser):
    """LangChain output parser over our tolerant JSON parsing (fences, prose, trailing commas)."""

    def parse(self, text: str) -> object:
        return parse_json_loose(text)


def build_chain(
    base_url: str | None, model: str, temperature: float = 0.2, max_tokens: int = 800, max_retries: int = 6
) -> object:
    url = effective_base_url(base_url)
    llm = ChatOpenAI(
        base_url=url,
        # A DataAgentError when a remote server would get no key; a placeholder for loopback ones.
        api_key=api_key_for(url),
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        max_retries=max_retries,
    )
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("user", USER)])
    return prompt | llm | LooseJsonParser()


def chunk_documents(docs: pd.DataFrame, chunk_tokens: int = 600) -> Iterator[tuple[object, str]]:
    """(document, chunk text) pairs from the same CJK-aware splitter the openai backend uses."""
    for doc in docs.itertuples(index=False):
        for chunk in chunk_document(doc.text, chunk_size=chunk_tokens):
            if chunk.text.strip():
                yield doc, chunk.text


def _request_failure(out: object) -> str | None:
    """The reason a chunk's request got no answer; None for an answer, even one that did not parse."""
    if isinstance(out, Exception) and not isinstance(out, ValueError):  # parser errors are ValueErrors
        return failure_reason(out)
    return None


def _batch(
    docs: pd.DataFrame, base_url: str | None, model: str, pairs_per_chunk: int, concurrency: int
) -> tuple[list[tuple[object, str]], list[object]]:
    """(chunks, outputs or exceptions); StageFailed when the first requests show a configuration problem."""
    items = list(chunk_documents(docs))
    inputs = [{"n": pairs_per_chunk, "text": chunk} for _, chunk in items]
    config = {"max_concurrency": concurrency}
    watch = FailFast(min(FAIL_FAST_AFTER, len(inputs)), model, effective_base_url(base_url))
    # The first few go alone and with few retries, so a wrong URL, key or model is reported
    # in seconds after a handful of requests, as the engine does for the openai backend.
    probe = build_chain(base_url, model, max_retries=PROBE_RETRIES)
    outputs: list[object] = probe.batch(inputs[: watch.after], config=config, return_exceptions=True)
    for out in outputs:
        watch.note(_request_failure(out))
    # The rest, and the probes that got no answer, go with the chain's full retries.
    again = [i for i, out in enumerate(outputs) if _request_failure(out)] + list(range(watch.after, len(inputs)))
    outputs += [None] * (len(inputs) - len(outputs))
    if again:
        redone = build_chain(base_url, model).batch([inputs[i] for i in again], config=config, return_exceptions=True)
        for i, out in zip(again, redone, strict=True):
            outputs[i] = out
    return items, outputs


def _qa(
    docs: pd.DataFrame, base_url: str | None, model: str, pairs_per_chunk: int, concurrency: int
) -> tuple[list[dict], list[dict], Counter, Counter]:
    """langchain_qa's three results and the failed requests by reason."""
    items, outputs = _batch(docs, base_url, model, pairs_per_chunk, concurrency)
    records, quarantine, stats, failed = [], [], Counter(requests=len(items)), Counter()
    for (doc, chunk), out in zip(items, outputs, strict=True):
        pairs = out.get("pairs") if isinstance(out, dict) else None
        if isinstance(out, Exception) or not isinstance(pairs, list):
            request_failure = _request_failure(out)
            reason = request_failure or ("unparseable" if isinstance(out, ValueError) else "wrong_shape")
            if request_failure:
                failed[reason] += 1
            quarantine.append({"source_ref": doc.canonical_url, "chunk": chunk, "reason": reason, "raw": str(out)})
            stats[f"failed/{reason}"] += 1
            continue
        for pair in pairs:
            q, a = (pair.get("question"), pair.get("answer")) if isinstance(pair, dict) else (None, None)
            if not (isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip()):
                quarantine.append(
                    {"source_ref": doc.canonical_url, "chunk": chunk, "reason": "wrong_shape", "raw": str(pair)}
                )
                stats["failed/wrong_shape"] += 1
                continue
            records.append(
                make_record(
                    q.strip(),
                    a.strip(),
                    task_type="doc_qa",
                    language=doc.language,
                    generator=f"langchain:{model}",
                    source_ref=doc.canonical_url,
                )
            )
        stats["chunks"] += 1
    return records, quarantine, stats, failed


def langchain_qa(
    docs: pd.DataFrame, base_url: str | None, model: str, pairs_per_chunk: int = 3, concurrency: int = 8
) -> tuple[list[dict], list[dict], Counter]:
    """(records, quarantined raw answers with reasons, stats) for every chunk of every document.

    StageFailed when the first requests all fail with one configuration problem (FailFast).
    """
    records, quarantine, stats, _ = _qa(docs, base_url, model, pairs_per_chunk, concurrency)
    return records, quarantine, stats


def synth_langchain(
    out_dir: str | Path,
    documents: str | Path,
    base_url: str | None,
    model: str,
    *,
    pairs_per_chunk: int = 3,
    concurrency: int = 8,
) -> dict:
    """The LangChain synth stage: documents in; instructions.*, generation_quarantine.* and a summary out.

    Like the openai backend: the summary counts failed requests (``failed_requests``,
    ``failed_summary``), and when every request failed it raises StageFailed after writing
    the quarantine.
    """
    out = Path(out_dir)
    records, quarantine, stats, failed = _qa(
        read_records(documents, Document), base_url, model, pairs_per_chunk, concurrency
    )
    frame = pd.DataFrame(records)
    if len(frame):
        # The same pair made from two chunks keeps its first copy; the others are quarantined, not dropped.
        repeat = frame["id"].duplicated(keep="first")
        quarantine += [
            {"source_ref": r["source_ref"], "chunk": "", "reason": "duplicate_id", "raw": r["output"]}
            for r in frame.loc[repeat].to_dict(orient="records")
        ]
        frame = frame.loc[~repeat]
    write_records(frame, out / "instructions", InstructionRecord)
    quarantine_file, _ = write_table(
        pd.DataFrame(quarantine, columns=["source_ref", "chunk", "reason", "raw"]), out / "generation_quarantine"
    )
    total = stats["requests"]  # one per chunk
    raise_if_all_failed(failed, total, quarantine_file)
    return {
        "records": len(frame),
        "quarantined": len(quarantine),
        **dict(stats),
        "failed_requests": dict(failed),
        "failed_summary": failure_summary(failed, total, quarantine_file),
    }
