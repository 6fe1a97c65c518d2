"""Quality checks on InstructionRecord, built as one pandera schema on top of the contract.

Each check is a named, vectorised pandera Check, so a quarantined row says exactly
which checks it failed, and lazy validation reports them all in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from validate.contracts import InstructionRecord
from validate.gate import REASONS, split_by_contract
from validate.text import content_hash, normalize_text


@dataclass
class GateConfig:
    min_output_chars: int = 2
    max_instruction_chars: int = 4000
    max_output_chars: int = 16000
    # Template/role-tag residue and Alpaca's "<noinput>" family.
    leak_pattern: str = (
        r"\{(?:context|question|input|instruction|text)\}|<no ?input>|<\|im_(?:start|end)\|>|</?think>"
        r"|^\s*#{0,3}\s*(?:Instruction|Response):"
    )
    refusal_pattern: str = (
        r"(?i)as an ai (?:language )?model|i(?:'m| am) (?:just )?an ai\b"
        r"|作為一個(?:人工智慧|AI)|作为一个(?:人工智能|AI)|我是一個 ?AI|我是一个 ?AI"
    )


def quality_schema(cfg: GateConfig) -> pa.DataFrameSchema:
    """The contract plus the quality checks, thresholds taken from ``cfg``."""
    base = InstructionRecord.to_schema()
    cols = dict(base.columns)
    cols["instruction"] = cols["instruction"].set_checks(
        [
            *cols["instruction"].checks,
            pa.Check.str_length(max_value=cfg.max_instruction_chars, name="instruction_too_long"),
        ]
    )
    cols["output"] = cols["output"].set_checks(
        [
            *cols["output"].checks,
            pa.Check(lambda s: s.str.strip().str.len() >= cfg.min_output_chars, name="output_too_short"),
            pa.Check.str_length(max_value=cfg.max_output_chars, name="output_too_long"),
            pa.Check(lambda s: ~s.str.contains(cfg.refusal_pattern, regex=True), name="refusal_boilerplate"),
        ]
    )
    # Uniqueness of id is handled by exact dedup (which keeps the first copy), not by failing both.
    cols["id"] = cols["id"].set_checks(cols["id"].checks)
    cols["id"].unique = False

    def not_echo(df: pd.DataFrame) -> pd.Series:
        return df["output"].map(normalize_text) != df["instruction"].map(normalize_text)

    def no_leak(df: pd.DataFrame) -> pd.Series:
        joined = df["instruction"] + "\n" + df["input"] + "\n" + df["output"]
        return ~joined.str.contains(cfg.leak_pattern, regex=True, flags=re.MULTILINE)

    return pa.DataFrameSchema(
        columns=cols,
        checks=[
            *base.checks,
            pa.Check(not_echo, name="output_echoes_instruction"),
            pa.Check(no_leak, name="template_leak"),
        ],
        coerce=True,
        strict="filter",
        name="InstructionRecordQuality",
    )


def run_gate(df: pd.DataFrame, cfg: GateConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(accepted, quarantined, report). Exact duplicates after the first copy are quarantined too."""
    cfg = cfg or GateConfig()
    accepted, quarantined = split_by_contract(df, quality_schema(cfg))
    if len(accepted):
        key = [
            content_hash(i, x, o)
            for i, x, o in zip(accepted["instruction"], accepted["input"], accepted["output"], strict=False)
        ]
        dup = pd.Series(key).duplicated(keep="first").to_numpy()
        dups = accepted.loc[dup].copy()
        dups[REASONS] = [["exact_duplicate"]] * len(dups)
        accepted = accepted.loc[~dup].reset_index(drop=True)
        quarantined = pd.concat([quarantined, dups], ignore_index=True)
    if len(accepted) + len(quarantined) != len(df):
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {len(df)}")
    counts: dict[str, int] = {}
    for reasons in quarantined[REASONS] if len(quarantined) else []:
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    report = {
        "input": len(df),
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "failures_by_check": dict(sorted(counts.items())),
    }
    return accepted, quarantined, report
