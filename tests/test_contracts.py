import json

import pandas as pd
import pytest

from synth.records import make_record
from validate.contracts import InstructionRecord
from validate.errors import ContractError
from validate.gate import REASONS, split_by_contract
from validate.io import read_records, write_records


def _record(**over):
    rec = make_record(
        "What is compound interest?",
        "Interest earned on interest.",
        task_type="faq_qa",
        language="en",
        generator="rule:faq",
        source_ref="http://127.0.0.1/faq.html",
    )
    rec.update(over)
    return rec


def test_write_then_read_round_trips_both_formats(tmp_path):
    df = pd.DataFrame([_record(), _record(instruction="什麼是複利？", language="zh-Hant", id="b" * 64)])
    jsonl, parquet = write_records(df, tmp_path / "recs", InstructionRecord)
    for path in (jsonl, parquet):
        back = read_records(path, InstructionRecord)
        assert back["instruction"].tolist() == ["What is compound interest?", "什麼是複利？"]
    assert "什麼是複利" in jsonl.read_text(encoding="utf-8")  # CJK kept readable, not \u-escaped


def test_bad_cell_error_names_file_row_and_column(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [_record(), _record(id="c" * 64, language="Chinese!")]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(ContractError) as err:
        read_records(path, InstructionRecord)
    message = str(err.value)
    assert str(path) in message and "row 2" in message and "column 'language'" in message
    assert "\n" not in message


def test_broken_json_line_is_reported_with_its_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_record()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"expected a JSON object, got invalid JSON.*broken\.jsonl, line 2\)"):
        read_records(path, InstructionRecord)


def test_missing_field_is_named(tmp_path):
    path = tmp_path / "missing.jsonl"
    rec = _record()
    del rec["output"]
    path.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    with pytest.raises(ContractError, match="column 'output'"):
        read_records(path, InstructionRecord)


def test_split_by_contract_quarantines_with_check_names_and_loses_nothing():
    good = _record()
    empty_output = _record(output="   ", id="d" * 64)
    bad_time = _record(created_at="yesterday", id="e" * 64)
    accepted, quarantined = split_by_contract(pd.DataFrame([good, empty_output, bad_time]), InstructionRecord)
    assert len(accepted) + len(quarantined) == 3
    assert accepted["id"].tolist() == [good["id"]]
    reasons = dict(zip(quarantined["id"], quarantined[REASONS], strict=True))
    assert any(r.startswith("output:str_contains") for r in reasons["d" * 64])
    assert any(r.startswith("created_at:str_matches") for r in reasons["e" * 64])
