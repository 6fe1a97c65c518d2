"""Reading and writing contract records as JSONL and Parquet.

Writers validate before they write, so no stage can publish a record that breaks
its contract; readers validate after they read, so a hand-edited file fails with
one line naming the file, row (1-based, as an editor shows it) and column.

Readers survive any input. A problem with the whole file (a directory, gzip or UTF-16
bytes under a .jsonl name, an unreadable Parquet file, no records at all) is one
``DataAgentError`` naming the file. A bad line of a JSONL file (not UTF-8, not JSON,
not an object, nested too deep, a number Python cannot hold, NaN, a lone surrogate)
is either that error, naming the line too, or, for the gate, a quarantine row with a
``bad_line:<why>`` reason and its 1-based line number. Readers never coerce: a list in
a text field reaches the gate as a list, so it can be refused rather than stringified.

Writers write strict JSON: no bare NaN or Infinity, which most JSON parsers refuse.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_

from validate.contracts import columns
from validate.errors import ContractError, DataAgentError
from validate.gate import non_strings

SUFFIXES = (".jsonl", ".parquet", ".jsonl.gz")
OnBadLine = Literal["quarantine", "error"]
RAW_LIMIT = 1000  # characters of a bad line kept in quarantine: enough to find and fix it
UTF8_BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")  # \ud800-\udfff, the only way JSON spells one


@dataclass
class Table:
    """Records read from a file: the parsed rows, where each came from, and the lines that could not be read."""

    frame: pd.DataFrame
    lines: np.ndarray | None = None  # 1-based line of each row of ``frame`` (JSONL); None for Parquet
    bad: list[dict] = field(default_factory=list)  # {"line", "reason", "message", "raw"} per unreadable line


class BadLineError(ValueError):
    """One line that holds no record; ``reason`` is the quarantine label, ``message`` says why to a person."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = f"bad_line:{reason}", message


# --- reading ----------------------------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a JSONL or Parquet file into a DataFrame without validating it; any bad line is an error."""
    return load_table(path).frame


def load_table(path: str | Path, on_bad_line: OnBadLine = "error") -> Table:
    """Read a JSONL (optionally .jsonl.gz) or Parquet file. With ``on_bad_line="error"`` the first bad line
    raises a ContractError naming file and line; with ``"quarantine"`` bad lines are returned in ``Table.bad``."""
    path = Path(path)
    check_path(path)
    if path.name.endswith(".parquet"):
        return Table(_read_parquet(path))
    rows, lines, bad = read_jsonl_lines(path)
    if bad and on_bad_line == "error":
        first = bad[0]
        raise ContractError(str(path), None, None, f"a JSON object, got {first['message']}", line=first["line"])
    if not rows and not bad:
        raise DataAgentError("file is empty: no records", path)
    return Table(records_frame(rows), np.asarray(lines, dtype=np.int64), bad)


def check_path(path: Path) -> None:
    """The whole-file problems a reader can see before parsing anything, each as one line naming the file."""
    if not path.exists():
        raise DataAgentError("no such file", path)
    if path.is_dir():
        raise DataAgentError("expected a file, got a directory", path)
    if not path.name.endswith(SUFFIXES):
        raise DataAgentError("expected a .jsonl or .parquet file", path)
    try:
        with path.open("rb") as fh:
            empty = not fh.read(1)
    except PermissionError:
        raise DataAgentError("permission denied", path) from None
    except OSError as exc:
        raise DataAgentError(f"cannot read the file: {exc.strerror or exc}", path) from None
    if empty:
        raise DataAgentError("file is empty: no records", path)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise DataAgentError(f"not a readable Parquet file: {first[:160]}", path) from None


def read_jsonl_lines(path: str | Path) -> tuple[list[dict], list[int], list[dict]]:
    """(rows, the 1-based line of each row, bad lines) of a JSONL file; blank lines are skipped.

    Lines are split on b"\\n" only (a trailing \\r is dropped), so U+2028/U+2029 inside strings stay text and a
    \\r\\n file reads like a \\n one. A UTF-8 BOM at the start is ignored. Whole-file problems raise.
    """
    return parse_lines(raw_lines(Path(path)))


