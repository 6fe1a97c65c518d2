"""The LangChain backend (`--backend langchain`): QA pairs from documents with a LangChain chain.

The chain is the one QAGenerationChain meant to be, rebuilt from langchain-core because
QAGenerationChain (now in langchain-classic, deprecated) makes a single pair per 4000-char
chunk and crashes when the model wraps its JSON in a Markdown fence:

    ChatPromptTemplate  ->  ChatOpenAI (any OpenAI-compatible server)  ->  tolerant JSON parser

over the ``qa`` generator's chunks and doc_qa prompt (synth/generators/qa.py), whose checks
also judge the answers: the two backends differ only in how requests travel.
It has no cache or budget of its own; the `openai` backend is the one with cost control
and resume. Failures are judged as the engine judges them (synth.engine.FailFast,
failure_reason): a wrong URL, key or model stops after the first few chunks, and
``synth_langchain`` raises StageFailed when every request failed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from synth.engine import (
    FailFast,
    api_key_for,
    effective_base_url,
    failure_reason,
    failure_summary,
    raise_if_all_failed,
)
from synth.generators import ParseError, qa, raw_of
from validate.contracts import Document, InstructionRecord
from validate.io import read_records, write_records
from validate.jsonparse import parse_json_loose
from validate.quarantine import write_quarantine

FAIL_FAST_AFTER = 8  # as EngineConfig.fail_fast_after
PROBE_RETRIES = 2  # the openai client's backoff makes 6 retries of a refused connection take ~20 s
TEMPLATE = qa.TEMPLATE  # quarantine rows name the qa template: the checks and reasons are the same
# The openai backend's own quarantine columns (synth/run_llm.py), plus the chunk the answer was written from;
# the common columns of validate.contracts.QuarantineRecord come first.
QUARANTINE_COLUMNS = ["source_ref", "template", "reason", "detail", "raw", "chunk"]


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
    # The messages are the qa generator's, rendered already: the template only passes them through.
    prompt = ChatPromptTemplate.from_messages([("system", "{system}"), ("user", "{user}")])
    return prompt | llm | LooseJsonParser()


def qa_inputs(docs: pd.DataFrame, pairs_per_chunk: int, model: str) -> list[tuple[dict, dict]]:
    """(request meta, chain input) per chunk: the ``qa`` generator's own chunks and doc_qa prompt
    (in the document's language), so both backends ask the same question of the same text."""
    # Every non-empty chunk is asked, as this route always did; the openai backend skips tiny ones.
    requests = qa.build_requests(docs, n_pairs=pairs_per_chunk, min_chunk_tokens=0, model=model)
    return [(r.meta, {"system": r.messages[0]["content"], "user": r.messages[1]["content"]}) for r in requests]


def _request_failure(out: object) -> str | None:
    """The reason a chunk's request got no answer; None for an answer, even one that did not parse."""
    if isinstance(out, Exception) and not isinstance(out, ValueError):  # parser errors are ValueErrors
        return failure_reason(out)
    return None


def _batch(
    docs: pd.DataFrame, base_url: str | None, model: str, pairs_per_chunk: int, concurrency: int
) -> tuple[list[tuple[dict, dict]], list[object]]:
    """(each chunk's request meta and chain input, outputs or exceptions).

    StageFailed when the first requests show a configuration problem.
    """
    items = qa_inputs(docs, pairs_per_chunk, model)
    inputs = [chain_input for _, chain_input in items]
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
    """langchain_qa's three results and the failed requests by reason.

    Answers are judged by the ``qa`` generator's own functions (``pairs_of``, ``pair_records``):
    the same shapes accepted, the same per-pair checks, the same quarantine reasons.
    """
    items, outputs = _batch(docs, base_url, model, pairs_per_chunk, concurrency)
    records, quarantine, stats, failed = [], [], Counter(requests=len(items)), Counter()

    def reject(source: str, chunk: str, category: str, detail: str | None, raw: str) -> None:
        quarantine.append(_row(source, chunk, category, detail, raw))
        stats[f"failed/{category}"] += 1

    for (meta, _), out in zip(items, outputs, strict=True):
        source, chunk = meta["source_ref"], meta["chunk"]
        request_failure = _request_failure(out)
        if request_failure:
            failed[request_failure] += 1
            reject(source, chunk, request_failure, str(out), "")
            continue
        if isinstance(out, ValueError):
            reject(source, chunk, "unparseable", str(out).removeprefix("unparseable: "), _raw_answer(out))
            continue
        try:
            pairs = qa.pairs_of(out)
        except ParseError as exc:
            reject(source, chunk, exc.category, exc.detail, raw_of(out))
            continue
        good, bad = qa.pair_records(pairs, meta, generator=f"langchain:{model}", limit=pairs_per_chunk)
        records += good
        for item in bad:
            reject(source, chunk, item.category, item.detail, item.raw)
        stats["chunks"] += 1
    return records, quarantine, stats, failed


def _row(source: str, chunk: str, reason: str, detail: str | None, raw: str) -> dict:
    return {
        "source_ref": source,
        "template": TEMPLATE,
        "reason": reason,
        "detail": detail or reason,
        "raw": raw,
        "chunk": chunk,
    }


def _raw_answer(exc: Exception) -> str:
    # LangChain's OutputParserException keeps the model's text; a plain ValueError has only its message.
    return str(getattr(exc, "llm_output", None) or exc)


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
            _row(r["source_ref"], "", "duplicate_id", None, r["output"])
            for r in frame.loc[repeat].to_dict(orient="records")
        ]
        frame = frame.loc[~repeat]
    write_records(frame, out / "instructions", InstructionRecord)
    quarantine_file, _ = write_quarantine(
        pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS),
        out / "generation_quarantine",
        "synth",
        source_file=documents,
        id_column="source_ref",
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
