"""The quality gate: split records into accepted and quarantined by pandera checks.

Validation is lazy so one pass reports every failing check of every row; each
quarantined row carries the names of all checks it failed. The invariant
accepted + quarantined = input is asserted, not assumed.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from validate.errors import DataAgentError

REASONS = "quarantine_reasons"


def split_by_contract(
    df: pd.DataFrame, model: type[pa.DataFrameModel] | pa.DataFrameSchema
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (accepted rows, quarantined rows + a list of reasons each)."""
    schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
    cols = list(schema.columns)
    if df.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        return empty, empty.assign(**{REASONS: pd.Series(dtype=object)})
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataAgentError(f"records lack the field '{missing[0]}' required by the {schema.name} contract")
    df = df.reset_index(drop=True)
    reasons: dict[int, list[str]] = {}
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            # Frame-level checks are reported once per column; the check name alone says it.
            column_level = case.schema_context == "Column" and isinstance(case.column, str)
            label = f"{case.column}:{case.check}" if column_level else str(case.check)
            if pd.isna(case.index):
                # A column-level failure (e.g. wrong dtype that cannot be coerced) hits every row.
                for i in range(len(df)):
                    reasons.setdefault(i, []).append(label)
            else:
                reasons.setdefault(int(case.index), []).append(label)
    bad = df.index.isin(list(reasons))
    accepted = schema.validate(df.loc[~bad].reset_index(drop=True))[cols] if (~bad).any() else df.iloc[0:0][cols]
    quarantined = df.loc[bad].copy()
    quarantined[REASONS] = [sorted(set(reasons[i])) for i in quarantined.index]
    quarantined = quarantined.reset_index(drop=True)
    if len(accepted) + len(quarantined) != len(df):
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {len(df)}")
    return accepted, quarantined