def parse_lines(numbered: Iterable[tuple[int, bytes]]) -> tuple[list[dict], list[int], list[dict]]:
    """(rows, their line numbers, bad lines) of numbered JSONL lines; blank lines are skipped. The one place a
    line becomes a record or a ``bad_line`` entry, for the whole-file reader and the Ray gate's splits alike."""
    rows: list[dict] = []
    lines: list[int] = []
    bad: list[dict] = []
    for lineno, raw in numbered:
        if not raw.strip():
            continue
        try:
            rows.append(parse_line(raw))
            lines.append(lineno)
        except BadLineError as exc:
            text = raw.decode("utf-8", "replace")
            bad.append({"line": lineno, "reason": exc.reason, "message": exc.message, "raw": text[:RAW_LIMIT]})
    return rows, lines, bad


def raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without the line ending) of each line; the first without a BOM."""
    gz = path.name.endswith(".gz")
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as fh:
            check_head(path, fh, gz)
            for lineno, raw in enumerate(fh, start=1):
                raw = raw.removesuffix(b"\n").removesuffix(b"\r")
                yield lineno, raw.removeprefix(UTF8_BOM) if lineno == 1 else raw
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataAgentError(f"not a readable gzip file: {exc}", path) from None
    except PermissionError:
        raise DataAgentError("permission denied", path) from None


def check_head(path: Path, fh: IO[bytes], gz: bool) -> None:
    """Refuse files whose first bytes show they are not UTF-8 JSON text, rather than quarantining every line."""
    head = fh.peek(64)[:64]  # type: ignore[attr-defined]  # BufferedReader and GzipFile both peek
    if head[:2] == b"\x1f\x8b" and not gz:
        raise DataAgentError("file is gzip-compressed; decompress it first (or name it .jsonl.gz)", path)
    if head[:4] == b"PAR1":
        raise DataAgentError("file is Parquet, not JSONL; name it .parquet", path)
    encoding = _wide_encoding(head)
    if encoding:
        raise DataAgentError(f"file is {encoding} encoded; JSONL must be UTF-8 (iconv -f {encoding} -t UTF-8)", path)


def _wide_encoding(head: bytes) -> str | None:
    """The wide encoding (UTF-32, UTF-16) whose BOM, or whose ASCII spelt with NULs, the first bytes show."""
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "UTF-32"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    # Without a BOM: every 2nd (UTF-16) or 3 of every 4 bytes (UTF-32) NUL. A stray NUL in a UTF-8 line is not
    # this pattern, so that line is quarantined alone instead of the whole file refused.
    sample = head[: len(head) // 4 * 4][:8]
    if len(sample) < 4:
        return None
    if all(sample[i : i + 4].count(0) == 3 for i in range(0, len(sample), 4)):
        return "UTF-32"
    if not any(sample[1::2]) or not any(sample[0::2]):
        return "UTF-16"
    return None


def _reject_constant(name: str) -> float:
    raise BadLineError("nan_or_infinity", f"{name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999 parses to inf: no number a record can hold
        raise BadLineError("number_out_of_range", f"the number {text[:40]}, too large for a float")
    return value


# One decoder for every line (json.loads with hooks would build a new one per call); both hooks keep the
# C scanner and run only on float literals and NaN/Infinity.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_line(raw: bytes) -> dict:
    """The JSON object on one line (bytes, no line ending), or BadLineError saying why there is none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLineError("invalid_utf8", f"bytes that are not UTF-8 (at byte {exc.start + 1})") from None
    try:
        value = _DECODER.decode(text)
    except BadLineError:
        raise
    except RecursionError:
        raise BadLineError("too_deep", "JSON nested too deeply to read") from None
    except json.JSONDecodeError as exc:
        raise BadLineError("invalid_json", f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError:  # an integer over Python's digit limit (sys.get_int_max_str_digits, 4300 by default)
        raise BadLineError("number_out_of_range", "an integer with too many digits to convert") from None
    if not isinstance(value, dict):
        raise BadLineError("not_an_object", f"a JSON {_json_kind(value)}")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise BadLineError("lone_surrogate", "a lone surrogate escape (\\ud800-\\udfff), which is not Unicode text")
    return value


def _has_lone_surrogate(value: dict) -> bool:
    # json turns a surrogate pair into one character but keeps a lone half, which no UTF-8 writer accepts.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "number"


def records_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame that keeps each value as parsed.

    pandas turns [1, None] into [1.0, nan] and an absent key into nan; every column that is not all strings is
    rebuilt from the parsed values as object dtype (absent keys as None), so the gate sees a number as the
    number and a list as the list. All-string columns keep pandas' string dtype: the gate's fast path.
    """
    df = pd.DataFrame(rows)
    for c in df.columns:
        if not isinstance(df[c].dtype, pd.StringDtype):
            df[c] = pd.Series([r.get(c) for r in rows], index=df.index, dtype=object)
    return df


# --- validating -------------------------------------------------------------------------------------------------


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
    """Read and validate a contract file; the returned frame has exactly the contract's columns.

    A bad line, or a text field holding something other than a string, is an error naming the file: the
    contract's coercion would otherwise turn a list into its Python repr and let it through.
    """
    df = load_table(path).frame
    _refuse_non_strings(df, model, path)
    return validate_frame(df, model, path)


def _refuse_non_strings(df: pd.DataFrame, model: type[pa.DataFrameModel], path: str | Path) -> None:
    for name, col in model.to_schema().columns.items():
        if name in df.columns and isinstance(getattr(col.dtype, "type", None), pd.StringDtype):
            wrong = np.flatnonzero(non_strings(df[name])[1])
            if len(wrong):
                raise ContractError(str(path), int(wrong[0]) + 1, name, "a string", df[name].iloc[wrong[0]])


# --- writing ----------------------------------------------------------------------------------------------------


def write_table(df: pd.DataFrame, stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem``.jsonl and ``stem``.parquet side by side; returns both paths.

    The JSONL is strict JSON: NaN, None and infinite floats are written as null (JSON has no Infinity; null
    keeps the line readable everywhere). Bytes are written as text, undecodable bytes as \\xNN escapes.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # Appended, not with_suffix: a stem such as "documents.quarantine" must not become documents.jsonl.
    jsonl, parquet = stem.with_name(stem.name + ".jsonl"), stem.with_name(stem.name + ".parquet")
    # Written line by line rather than DataFrame.to_json so CJK stays readable and
    # numpy scalars and lists round-trip the same way they do through Parquet.
    with jsonl.open("w", encoding="utf-8") as fh:
        for row in df.to_dict(orient="records"):
            fh.write(json_line(row) + "\n")
    _write_parquet(df, parquet)
    return jsonl, parquet


def write_records(df: pd.DataFrame, stem: str | Path, model: type[pa.DataFrameModel]) -> tuple[Path, Path]:
    """Validate ``df`` against ``model`` and write it as JSONL and Parquet."""
    if df.empty:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in columns(model)})
    valid = validate_frame(df, model, Path(stem).with_suffix(".jsonl"))
    return write_table(valid[columns(model)], stem)


def json_line(row: dict) -> str:
    """One record as strict JSON (no NaN/Infinity), CJK unescaped."""
    try:
        # Most rows hold no NaN: they are written as they are, and only the others are cleaned.
        return json.dumps(row, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError:
        return json.dumps(_finite(row), ensure_ascii=False, allow_nan=False, default=_json_default)


def strict_json(value: object, **kwargs: object) -> str:
    """``json.dumps`` that never writes NaN or Infinity (they become null): for reports."""
    return json.dumps(_finite(value), allow_nan=False, default=_json_default, **kwargs)  # type: ignore[arg-type]


def _finite(value: object) -> object:
    """``value`` with every NaN, infinite float, pd.NA and NaT replaced by None, containers walked."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return _finite(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "isoformat"):  # datetimes, dates, pandas Timestamps
        return value.isoformat()
    return str(value)  # anything else a Parquet column may hold (Decimal, ...): its text, never a crash


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as Parquet. An object column Arrow cannot type (a quarantined text field holding strings,
    numbers and lists) is written as text: strings as they are, other values as their JSON. The JSONL beside
    it keeps the values exactly."""
    try:
        df.to_parquet(path, index=False)
        return
    except (pyarrow_.ArrowInvalid, pyarrow_.ArrowTypeError, pyarrow_.ArrowNotImplementedError):
        pass
    fixed = df.copy()
    for c in fixed.columns:
        if fixed[c].dtype == object:
            try:
                pyarrow_.array(fixed[c], from_pandas=True)
            except (pyarrow_.ArrowInvalid, pyarrow_.ArrowTypeError, pyarrow_.ArrowNotImplementedError):
                fixed[c] = [_as_text(v) for v in fixed[c]]
    fixed.to_parquet(path, index=False)


def _as_text(value: object) -> str | None:
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return strict_json(value, ensure_ascii=False)
