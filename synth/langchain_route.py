"""The LangChain backend (`--backend langchain`): QA pairs from documents with a LangChain chain.

The chain is the one QAGenerationChain meant to be, rebuilt from langchain-core because
QAGenerationChain (now in langchain-classic, deprecated) makes a single pair per 4000-char
chunk and crashes when the model wraps its JSON in a Markdown fence:

    ChatPromptTemplate  ->  ChatOpenAI (any OpenAI-compatible server)  ->  tolerant JSON parser

over chunks from synth/chunking.py (langchain-text-splitters with Chinese sentence punctuation).
It has no cache or budget of its own; the `openai` backend is the one with cost control
and resume.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pandas as pd
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from synth.chunking import chunk_document
from synth.jsonparse import parse_json_loose
from synth.records import make_record

SYSTEM = (
    "You write question/answer pairs for training a domain assistant. Answer only from the text. "
    'Reply with JSON: {{"pairs": [{{"question": "...", "answer": "..."}}]}}.'
)
USER = "Write {n} question/answer pairs in the language of this text.\n\nText:\n{text}"


class LooseJsonParser(BaseOutputParser):
    """LangChain output parser over our tolerant JSON parsing (fences, prose, trailing commas)."""

    def parse(self, text: str) -> object:
        return parse_json_loose(text)


def build_chain(base_url: str | None, model: str, temperature: float = 0.2, max_tokens: int = 800) -> object:
    llm = ChatOpenAI(
        base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
        # The key is read from the environment by ChatOpenAI itself when not passed; a
        # placeholder lets keyless local servers (vLLM, llama.cpp) work.
        api_key=os.environ.get("OPENAI_API_KEY") or "no-key",
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        max_retries=6,
    )
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("user", USER)])
    return prompt | llm | LooseJsonParser()


def chunk_documents(docs: pd.DataFrame, chunk_tokens: int = 600) -> Iterator[tuple[object, str]]:
    """(document, chunk text) pairs from the same CJK-aware splitter the openai backend uses."""
    for doc in docs.itertuples(index=False):
        for chunk in chunk_document(doc.text, chunk_size=chunk_tokens):
            if chunk.text.strip():
                yield doc, chunk.text


def langchain_qa(
    docs: pd.DataFrame, base_url: str | None, model: str, pairs_per_chunk: int = 3, concurrency: int = 8
) -> tuple[list[dict], list[dict], Counter]:
    """(records, quarantined raw answers with reasons, stats) for every chunk of every document."""
    chain = build_chain(base_url, model)
    items = list(chunk_documents(docs))
    outputs = chain.batch(
        [{"n": pairs_per_chunk, "text": chunk} for _, chunk in items],
        config={"max_concurrency": concurrency},
        return_exceptions=True,
    )
    records, quarantine, stats = [], [], Counter()
    for (doc, chunk), out in zip(items, outputs, strict=True):
        pairs = out.get("pairs") if isinstance(out, dict) else None
        if isinstance(out, Exception) or not isinstance(pairs, list):
            reason = (
                "unparseable"
                if isinstance(out, ValueError)
                else type(out).__name__
                if isinstance(out, Exception)
                else "wrong_shape"
            )
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
    return records, quarantine, stats
