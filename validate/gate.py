"""The quality gate: split records into accepted and quarantined by pandera checks.

Validation is lazy so one pass reports every failing check of every row; each
quarantined row carries the names of all checks it failed. The invariant
accepted + quarantined = input is asserted, not assumed.

Text fields are type-checked before any check runs (``type_failures``): a number, list or dict where the
contract wants a string is its own reason, ``<field>:not_a_string``, never its Python repr passed on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_

from validate.errors import DataAgentError

REASONS = "quarantine_reasons"


def non_strings(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(missing, wrong): masks of the values of ``s`` that are null, and of those present but not a str.

    A string-dtype column needs no look at its values, and a numeric, bool or datetime one holds no strings;
    only an object column (what a reader builds for mixed values) is checked value by value.
    """
    if _is_text_dtype(s.dtype):
        return s.isna().to_numpy(), np.zeros(len(s), bool)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    missing = s.isna().to_numpy()
    if s.dtype != object:
        return missing, ~missing
    is_str = np.fromiter((isinstance(v, str) for v in s), bool, len(s))
    return missing & ~is_str, ~is_str & ~missing


def _is_text_dtype(dtype: object) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return True
    arrow = getattr(dtype, "pyarrow_dtype", None)  # pd.ArrowDtype, as dtype_backend="pyarrow" reads give
    return arrow is not None and (pyarrow_.types.is_string(arrow) or pyarrow_.types.is_large_string(arrow))


def type_failures(df: pd.DataFrame, text_columns: list[str]) -> dict[str, np.ndarray]:
    """Positions of the rows whose text field is null (``<field>:missing``) or not a string
    (``<field>:not_a_string``), per label; labels with no rows are left out."""
    found: dict[str, np.ndarray] = {}
    for c in text_columns:
        missing, wrong = non_strings(df[c])
        for label, mask in ((f"{c}:missing", missing), (f"{c}:not_a_string", wrong)):
            if mask.any():
                found[label] = np.flatnonzero(mask)
    return found


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
