"""One quarantine schema for every stage: rows that were not accepted, as QuarantineRecord rows.

Each stage hands ``write_quarantine`` the rows it set aside, in whatever shape it has them (a frame of
records with a ``quarantine_reasons`` list, a list of dicts with a ``reason``), and the writer fills
the common columns of ``validate.contracts.QuarantineRecord`` in front of the stage's own:

- ``stage``: crawl, extract, synth, import or gate;
- ``quarantine_reasons``: every reason (``[reason]`` when the stage gave one);
- ``reason``: the first reason as a countable category (:func:`category`);
- ``detail``: the stage's ``detail`` (or ``message``), else the reasons joined;
- ``source_file``, ``row``: where the record came from, 1-based, when known;
- ``column``: the field the first ``<field>:<check>`` reason names;
- ``record_id``: the record's ``id_column`` value (its id, URL or source_ref);
- ``record``: the record's own fields (``record_columns``) as one JSON object.

The frame is checked against the contract before anything is written, so every quarantine file in
an output folder can be read the same way. The stage's own columns are kept after the common ones,
so a reader of yesterday's columns (the gate's record fields and ``line``, the LLM backends' ``raw``)
still finds them; a record field whose name is a common column's is kept as ``record_<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from validate.contracts import QUARANTINE_STAGES, QuarantineRecord, columns
from validate.errors import DataAgentError
from validate.gate import REASONS
from validate.io import json_line, validate_frame, write_table

COMMON = columns(QuarantineRecord)
_SUPPLIED = ("detail", "source_file", "row", "column", "record_id", "record")  # a stage may give these itself


def category(reason: object) -> str:
    """A reason as a countable category: ids, indices and parenthesised details taken out.

    ``near_duplicate_of:<id>`` -> ``near_duplicate``; ``pairs[2].answer too short (12 < 20 weighted chars)``
    -> ``pairs[].answer too short``. Labels such as ``output:refusal_boilerplate`` are categories already.
    """
    text = " ".join(str(reason).split())
    if text.startswith("near_duplicate_of:"):
        return "near_duplicate"
    text = re.sub(r"\[\d+\]", "[]", re.sub(r"\s*\(.*\)\s*$", "", text))
    return text or "unknown"


def quarantine_frame(
    rows: pd.DataFrame | Sequence[dict],
    stage: str,
    *,
    source_file: str | Path = "",
    record_columns: Sequence[str] | None = None,
    id_column: str | None = "id",
    row_column: str | None = None,
) -> pd.DataFrame:
    """``rows`` as QuarantineRecord rows, checked: the common columns, then the stage's own columns.

    ``record_columns``: the columns that make up the offending record (default: every column that is not a
    common one nor ``quarantine_reasons``). ``id_column`` and ``row_column`` name the columns that give
    ``record_id`` and ``row`` when the rows do not carry them. ``source_file`` is used for rows without one.
    """
    if stage not in QUARANTINE_STAGES:
        raise DataAgentError(f"unknown quarantine stage {stage!r} (one of {', '.join(QUARANTINE_STAGES)})")
    frame = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if record_columns is None:
        record_columns = [c for c in frame.columns if c not in COMMON and c != REASONS]
    record_columns = list(record_columns)
    # Columns the stage supplied as common values; a record field that shares a name is the record's.
    given = {c for c in frame.columns if c in (*COMMON, REASONS) and c not in record_columns}
    values = {c: frame[c].tolist() for c in frame.columns}
    n = len(frame)
    own = values.get(REASONS) if REASONS in given else None
    reasons = [_reasons(own[i] if own else None, values["reason"][i] if "reason" in given else None) for i in range(n)]
    records = [{c: values[c][i] for c in record_columns} for i in range(n)]
    common: dict[str, list] = {
        "stage": [stage] * n,
        "reason": [category(r[0]) for r in reasons],
        "quarantine_reasons": reasons,
        "detail": _given(values, given, "detail", n) or [None] * n,
        "source_file": _given(values, given, "source_file", n) or [None] * n,
        "row": _given(values, given, "row", n) or (values[row_column] if row_column in values else [None] * n),
        "column": _given(values, given, "column", n) or [None] * n,
        "record_id": _given(values, given, "record_id", n)
        or (values[id_column] if id_column in values else [None] * n),
        "record": _given(values, given, "record", n) or [None] * n,
    }
    message = values.get("message")
    for i in range(n):
        if _blank(common["detail"][i]):
            common["detail"][i] = message[i] if message and not _blank(message[i]) else "; ".join(reasons[i])
        if _blank(common["source_file"][i]):
            common["source_file"][i] = str(source_file)
        common["row"][i] = _line(common["row"][i])
        if _blank(common["column"][i]):
            common["column"][i] = _field_of(reasons[i], records[i])
        if not isinstance(common["record_id"][i], str) or not common["record_id"][i].strip():
            common["record_id"][i] = None
        if _blank(common["record"][i]):
            common["record"][i] = json_line(records[i])
    out = pd.DataFrame({c: pd.Series(common[c], dtype=object) for c in COMMON})
    for c in frame.columns:
        if c in given:
            continue
        name = f"record_{c}" if c in (*COMMON, REASONS) else c
        out[name] = pd.Series(values[c], dtype=object) if n else frame[c].astype(object)
    return validate_frame(out, QuarantineRecord, f"{stage} quarantine")


def write_quarantine(
    rows: pd.DataFrame | Sequence[dict],
    stem: str | Path,
    stage: str,
    *,
    source_file: str | Path = "",
    record_columns: Sequence[str] | None = None,
    id_column: str | None = "id",
    row_column: str | None = None,
) -> tuple[Path, Path]:
    """Write ``rows`` as ``<stem>.jsonl`` and ``<stem>.parquet`` QuarantineRecord rows (see quarantine_frame)."""
    frame = quarantine_frame(
        rows,
        stage,
        source_file=source_file,
        record_columns=record_columns,
        id_column=id_column,
        row_column=row_column,
    )
    return write_table(frame, stem)


def _reasons(own: object, reason: object) -> list[str]:
    """A row's reasons: its list, else its single reason, else 'unknown'; each a non-blank string."""
    if isinstance(own, np.ndarray):
        own = own.tolist()
    if isinstance(own, list | tuple) and own:
        found = [str(r).strip() for r in own if not _blank(r)]
        if found:
            return found
    if not _blank(reason):
        return [" ".join(str(reason).split())]
    return ["unknown"]


def _given(values: dict[str, list], given: set[str], name: str, n: int) -> list | None:
    return list(values[name]) if name in given and name in _SUPPLIED else None


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, str) and not value.strip()


def _line(value: object) -> int | None:
    """A 1-based position, or None for anything that is not a whole number >= 1."""
    if isinstance(value, bool) or _blank(value):
        return None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 1 and number == value else None


def _field_of(reasons: list[str], record: dict) -> str | None:
    """The record field the first ``<field>:<check>`` reason names."""
    for reason in reasons:
        field, colon, _ = reason.partition(":")
        if colon and field in record:
            return field
    return None
