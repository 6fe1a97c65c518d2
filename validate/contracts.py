"""The record contracts every stage reads and writes.

Each contract is a pandera DataFrameModel. A stage builds a DataFrame of records,
and ``validate.io.write_records`` refuses to write it unless it passes the contract.
Field meanings are documented inline because the contracts are the project's API:
docs/ARCHITECTURE.md links here instead of repeating them.
"""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

# ISO 8601 UTC timestamps are kept as strings: they survive JSONL and Parquet
# unchanged and compare lexically, which is all the pipeline needs.
ISO_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
SHA256 = r"^[0-9a-f]{64}$"
# BCP 47 subset: language, optional script (zh-Hant / zh-Hans), or "und" when unknown.
LANG_TAG = r"^([a-z]{2,3}(-[A-Z][a-z]{3})?|und)$"
NONBLANK = r"\S"
# One home for the project's address: the crawler's User-Agent names it to site owners
# (crawlers/settings.py) and every dataset card links it (validate/publish.py).
PROJECT_URL = "https://github.com/dataagent/dataagent"


class Document(pa.DataFrameModel):
    """One crawled web page after main-content extraction."""

    url: Series[str] = pa.Field(str_matches=r"^https?://", description="URL as fetched (after redirects).")
    canonical_url: Series[str] = pa.Field(
        str_matches=r"^https?://", description="rel=canonical if the page names one, else the normalised URL."
    )
    title: Series[str] = pa.Field(description="Page title; empty string when the page has none.")
    text: Series[str] = pa.Field(
        str_contains=NONBLANK, description="Main content as Markdown (headings kept as '#' lines)."
    )
    language: Series[str] = pa.Field(str_matches=LANG_TAG, description="zh-Hant, zh-Hans, en, ... or und.")
    fetched_at: Series[str] = pa.Field(str_matches=ISO_UTC, description="UTC time of the fetch.")
    published_at: Series[str] = pa.Field(nullable=True, description="Publication date when the page states one.")
    http_status: Series[int] = pa.Field(ge=100, le=599, description="HTTP status of the kept response.")
    source: Series[str] = pa.Field(str_contains=NONBLANK, description="Recipe or site name that produced it.")
    license: Series[str] = pa.Field(description="Licence or terms-of-use note copied from the recipe.")
    content_hash: Series[str] = pa.Field(
        str_matches=SHA256, unique=True, description="sha256 of the normalised text; exact-duplicate key."
    )

    class Config:
        strict = "filter"
        coerce = True


class QAItem(pa.DataFrameModel):
    """A question/answer pair a site already publishes (FAQPage JSON-LD, FAQ markup)."""

    url: Series[str] = pa.Field(str_matches=r"^https?://", description="Page the pair was found on.")
    question: Series[str] = pa.Field(str_contains=NONBLANK, description="Question text as the page shows it.")
    answer: Series[str] = pa.Field(str_contains=NONBLANK, description="Answer text, HTML tags removed.")
    language: Series[str] = pa.Field(str_matches=LANG_TAG, description="Language of question + answer.")
    fetched_at: Series[str] = pa.Field(str_matches=ISO_UTC, description="UTC time of the fetch.")
    source: Series[str] = pa.Field(str_contains=NONBLANK, description="Recipe or site name that produced it.")
    license: Series[str] = pa.Field(description="Licence or terms-of-use note copied from the recipe.")
    origin: Series[str] = pa.Field(isin=["jsonld", "microdata", "html"], description="Where on the page it was found.")

    class Config:
        strict = "filter"
        coerce = True


class CodeUnit(pa.DataFrameModel):
    """One function, method or class pulled from a git repository with tree-sitter."""

    repo: Series[str] = pa.Field(str_contains=NONBLANK, description="Clone URL or local path as given.")
    commit: Series[str] = pa.Field(str_matches=r"^[0-9a-f]{40}$", description="Commit SHA the code was read at.")
    path: Series[str] = pa.Field(str_contains=NONBLANK, description="File path relative to the repo root.")
    language: Series[str] = pa.Field(str_matches=r"^[a-z_+#]+$", description="tree-sitter language name.")
    kind: Series[str] = pa.Field(isin=["function", "method", "class"])
    symbol: Series[str] = pa.Field(str_contains=NONBLANK, description="Bare name, e.g. 'add'.")
    qualified_name: Series[str] = pa.Field(str_contains=NONBLANK, description="Dotted path, e.g. 'Ledger.add'.")
    signature: Series[str] = pa.Field(str_contains=NONBLANK, description="Declaration line(s) up to the body.")
    docstring: Series[str] = pa.Field(description="Docstring or leading comment, markers stripped; may be empty.")
    code: Series[str] = pa.Field(str_contains=NONBLANK, description="Full source text of the unit.")
    start_line: Series[int] = pa.Field(ge=1, description="1-based first line.")
    end_line: Series[int] = pa.Field(ge=1, description="1-based last line, inclusive.")
    license: Series[str] = pa.Field(description="SPDX id of the repository licence, or 'unknown'.")

    @pa.dataframe_check(error="end_line >= start_line")
    def lines_ordered(cls, df):  # noqa: N805 - pandera passes the class
        return df["end_line"] >= df["start_line"]

    class Config:
        strict = "filter"
        coerce = True


class InstructionRecord(pa.DataFrameModel):
    """One instruction-tuning example, the unit the gate checks and the Hub receives."""

    id: Series[str] = pa.Field(
        str_matches=SHA256, unique=True, description="sha256 of (instruction, input, output): stable across runs."
    )
    instruction: Series[str] = pa.Field(str_contains=NONBLANK, description="The task or question put to the model.")
    input: Series[str] = pa.Field(description="Optional context; empty string when there is none.")
    output: Series[str] = pa.Field(str_contains=NONBLANK, description="The reference answer (the gold side).")
    task_type: Series[str] = pa.Field(str_matches=r"^[a-z][a-z0-9_]*$", description="e.g. faq_qa, section_qa.")
    language: Series[str] = pa.Field(str_matches=LANG_TAG, description="BCP 47 tag: zh-Hant, zh-Hans, en, ...")
    generator: Series[str] = pa.Field(str_contains=NONBLANK, description="'rule:<name>' or the model id.")
    source_ref: Series[str] = pa.Field(
        str_contains=NONBLANK, description="Source URL, or repo@commit:path:start-end for code."
    )
    created_at: Series[str] = pa.Field(str_matches=ISO_UTC, description="UTC time the record was made.")

    class Config:
        strict = "filter"
        coerce = True


CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "document": Document,
    "qa": QAItem,
    "code": CodeUnit,
    "instruction": InstructionRecord,
}


def columns(model: type[pa.DataFrameModel]) -> list[str]:
    """The contract's column names in declaration order."""
    return list(model.to_schema().columns)
