"""Import an existing instruction dataset as InstructionRecords, so the gate can check it before fine-tuning.

Reads Alpaca (``instruction``/``input``/``output``), ShareGPT (``conversations`` of ``from``/``value``) and
OpenAI chat (``messages`` of ``role``/``content``) rows from a JSON array, JSONL (``.jsonl``, ``.jsonl.gz``,
or a ``.json`` holding one object per line) or Parquet file, or from a Hugging Face dataset (a
``save_to_disk`` folder, a Hub-layout folder, or a hub id). Our own contract rows (``records``) pass through.

Each converted row gets what the contract needs and the source lacks:

- ``id``: the content hash of (instruction, input, output), the formula synth uses, so an imported example
  and an identical synthesised one share an id;
- ``source_ref``: ``<origin>#row=<n>`` (``#line=<n>`` for JSONL), ``origin`` the path as given or the hub id,
  ``:<split>`` added for a Hugging Face dataset; ``&turn=<k>`` for the k-th answer of a multi-turn chat;
- ``generator``: ``import:<format>``; ``created_at``: the time of the import;
- ``task_type``: the row's ``task_type``, else its ``category``, slugified (lowercase, runs of anything but
  a-z0-9 become ``_``), else ``general``;
- ``language``: ``validate.text.detect_language`` of instruction + output (zh-Hant / zh-Hans told apart),
  or the tag the caller forces;
- ``source_row``: the 1-based row (line, for JSONL) in the user's data, kept so quarantine points back to it.

Chats: leading system messages, then user and assistant strictly alternating, ending with an assistant.
Every assistant message becomes one record: instruction = the user message before it, output = the
answer, input = everything earlier (system prompt and previous turns) as ``[role]\\ntext`` blocks separated
by a blank line, or "" when there is nothing earlier. So a single-turn chat with a system prompt gets
input ``[system]\\n<prompt>``, and a chat with k answers gives k records.

A row that cannot be converted is never dropped: it becomes a reject with one ``import:<why>`` reason, its
source row and its raw text. Hence the invariant, asserted by ``check_accounting``:
rows converted + rows rejected = source rows, and gate accepted + gate quarantined = records imported.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from validate.contracts import LANG_TAG, InstructionRecord, columns
from validate.errors import ContractError, DataAgentError
from validate.gate import REASONS
from validate.io import (
    RAW_LIMIT,
    SUFFIXES,
    BadLineError,
    OnBadLine,
    json_line,
    parse_line,
    read_jsonl_lines,
)
from validate.quarantine import write_quarantine
from validate.text import detect_language, record_id, utc_now

FORMATS = ("auto", "records", "alpaca", "sharegpt", "openai", "hf")
MAP_FIELDS = ("instruction", "input", "output", "task_type", "messages", "conversations")
SOURCE_ROW = "source_row"
RECORDS_FILE = "imported.jsonl"
QUARANTINE_STEM = "import_quarantine"
REPORT_FILE = "import_report.json"

# Columns only our contract has: a file with all three is one of ours, even when other fields are broken.
_PROVENANCE = {"generator", "source_ref", "created_at"}
# Each chat format's role and text keys; both accept the role names of either.
_CHAT_KEYS = {"sharegpt": ("conversations", "from", "value"), "openai": ("messages", "role", "content")}
_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_USED = {
    "records": set(columns(InstructionRecord)),
    "alpaca": {"instruction", "input", "output", "task_type", "category"},
    "sharegpt": {"conversations", "task_type", "category"},
    "openai": {"messages", "task_type", "category"},
}
_FILE_SUFFIXES = (".json", ".jsonl", ".jsonl.gz", ".parquet")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_TASK = re.compile(r"^[a-z][a-z0-9_]*$")


class _Reject(Exception):  # noqa: N818 - a row's verdict, caught per row
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = f"import:{reason}", message


@dataclass
class Source:
    """Rows read from a file or dataset, before conversion."""

    origin: str  # path as given, or hub id; ":<split>" added for a Hugging Face dataset
    unit: str  # "row" or "line": what the 1-based numbers count
    rows: list[object] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    bad: list[dict] = field(default_factory=list)  # unreadable JSONL lines, as validate.io reports them
    columns: list[str] = field(default_factory=list)  # every key any row has, in first-seen order


@dataclass
class ImportResult:
    records: list[dict]  # contract fields + source_row, ready for the gate
    rejects: list[dict]  # source_row, source_ref, quarantine_reasons, message, raw
    summary: dict


# --- options --------------------------------------------------------------------------------------------------


def parse_map(text: str | None) -> dict[str, str]:
    """``instruction=question,output=answer`` as {field: source column}; a one-line error for bad syntax."""
    if not text or not text.strip():
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        target, eq, source = (s.strip() for s in part.partition("="))
        if not eq or not target or not source:
            raise DataAgentError(
                f"bad --map {text!r}: expected field=column pairs separated by commas, "
                "e.g. --map instruction=question,output=answer"
            )
        if target not in MAP_FIELDS:
            raise DataAgentError(f"--map: unknown field {target!r} (fields: {', '.join(MAP_FIELDS)})")
        if target in mapping:
            raise DataAgentError(f"--map: field {target!r} is mapped twice")
        mapping[target] = source
    return mapping


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise DataAgentError(f"unknown --format {fmt!r} (one of: {', '.join(FORMATS)})")
    return fmt


def check_language(tag: str) -> str | None:
    """None for ``auto`` (detect per row), else the tag, which must be one the contract accepts."""
    if tag == "auto":
        return None
    if not re.match(LANG_TAG, tag):
        raise DataAgentError(f"--language must be auto or a tag like en, zh-Hant, zh-Hans; got {tag!r}")
    return tag


def reads_as_records(spec: str, fmt: str = "auto", mapping: dict | None = None) -> bool:
    """Whether the gate should read ``spec`` itself: a .jsonl/.parquet file (or a name that is no import
    source) with ``--format records``, or with ``auto`` when its columns are ours. A file the peek cannot
    read goes to the gate too, whose readers name the problem as they always have."""
    path = Path(spec)
    if mapping or fmt not in ("auto", "records"):
        return False
    if path.is_dir() or path.name.endswith(".json"):
        return False
    if fmt == "records":
        return True
    if path.name.endswith(SUFFIXES):
        found = _peek_columns(path)
        return found is None or _PROVENANCE <= found
    return path.exists() or not _looks_like_hub_id(spec)


def _looks_like_hub_id(spec: str) -> bool:
    return bool(_HUB_ID.match(spec)) and not spec.endswith((*_FILE_SUFFIXES, ".csv", ".tsv", ".txt", ".gz"))


def _peek_columns(path: Path, limit: int = 200) -> set[str] | None:
    """The keys of the first rows of a JSONL or Parquet file; None when that cannot be read."""
    try:
        if path.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            return set(pq.read_schema(path).names)
        if not path.is_file():
            return None
        found: set[str] = set()
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            for i, raw in enumerate(fh):
                if i >= limit:
                    break
                raw = raw.rstrip(b"\r\n").removeprefix(b"\xef\xbb\xbf")
                if raw.strip():
                    try:
                        found |= set(parse_line(raw))
                    except BadLineError:
                        continue
        return found or None
    except Exception:  # noqa: BLE001 - any problem is the gate's to report, in its words
        return None


# --- reading ----------------------------------------------------------------------------------------------------


def read_source(spec: str, fmt: str = "auto", split: str | None = None) -> Source:
    """The rows of a file, a dataset folder or a hub id, unconverted."""
    path = Path(spec)
    hf = fmt == "hf" or path.is_dir() or (not path.exists() and _looks_like_hub_id(spec))
    if hf:
        return _read_hf(spec, split)
    if split:
        raise DataAgentError("--split applies to a dataset folder or hub id, not a file", spec)
    if not path.exists():
        raise DataAgentError("no such file", spec)
    if not path.name.endswith(_FILE_SUFFIXES):
        raise DataAgentError("expected a .json, .jsonl, .jsonl.gz or .parquet file, a dataset folder or a hub id", spec)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except PermissionError:
        raise DataAgentError("permission denied", spec) from None
    if not head.strip():
        raise DataAgentError("file is empty: no records", spec)
    if path.name.endswith(".parquet"):
        return _read_parquet(spec)
    if path.name.endswith(".json") and head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
        return _read_json_array(spec)
    rows, lines, bad = read_jsonl_lines(path)
    if not rows:
        if path.name.endswith(".json"):
            raise DataAgentError(f"neither a JSON array nor JSONL ({_why_not_jsonl(path, bad[0])})", spec)
        if not bad:
            raise DataAgentError("file is empty: no records", spec)
    return _source(spec, "line", rows, lines, bad)


def _why_not_jsonl(path: Path, first_bad: dict) -> str:
    try:
        value = json.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError):
        return f"line {first_bad['line']}: {first_bad['message']}"
    return f"one JSON {'object' if isinstance(value, dict) else type(value).__name__} over several lines"


def _source(origin: str, unit: str, rows: list, numbers: list[int], bad: list[dict] | None = None) -> Source:
    seen: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            seen.update(dict.fromkeys(row))
    return Source(origin, unit, rows, list(numbers), bad or [], list(seen))


def _read_json_array(spec: str) -> Source:
    try:
        text = Path(spec).read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataAgentError(f"not UTF-8 text (at byte {exc.start + 1})", spec) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataAgentError(f"invalid JSON array: {exc.msg}", spec, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise DataAgentError("JSON nested too deeply to read", spec) from None
    if not isinstance(value, list):
        raise DataAgentError("neither a JSON array nor JSONL", spec)
    if not value:
        raise DataAgentError("file is empty: no records (an empty JSON array)", spec)
    return _source(spec, "row", value, range(1, len(value) + 1))


def _read_parquet(spec: str) -> Source:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(spec).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise DataAgentError(f"not a readable Parquet file: {first[:160]}", spec) from None
    if not rows:
        raise DataAgentError("file is empty: no records", spec)
    return _source(spec, "row", rows, range(1, len(rows) + 1))


def _read_hf(spec: str, split: str | None) -> Source:
    """One split of a Hugging Face dataset: a save_to_disk folder, a Hub-layout folder, or a hub id."""
    path = Path(spec)
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
        raise DataAgentError("expected a file or a dataset folder, got a directory with no files in it", spec)
    import datasets

    datasets.disable_progress_bars()
    local = path.is_dir()
    try:
        if local and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
            ds = datasets.load_from_disk(spec)
        elif local:
            # A folder's Arrow cache is keyed by its name, not its contents: rebuild it, never reuse stale rows.
            ds = datasets.load_dataset(spec, download_mode="force_redownload")
        else:
            ds = datasets.load_dataset(spec, split=split) if split else datasets.load_dataset(spec)
    except Exception as exc:  # datasets raises many types for a missing, malformed or unreachable set
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        what = "cannot load the dataset folder" if local else "no such file or folder, nor a loadable Hub dataset"
        raise DataAgentError(f"{what}: {exc.__class__.__name__}: {first}", spec) from None
    origin = spec
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        if split is None:
            if "train" not in ds and len(names) != 1:
                raise DataAgentError(f"the dataset has several splits ({', '.join(names)}); choose one with --split")
            split = "train" if "train" in ds else names[0]
        if split not in ds:
            raise DataAgentError(f"no split {split!r}; the dataset has: {', '.join(names)}", spec)
        ds = ds[split]
    if split:
        origin = f"{spec}:{split}"
    rows = ds.to_list()
    if not rows:
        raise DataAgentError("the dataset has no rows", origin)
    src = _source(origin, "row", rows, range(1, len(rows) + 1))
    src.columns = list(dict.fromkeys([*ds.column_names, *src.columns]))
    return src


# --- converting -------------------------------------------------------------------------------------------------


def import_dataset(
    spec: str,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    split: str | None = None,
    language: str | None = None,
    on_bad_line: OnBadLine = "quarantine",
) -> ImportResult:
    """Read ``spec`` and convert every row; rows that cannot be converted come back as rejects. With
    ``on_bad_line="error"`` an unreadable JSONL line refuses the file, naming the line, as the gate does."""
    check_format(fmt)
    source = read_source(spec, fmt, split)
    if source.bad and on_bad_line == "error":
        first = source.bad[0]
        raise ContractError(spec, None, None, f"a JSON object, got {first['message']}", line=first["line"])
    return convert(source, fmt, mapping or {}, language)


def convert(source: Source, fmt: str, mapping: dict[str, str], language: str | None = None) -> ImportResult:
    missing = [c for c in mapping.values() if c not in source.columns]
    if missing:
        raise DataAgentError(
            f"--map: no column {missing[0]!r} in the data; its columns are: {_names(source.columns)}", source.origin
        )
    cols = [c for c in source.columns if c not in mapping.values()] + [t for t in mapping if t not in source.columns]
    fmt = _sniff(cols, source.origin) if fmt in ("auto", "hf") else fmt
    _require(fmt, cols, source.origin)
    now = utc_now()
    records: list[dict] = []
    rejects = [_bad_line(b, source) for b in source.bad]
    converted = 0
    for raw, n in zip(source.rows, source.numbers, strict=True):
        ref = f"{source.origin}#{source.unit}={n}"
        try:
            if not isinstance(raw, dict):
                raise _Reject("not_an_object", f"a JSON {type(raw).__name__}, not an object")
            row = _apply_map(raw, mapping)
            if fmt == "records":
                records.append({**row, SOURCE_ROW: row.get(SOURCE_ROW, n)})
                converted += 1
                continue
            examples = _alpaca(row) if fmt == "alpaca" else _chat(row, *_CHAT_KEYS[fmt])
        except _Reject as rej:
            rejects.append(_reject(n, ref, rej.reason, rej.message, raw))
            continue
        converted += 1
        task = _task_type(row)
        for k, (instruction, input_, output) in enumerate(examples, start=1):
            records.append(
                {
                    "id": record_id(instruction, input_, output),
                    "instruction": instruction,
                    "input": input_,
                    "output": output,
                    "task_type": task,
                    "language": language or detect_language(f"{instruction}\n{output}"),
                    "generator": f"import:{fmt}",
                    "source_ref": ref + (f"&turn={k}" if len(examples) > 1 else ""),
                    "created_at": now,
                    SOURCE_ROW: n,
                }
            )
    rejects.sort(key=lambda r: r[SOURCE_ROW])
    n_rows = len(source.rows) + len(source.bad)
    summary = {
        "source": source.origin,
        "format": fmt,
        "source_rows": n_rows,
        "rows_converted": converted,
        "rejected": len(rejects),
        "records": len(records),
        "rejected_by_reason": dict(sorted(Counter(r[REASONS][0] for r in rejects).items())),
        "ignored_columns": [c for c in cols if c not in _USED[fmt]] if fmt != "records" else [],
    }
    if converted + len(rejects) != n_rows:
        raise AssertionError(f"import lost rows: {converted} + {len(rejects)} != {n_rows}")
    return ImportResult(records, rejects, summary)


def _names(cols: list[str]) -> str:
    return ", ".join(cols) if cols else "(none)"


def _sniff(cols: list[str], origin: str) -> str:
    found = set(cols)
    if _PROVENANCE <= found:
        return "records"
    if "messages" in found:
        return "openai"
    if "conversations" in found:
        return "sharegpt"
    if {"instruction", "output"} <= found:
        return "alpaca"
    raise DataAgentError(
        f"cannot tell the format from the columns ({_names(cols)}): expected messages (openai), conversations "
        "(sharegpt), or instruction and output (alpaca); name yours with --map, "
        "e.g. --map instruction=question,output=answer",
        origin,
    )


def _require(fmt: str, cols: list[str], origin: str) -> None:
    need = {
        "records": columns(InstructionRecord),
        "alpaca": ["instruction", "output"],
        "sharegpt": ["conversations"],
        "openai": ["messages"],
    }[fmt]
    lacking = [c for c in need if c not in cols]
    if lacking:
        hint = "" if fmt == "records" else f"; map yours with --map {lacking[0]}=<column>"
        raise DataAgentError(
            f"--format {fmt} needs the column {lacking[0]!r}; the data has: {_names(cols)}{hint}", origin
        )


def _apply_map(row: dict, mapping: dict[str, str]) -> dict:
    if not mapping:
        return row
    out = {k: v for k, v in row.items() if k not in mapping.values()}
    for target, source in mapping.items():
        if source in row:
            out[target] = row[source]
        else:
            out.pop(target, None)
    return out


def _text(row: dict, key: str, *, required: bool) -> str:
    value = row.get(key)
    if value is None:
        if required:
            raise _Reject(f"missing_{key}", f"no {key!r} value")
        return ""
    if not isinstance(value, str):
        raise _Reject("not_a_string", f"{key!r} is a {type(value).__name__}, not a string")
    return value


def _alpaca(row: dict) -> list[tuple[str, str, str]]:
    instruction = _text(row, "instruction", required=True)
    output = _text(row, "output", required=True)
    return [(instruction, _text(row, "input", required=False), output)]


def _chat(row: dict, key: str, role_key: str, text_key: str) -> list[tuple[str, str, str]]:
    """One (instruction, input, output) per assistant message; see the module docstring for the rule."""
    messages = row.get(key)
    if messages is None:
        raise _Reject("missing_conversation", f"no {key!r} value")
    if not isinstance(messages, list):
        raise _Reject("malformed_conversation", f"{key!r} is a {type(messages).__name__}, not a list")
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict) or role_key not in m or text_key not in m:
            raise _Reject("malformed_message", f"message {i} is not an object with {role_key!r} and {text_key!r}")
        role = _ROLES.get(m[role_key]) if isinstance(m[role_key], str) else None
        if role is None:
            raise _Reject("unknown_role", f"message {i} has the role {m[role_key]!r}")
        if not isinstance(m[text_key], str):
            raise _Reject("not_a_string", f"message {i}'s {text_key!r} is a {type(m[text_key]).__name__}")
        turns.append((role, m[text_key]))
    if not any(role == "assistant" for role, _ in turns):
        raise _Reject("no_assistant_turn", "the conversation has no assistant message")
    lead = next((i for i, (role, _) in enumerate(turns) if role != "system"), len(turns))
    for i, (role, _) in enumerate(turns[lead:]):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            raise _Reject("bad_turn_order", f"message {lead + i + 1} is {role}, expected {expected}")
    if turns[-1][0] == "user":
        raise _Reject("unanswered_user_turn", "the conversation ends with a user message")
    return [(turns[i - 1][1], _render(turns[: i - 1]), turns[i][1]) for i in range(lead + 1, len(turns), 2)]


def _render(turns: list[tuple[str, str]]) -> str:
    # [role] headers rather than "Role:" prefixes: the gate's leak check rightly flags "Assistant:" lines.
    return "\n\n".join(f"[{role}]\n{text}" for role, text in turns)


def _task_type(row: dict) -> str:
    for key in ("task_type", "category"):
        value = row.get(key)
        if isinstance(value, str):
            slug = re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")
            if _TASK.match(slug):
                return slug
    return "general"


def _raw(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # a circular or otherwise unprintable value
        text = repr(value)
    return text[:RAW_LIMIT]


def _reject(n: int, ref: str, reason: str, message: str, raw: object) -> dict:
    return {SOURCE_ROW: n, "source_ref": ref, REASONS: [reason], "message": message, "raw": _raw(raw)}


def _bad_line(bad: dict, source: Source) -> dict:
    reason = "import:" + bad["reason"].removeprefix("bad_line:")
    return {
        SOURCE_ROW: bad["line"],
        "source_ref": f"{source.origin}#line={bad['line']}",
        REASONS: [reason],
        "message": bad["message"],
        "raw": bad["raw"],
    }


# --- writing and accounting -------------------------------------------------------------------------------------


def write_import(result: ImportResult, out_dir: str | Path) -> dict[str, Path]:
    """Write imported.jsonl (the gate's input), import_quarantine.{jsonl,parquet} and import_report.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = out / RECORDS_FILE
    with records.open("w", encoding="utf-8") as fh:
        for row in result.records:
            fh.write(json_line(row) + "\n")
    cols = [SOURCE_ROW, "source_ref", REASONS, "message", "raw"]
    rejects = pd.DataFrame(result.rejects, columns=cols)
    # The common quarantine columns (validate/quarantine.py) first: the source row is the record.
    quarantine, _ = write_quarantine(
        rejects.assign(record=[_record_json(raw) for raw in rejects["raw"]]),
        out / QUARANTINE_STEM,
        "import",
        source_file=str(result.summary.get("source", "")),
        id_column="source_ref",
        row_column=SOURCE_ROW,
    )
    result.summary.update(records_file=str(records), quarantine_file=str(quarantine))
    report = out / REPORT_FILE
    report.write_text(json.dumps(result.summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"records": records, "quarantine": quarantine, "report": report}


def _record_json(raw: object) -> str:
    """A rejected row as one JSON object: its own text when that is one, else ``{"raw": <text>}``."""
    if isinstance(raw, str):
        try:
            return json_line(parse_line(raw.encode("utf-8", "surrogatepass")))
        except BadLineError:
            pass  # cut at RAW_LIMIT, or never a record: kept as text
    return json_line({"raw": raw})


def check_accounting(summary: dict, gate_report: dict | None) -> None:
    """Every source row is accounted for: converted or rejected, and every record accepted or quarantined.

    For single-turn data this reads accepted + quarantined + rejected = source rows; a chat with k answers
    adds k - 1 records.
    """
    if summary["rows_converted"] + summary["rejected"] != summary["source_rows"]:
        raise AssertionError(f"import lost rows: {summary}")
    checked = 0 if gate_report is None else gate_report["accepted"] + gate_report["quarantined"]
    if checked != summary["records"]:
        raise AssertionError(f"gate lost imported records: {checked} != {summary['records']}")
