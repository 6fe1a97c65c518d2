"""The synth stage as one call: contract files in, instruction records (+ quarantine) out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synth.rules import synthesize
from validate.contracts import CodeUnit, Document, InstructionRecord, QAItem, columns
from validate.gate import REASONS, split_by_contract
from validate.io import read_records, write_records, write_table


def _read_or_empty(path: str | Path | None, model: type) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame(columns=columns(model))
    return read_records(path, model)


def synth_rules(
    out_dir: str | Path,
    documents: str | Path | None = None,
    qa: str | Path | None = None,
    code: str | Path | None = None,
) -> dict:
    """Rule-based records from whatever inputs are given; rows that break the contract are quarantined."""
    records = synthesize(
        _read_or_empty(documents, Document), _read_or_empty(qa, QAItem), _read_or_empty(code, CodeUnit)
    )
    # The same pair found twice (an FAQ repeated on two pages) keeps its first copy;
    # later copies are quarantined with the reason rather than failing the id contract.
    repeat = records["id"].duplicated(keep="first") if len(records) else pd.Series(dtype=bool)
    accepted, quarantined = split_by_contract(records.loc[~repeat], InstructionRecord)
    repeats = records.loc[repeat].assign(**{REASONS: [["duplicate_id"]] * int(repeat.sum())})
    quarantined = pd.concat([quarantined, repeats], ignore_index=True)
    out = Path(out_dir)
    write_records(accepted, out / "instructions", InstructionRecord)
    if len(quarantined):
        write_table(quarantined, out / "instructions.quarantine")
    by_task = accepted["task_type"].value_counts().to_dict() if len(accepted) else {}
    return {
        "made": len(records),
        "kept": len(accepted),
        "quarantined": len(quarantined),
        "by_task_type": by_task,
        "output": str(out / "instructions.parquet"),
    }
