"""Hostile record files, one per kind of damage, each with the outcome the gate must give.

Every builder writes one file into ``folder`` and returns a ``Case``: either the counts and reasons the gate
must produce (``accepted`` + ``quarantined`` = the file's non-blank lines or Parquet rows), or the substring
of the one-line ``DataAgentError`` it must raise instead. ``CASES`` lists them all by name.

    python tests/hostile_records.py out/hostile     # writes every file, prints what each must do
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TOPICS = [
    ("What is compound interest?", "Interest earned on both the principal and the interest already added."),
    ("Why keep an emergency fund?", "It covers sudden costs such as repairs without forcing you into debt."),
    ("How does an index fund work?", "It holds the securities of a market index in the same proportions."),
    ("What does a budget do?", "A budget plans where each month's income goes before it is spent."),
    ("When should a lease be read?", "Always before signing, paying attention to deposits and renewal terms."),
]


def good(i: int, **over: object) -> dict:
    """A record that passes every gate check; ``i`` picks one of the distinct topics."""
    instruction, output = TOPICS[i]
    rec = {
        "id": hashlib.sha256("\x1f".join((instruction, "", output)).encode("utf-8")).hexdigest(),
        "instruction": instruction,
        "input": "",
        "output": output,
        "task_type": "faq_qa",
        "language": "en",
        "generator": "rule:hostile",
        "source_ref": f"http://127.0.0.1/topic/{i}",
        "created_at": "2024-05-01T00:00:00Z",
    }
    rec.update(over)
    return rec


def line(rec: dict) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode("utf-8")


@dataclass
class Case:
    """What the gate must do with ``path``: sort it (counts, reasons) or refuse it (``error``)."""

    path: Path
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[int, str] = field(default_factory=dict)  # 1-based input line -> a reason its quarantine row has
    every_reason: str | None = None  # a reason every quarantined row has (Parquet: no lines to name)
    error: str | None = None  # substring of the DataAgentError message when the whole file is refused
    error_line: int | None = None  # the line that message names, when it names one


def _jsonl(folder: Path, name: str, lines: list[bytes], end: bytes = b"\n") -> Path:
    path = folder / name
    path.write_bytes(b"".join(x + end for x in lines))
    return path


# --- lines that hold no record -------------------------------------------------------------------------------


def invalid_utf8(folder: Path) -> Case:
    path = _jsonl(folder, "invalid_utf8.jsonl", [line(good(0)), b'{"instruction": "caf\xe9 \xff"}', line(good(1))])
    return Case(path, accepted=2, quarantined=1, reasons={2: "bad_line:invalid_utf8"})


def lone_surrogate(folder: Path) -> Case:
    # \ud800 alone is accepted by json.loads but cannot be written as UTF-8; a \ud83d\ude00 pair is an emoji.
    lone = line(good(1)).replace(b"emergency", b"\\ud800emergency", 1)
    pair = line(good(2)).replace(b"market", b"market \\ud83d\\ude00", 1)
    path = _jsonl(folder, "lone_surrogate.jsonl", [line(good(0)), lone, pair])
    return Case(path, accepted=2, quarantined=1, reasons={2: "bad_line:lone_surrogate"})


def deep_nesting(folder: Path) -> Case:
    deep = b'{"meta": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    path = _jsonl(folder, "deep_nesting.jsonl", [line(good(0)), deep])
    return Case(path, accepted=1, quarantined=1, reasons={2: "bad_line:too_deep"})


def huge_integer(folder: Path) -> Case:
    huge = line(good(1))[:-1] + b', "views": 1' + b"0" * 5000 + b"}"
    path = _jsonl(folder, "huge_integer.jsonl", [line(good(0)), huge])
    return Case(path, accepted=1, quarantined=1, reasons={2: "bad_line:number_out_of_range"})


def nan_literal(folder: Path) -> Case:
    nan = line(good(1))[:-1] + b', "score": NaN}'
    inf = line(good(2))[:-1] + b', "score": -Infinity}'
    overflow = line(good(3))[:-1] + b', "score": 1e999}'  # parses to inf in Python: no JSON number
    path = _jsonl(folder, "nan_literal.jsonl", [line(good(0)), nan, inf, overflow])
    reasons = {2: "bad_line:nan_or_infinity", 3: "bad_line:nan_or_infinity", 4: "bad_line:number_out_of_range"}
    return Case(path, accepted=1, quarantined=3, reasons=reasons)


def not_an_object(folder: Path) -> Case:
    path = _jsonl(folder, "not_an_object.jsonl", [b'["a", "b"]', b'"just text"', b"42", b"null", line(good(0))])
    reasons = {n: "bad_line:not_an_object" for n in (1, 2, 3, 4)}
    return Case(path, accepted=1, quarantined=4, reasons=reasons)


def nul_in_line(folder: Path) -> Case:
    # A raw NUL in a UTF-8 line is that line's problem, not a sign the file is UTF-16.
    path = _jsonl(folder, "nul_in_line.jsonl", [b'{"instruction": "a\x00b"}', line(good(0))])
    return Case(path, accepted=1, quarantined=1, reasons={1: "bad_line:invalid_json"})


def blank_lines(folder: Path) -> Case:
    lines = [line(good(0)), b"", b"   ", line(good(1)), b"\t", b"{not json", b"", line(good(2))]
    path = _jsonl(folder, "blank_lines.jsonl", lines)
    return Case(path, accepted=3, quarantined=1, reasons={6: "bad_line:invalid_json"})


# --- encodings and line endings that are fine ------------------------------------------------------------------


def bom_at_start(folder: Path) -> Case:
    return Case(_jsonl(folder, "bom.jsonl", [b"\xef\xbb\xbf" + line(good(0)), line(good(1))]), accepted=2)


def crlf_endings(folder: Path) -> Case:
    return Case(_jsonl(folder, "crlf.jsonl", [line(good(0)), line(good(1))], end=b"\r\n"), accepted=2)


def line_separator_in_text(folder: Path) -> Case:
    # U+2028/U+2029 are line breaks to str.splitlines but ordinary characters in JSON: the row must survive.
    rec = good(0, output="Interest earned on the principal.\u2028And on interest\u2029already added.")
    rec["id"] = hashlib.sha256("\x1f".join((rec["instruction"], "", rec["output"])).encode("utf-8")).hexdigest()
    return Case(_jsonl(folder, "line_separator.jsonl", [line(rec), line(good(1))]), accepted=2)


def gzip_jsonl_gz(folder: Path) -> Case:
    path = folder / "compressed.jsonl.gz"
    path.write_bytes(gzip.compress(line(good(0)) + b"\n" + line(good(1)) + b"\n"))
    return Case(path, accepted=2)


# --- values of the wrong type ----------------------------------------------------------------------------------


def wrong_types(folder: Path) -> Case:
    lines = [
        line(good(0, output=5)),
        line(good(0, instruction=["a", "b"])),
        line(good(0, input={"k": "v"})),
        line(good(0, output=None)),
        line(good(0, output=True)),
        line({k: v for k, v in good(0).items() if k != "output"}),
        line(good(0, language=1.5)),
        line(good(1)),
    ]
    reasons = {
        1: "output:not_a_string",
        2: "instruction:not_a_string",
        3: "input:not_a_string",
        4: "output:missing",
        5: "output:not_a_string",
        6: "output:missing",
        7: "language:not_a_string",
    }
    return Case(_jsonl(folder, "wrong_types.jsonl", lines), accepted=1, quarantined=7, reasons=reasons)


def parquet_int_output(folder: Path) -> Case:
    path = folder / "int_output.parquet"
    pd.DataFrame([good(i, output=i) for i in range(3)]).to_parquet(path, index=False)
    return Case(path, quarantined=3, every_reason="output:not_a_string")


def parquet_bytes_instruction(folder: Path) -> Case:
    path = folder / "bytes_instruction.parquet"
    rows = [good(i) for i in range(3)]
    for r in rows:
        r["instruction"] = r["instruction"].encode("utf-8")
    pd.DataFrame(rows).to_parquet(path, index=False)
    return Case(path, quarantined=3, every_reason="instruction:not_a_string")


# --- ids ------------------------------------------------------------------------------------------------------


def id_conflict(folder: Path) -> Case:
    path = _jsonl(folder, "id_conflict.jsonl", [line(good(0)), line(good(1, id=good(0)["id"])), line(good(2))])
    return Case(path, accepted=2, quarantined=1, reasons={2: "id_conflict"})


def id_repeated_same_content(folder: Path) -> Case:
    path = _jsonl(folder, "id_same.jsonl", [line(good(0)), line(good(1)), line(good(0))])
    return Case(path, accepted=2, quarantined=1, reasons={3: "exact_duplicate"})


# --- whole files the gate must refuse --------------------------------------------------------------------------


def utf16_file(folder: Path) -> Case:
    path = folder / "utf16.jsonl"
    path.write_bytes((json.dumps(good(0)) + "\n").encode("utf-16"))
    return Case(path, error="UTF-16")


def gzip_named_jsonl(folder: Path) -> Case:
    path = folder / "gzipped.jsonl"
    path.write_bytes(gzip.compress(line(good(0)) + b"\n"))
    return Case(path, error="gzip-compressed")


def directory(folder: Path) -> Case:
    path = folder / "a_directory.jsonl"
    path.mkdir(exist_ok=True)
    return Case(path, error="directory")


def empty_file(folder: Path) -> Case:
    path = folder / "empty.jsonl"
    path.write_bytes(b"")
    return Case(path, error="empty")


def only_blank_lines(folder: Path) -> Case:
    return Case(_jsonl(folder, "blank_only.jsonl", [b"", b"  ", b"\r"]), error="empty")


def empty_parquet(folder: Path) -> Case:
    path = folder / "empty.parquet"
    pd.DataFrame({k: pd.Series(dtype="str") for k in good(0)}).to_parquet(path, index=False)
    return Case(path, error="no records")


def truncated_parquet(folder: Path) -> Case:
    path = folder / "truncated.parquet"
    pd.DataFrame([good(i) for i in range(3)]).to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return Case(path, error="not a readable Parquet file")


def missing_column(folder: Path) -> Case:
    rows = [{k: v for k, v in good(i).items() if k != "output"} for i in range(2)]
    return Case(_jsonl(folder, "missing_column.jsonl", [line(r) for r in rows]), error="missing field 'output'")


def wrong_suffix(folder: Path) -> Case:
    path = folder / "records.csv"
    path.write_text("id,instruction\n", encoding="utf-8")
    return Case(path, error="expected a .jsonl or .parquet file")


def parquet_named_jsonl(folder: Path) -> Case:
    path = folder / "really_parquet.jsonl"
    pd.DataFrame([good(0)]).to_parquet(path, index=False)
    return Case(path, error="file is Parquet")


CASES: dict[str, Callable[[Path], Case]] = {
    f.__name__: f
    for f in (
        invalid_utf8,
        lone_surrogate,
        deep_nesting,
        huge_integer,
        nan_literal,
        not_an_object,
        nul_in_line,
        blank_lines,
        bom_at_start,
        crlf_endings,
        line_separator_in_text,
        gzip_jsonl_gz,
        wrong_types,
        parquet_int_output,
        parquet_bytes_instruction,
        id_conflict,
        id_repeated_same_content,
        utf16_file,
        gzip_named_jsonl,
        directory,
        empty_file,
        only_blank_lines,
        empty_parquet,
        truncated_parquet,
        missing_column,
        wrong_suffix,
        parquet_named_jsonl,
    )
}


def input_records(path: Path) -> int:
    """Records the gate must account for: non-blank lines of a JSONL file (split on \\n only), rows of Parquet."""
    if path.name.endswith(".parquet"):
        return len(pd.read_parquet(path))
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return sum(1 for x in data.split(b"\n") if x.strip())


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    out.mkdir(parents=True, exist_ok=True)
    for name, build in CASES.items():
        case = build(out)
        counts = f"{case.accepted} accepted, {case.quarantined} quarantined"
        what = f"error containing {case.error!r}" if case.error else counts
        print(f"{name:28} {case.path.name:28} {what}")
