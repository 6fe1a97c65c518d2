"""Readers and the gate against hostile record files (tests/hostile_records.py): nothing crashes, nothing is lost,
every refusal is one line naming the file, and everything written is strict JSON."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from tests.hostile_records import CASES, good, input_records, line
from validate.contracts import InstructionRecord
from validate.errors import ContractError, DataAgentError
from validate.gate import REASONS
from validate.io import read_records, write_table
from validate.run import gate_file


def _no_constants(name: str) -> None:
    raise ValueError(f"not strict JSON: {name}")


def strict_loads(text: str) -> object:
    """json.loads that refuses NaN and Infinity, as most non-Python parsers do."""
    return json.loads(text, parse_constant=_no_constants)


def strict_jsonl(path) -> list[dict]:
    return [strict_loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x]


SORTED = list(CASES)


@pytest.mark.parametrize("name", SORTED)
def test_gate_sorts_or_refuses_every_hostile_file(name, tmp_path):
    case = CASES[name](tmp_path)
    out = tmp_path / "gate"
    if case.error:
        with pytest.raises(DataAgentError) as err:
            gate_file(case.path, out)
        message = str(err.value)
        assert case.error in message and str(case.path) in message and "\n" not in message, message
        return

    report = gate_file(case.path, out)
    assert (report["accepted"], report["quarantined"]) == (case.accepted, case.quarantined), report
    assert report["accepted"] + report["quarantined"] == report["input"] == input_records(case.path)

    quarantine = strict_jsonl(out / "quarantine.jsonl")
    assert len(quarantine) == case.quarantined
    by_line = {q["line"]: q[REASONS] for q in quarantine}
    for lineno, reason in case.reasons.items():
        assert reason in by_line.get(lineno, []), (lineno, reason, by_line)
    if case.every_reason:
        assert all(case.every_reason in q[REASONS] for q in quarantine), quarantine
    assert len(strict_jsonl(out / "accepted.jsonl")) == case.accepted
    assert len(pd.read_parquet(out / "quarantine.parquet")) == case.quarantined
    for report_file in ("gate_report.json", "quality_report.json"):
        strict_loads((out / report_file).read_text(encoding="utf-8"))


def test_bad_line_quarantine_keeps_the_raw_text_and_reason(tmp_path):
    case = CASES["invalid_utf8"](tmp_path)
    gate_file(case.path, tmp_path / "gate")
    (bad,) = strict_jsonl(tmp_path / "gate" / "quarantine.jsonl")
    assert bad["line"] == 2 and bad[REASONS] == ["bad_line:invalid_utf8"]
    assert bad["raw"].startswith('{"instruction": "caf') and "\ufffd" in bad["raw"]
    assert bad["instruction"] is None and bad["id"] is None
    gate = strict_loads((tmp_path / "gate" / "gate_report.json").read_text(encoding="utf-8"))
    assert gate["failures_by_check"] == {"bad_line:invalid_utf8": 1} and gate["input"] == 3


def test_line_numbers_count_blank_lines_and_every_quarantined_row_has_one(tmp_path):
    case = CASES["blank_lines"](tmp_path)
    # A record that fails a check, after blank lines, must name its own line too.
    with case.path.open("ab") as fh:
        fh.write(b"\n" + line(good(3, output="As an AI language model, I cannot help with budgets.")) + b"\n")
    report = gate_file(case.path, tmp_path / "gate")
    quarantine = strict_jsonl(tmp_path / "gate" / "quarantine.jsonl")
    assert report["quarantined"] == 2
    assert {q["line"]: q[REASONS] for q in quarantine} == {
        6: ["bad_line:invalid_json"],
        10: ["output:refusal_boilerplate"],
    }


def test_on_bad_line_error_refuses_the_file_naming_the_line(tmp_path):
    case = CASES["invalid_utf8"](tmp_path)
    with pytest.raises(DataAgentError) as err:
        gate_file(case.path, tmp_path / "gate", on_bad_line="error")
    message = str(err.value)
    assert str(case.path) in message and "line 2" in message and "not UTF-8" in message


def test_line_separator_is_kept_in_the_accepted_text(tmp_path):
    case = CASES["line_separator_in_text"](tmp_path)
    gate_file(case.path, tmp_path / "gate")
    outputs = [r["output"] for r in strict_jsonl(tmp_path / "gate" / "accepted.jsonl")]
    assert any("\u2028" in o and "\u2029" in o for o in outputs)


def test_non_string_values_are_kept_as_they_were_in_quarantine(tmp_path):
    case = CASES["wrong_types"](tmp_path)
    gate_file(case.path, tmp_path / "gate")
    by_line = {q["line"]: q for q in strict_jsonl(tmp_path / "gate" / "quarantine.jsonl")}
    assert by_line[1]["output"] == 5 and by_line[2]["instruction"] == ["a", "b"]
    assert by_line[3]["input"] == {"k": "v"} and by_line[5]["output"] is True
    # Reasons name the type problem only: no "too_short" from checking the repr of a list.
    assert by_line[2][REASONS] == ["instruction:not_a_string"]


def test_id_conflict_keeps_the_first_and_writes_a_valid_accepted_file(tmp_path):
    case = CASES["id_conflict"](tmp_path)
    gate_file(case.path, tmp_path / "gate")
    accepted = read_records(tmp_path / "gate" / "accepted.parquet", InstructionRecord)
    assert accepted["id"].is_unique and accepted.iloc[0]["output"] == good(0)["output"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_one_line(tmp_path):
    path = tmp_path / "locked.jsonl"
    path.write_bytes(line(good(0)) + b"\n")
    path.chmod(0)
    try:
        with pytest.raises(DataAgentError, match="permission denied"):
            gate_file(path, tmp_path / "gate")
    finally:
        path.chmod(0o600)


def test_read_records_is_strict_and_names_the_line(tmp_path):
    path = tmp_path / "recs.jsonl"
    path.write_bytes(line(good(0)) + b"\n\n" + b'{"id": NaN}\n')
    with pytest.raises(ContractError) as err:
        read_records(path, InstructionRecord)
    message = str(err.value)
    assert str(path) in message and "line 3" in message and "NaN" in message and "\n" not in message


def test_read_records_refuses_a_list_in_a_text_field(tmp_path):
    path = tmp_path / "recs.jsonl"
    path.write_bytes(line(good(0)) + b"\n" + line(good(1, output=["a", "b"])) + b"\n")
    with pytest.raises(ContractError, match=r"expected a string, got \['a', 'b'\].*row 2, column 'output'"):
        read_records(path, InstructionRecord)


def test_write_table_writes_strict_json(tmp_path):
    df = pd.DataFrame(
        {
            "text": ["a", None, "c"],
            "score": [1.5, math.nan, math.inf],
            "mixed": ["x", 5, [1.0, math.nan]],
            "vec": [np.array([1.0, np.nan]), np.array([2.0]), np.array([-np.inf])],
            "blob": [b"\xff", b"ok", None],
        }
    )
    jsonl, parquet = write_table(df, tmp_path / "t")
    rows = strict_jsonl(jsonl)
    assert [r["score"] for r in rows] == [1.5, None, None]  # inf has no JSON spelling: null
    assert rows[2]["mixed"] == [1.0, None] and rows[0]["vec"] == [1.0, None] and rows[2]["vec"] == [None]
    assert rows[0]["blob"] == "\\xff" and rows[1]["text"] is None
    back = pd.read_parquet(parquet)
    assert back["mixed"].tolist()[:2] == ["x", "5"]  # a column Arrow cannot type is written as text
