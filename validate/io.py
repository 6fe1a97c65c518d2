"""Reading and writing contract records as JSONL and Parquet.

Writers validate before they write, so no stage can publish a record that breaks
its contract; readers validate after they read, so a hand-edited file fails with
one line naming the file, row (1-based, as an editor shows it) and column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from validate.contracts import columns
from validate.errors import ContractError, DataAgentError

SUFFIXES = (".jsonl", ".parquet")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a JSONL or Parquet file into a DataFrame without validating it."""
    path = Path(path)
    if not path.exists():
        raise DataAgentError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise DataAgentError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from exc
    if path.suffix != ".jsonl":
        raise DataAgentError(f"{path}: expected a .jsonl or .parquet file")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ContractError(str(path), lineno, None, f"a JSON object ({exc.msg} at char {exc.pos})") from exc
            if not isinstance(row, dict):
                raise ContractError(str(path), lineno, None, "a JSON object", type(row).__name__)
            rows.append(row)
    return pd.DataFrame(rows)


def validate_frame(df: pd.DataFrame, model: type[pa.DataFrameModel], path: str | Path) -> pd.DataFrame:
    """Validate all rows; on failure raise a ContractError for the first failing cell."""
    missing = [c for c in columns(model) if c not in df.columns]
    if missing:
        raise ContractError(str(path), None, missing[0], f"a '{missing[0]}' field ({model.__name__} contract)")
    try:
        return model.validate(df.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        first = cases.sort_values("index", na_position="first").iloc[0]
        row = None if pd.isna(first["index"]) else int(first["index"]) + 1
        raise ContractError(str(path), row, first["column"], str(first["check"]), first["failure_case"]) from None


def read_records(path: str | Path, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """Read and validate a contract file; the returned frame has exactly the contract's columns."""
    return validate_frame(read_table(path), model, path)


def write_table(df: pd.DataFrame, stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem``.jsonl and ``stem``.parquet side by side; returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    jsonl, parquet = stem.with_suffix(".jsonl"), stem.with_suffix(".parquet")
    # Written line by line rather than DataFrame.to_json so CJK stays readable and
    # numpy scalars and lists round-trip the same way they do through Parquet.
    with jsonl.open("w", encoding="utf-8") as fh:
        for row in df.to_dict(orient="records"):
            fh.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
    df.to_parquet(parquet, index=False)
    return jsonl, parquet


def write_records(df: pd.DataFrame, stem: str | Path, model: type[pa.DataFrameModel]) -> tuple[Path, Path]:
    """Validate ``df`` against ``model`` and write it as JSONL and Parquet."""
    if df.empty:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in columns(model)})
    valid = validate_frame(df, model, Path(stem).with_suffix(".jsonl"))
    return write_table(valid[columns(model)], stem)


def _json_default(value: object) -> object:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
