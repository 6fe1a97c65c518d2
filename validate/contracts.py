"""The record contracts every stage reads and writes.

Each contract is a pandera DataFrameModel. A stage builds a DataFrame of records,
and ``validate.io.write_records`` refuses to write it unless it passes the contract.
Field meanings are documented inline because the contracts are the project's API:
docs/ARCHITECTURE.md links here instead of repeating them.
"""

from __future__ import annotations

import pandas as pd
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


# The stages that quarantine, as QuarantineRecord.stage names them.
QUARANTINE_STAGES = ("crawl", "extract", "synth", "import", "gate")


def _reason_lists(series: object) -> object:
    """Each value a non-empty list of non-blank strings (numpy arrays, as Parquet reads lists, count too)."""
    return series.map(  # type: ignore[attr-defined]
        lambda v: (
            hasattr(v, "__len__")
            and not isinstance(v, str | bytes | dict)
            and len(v) > 0
            and all(isinstance(x, str) and x.strip() for x in v)
        )
    )


class QuarantineRecord(pa.DataFrameModel):
    """One row of any stage's quarantine file: a record (or request, page, line) that was not accepted, and why.

    Every stage writes these columns first, through ``validate.quarantine.write_quarantine``, into the file
    its users already know (``documents.quarantine.*``, ``code_units.quarantine.*``, ``instructions.quarantine.*``,
    ``generation_quarantine.*``, ``import_quarantine.*``, the gate's ``quarantine.*``). A stage may keep its
    own columns after them (the gate keeps the record's fields and ``line``; the LLM backends ``source_ref``,
    ``template``, ``raw``): the contract checks the common ones and lets the others through.
    """

    stage: Series[str] = pa.Field(isin=list(QUARANTINE_STAGES), description="crawl, extract, synth, import or gate.")
    reason: Series[str] = pa.Field(
        str_matches=r"^\S(.*\S)?$",
        description="Countable category: the first of quarantine_reasons with ids, indices and details taken "
        "out (near_duplicate_of:<id> is near_duplicate, 'pairs[2].answer too short (12 < 20)' is "
        "'pairs[].answer too short'). Never a class or function name.",
    )
    quarantine_reasons: Series[object] = pa.Field(
        description="Every reason the row failed, as the stage labels them (the gate's sorted list; one "
        "reason for stages that stop at the first)."
    )
    detail: Series[str] = pa.Field(description="Free text for a person: what exactly was wrong.")
    source_file: Series[str] = pa.Field(
        description="The file (or repository path, or dataset) the offending record came from; '' if none."
    )
    row: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=1,
        description="1-based line or row in source_file (the line of a file, a code unit's first line).",
    )
    column: Series[str] = pa.Field(nullable=True, description="The field a check failed on, when a check names one.")
    record_id: Series[str] = pa.Field(
        nullable=True, description="The record's own key where it has one: id, URL, or source_ref."
    )
    record: Series[str] = pa.Field(
        str_startswith="{", description="The offending record, or what the stage had of it, as one JSON object."
    )

    @pa.check("quarantine_reasons", error="a non-empty list of reasons")
    def reasons_are_lists(cls, series):  # noqa: N805 - pandera passes the class
        return _reason_lists(series)

    class Config:
        strict = False  # a stage's own columns follow the common ones
        coerce = True


CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "document": Document,
    "qa": QAItem,
    "code": CodeUnit,
    "instruction": InstructionRecord,
    "quarantine": QuarantineRecord,
}


def columns(model: type[pa.DataFrameModel]) -> list[str]:
    """The contract's column names in declaration order."""
    return list(model.to_schema().columns)
