"""Rule-based synthesis on real crawl and extraction output, then the gate."""

import pandas as pd

from synth.records import make_record
from synth.run import synth_rules
from validate.contracts import CodeUnit, InstructionRecord
from validate.gate import REASONS
from validate.io import read_records, write_records
from validate.quality import run_gate
from validate.run import gate_file


def test_rules_make_every_task_type(crawl_dir, sample_repo, tmp_path):
    from crawlers.code.extract import extract_repo

    write_records(extract_repo(str(sample_repo)), tmp_path / "code", CodeUnit)
    summary = synth_rules(
        tmp_path / "synth",
        documents=crawl_dir / "documents.parquet",
        qa=crawl_dir / "qa.parquet",
        code=tmp_path / "code.parquet",
    )
    recs = read_records(tmp_path / "synth" / "instructions.parquet", InstructionRecord)
    assert summary["kept"] == len(recs) and summary["made"] == summary["kept"] + summary["quarantined"]
    assert set(recs["task_type"]) == {
        "faq_qa",
        "section_qa",
        "docstring_to_code",
        "code_to_docstring",
        "method_with_context",
        "explain_code",
    }
    ctx = recs[(recs["task_type"] == "method_with_context") & recs["instruction"].str.contains("`def balance")].iloc[0]
    assert "self._balances" in ctx["input"]  # fields and the constructor are the context
    assert 'def transfer(self, source: str, target: str, amount: float, memo: str = "") -> None: ...' in ctx["input"]
    assert "def balance" not in ctx["input"] and ctx["output"].startswith("def balance(self, account: str)")
    sec = recs[recs["task_type"] == "section_qa"]
    assert sec["instruction"].str.contains("複利如何計算").any()
    doc2code = recs[(recs["task_type"] == "docstring_to_code") & recs["instruction"].str.contains("monthly_payment")]
    assert doc2code.iloc[0]["input"] == "計算每月應繳的本息平均攤還金額。"
    assert doc2code.iloc[0]["language"] == "zh-Hant"
    code2doc = recs[recs["task_type"] == "code_to_docstring"]
    for row in code2doc.itertuples():
        if row.output.count("\n") > 0:  # multi-line docs must not be in their own input
            assert row.output.splitlines()[0] not in row.input


def test_gate_quarantines_known_defects_and_loses_nothing(tmp_path):
    def rec(instruction, output, **kw):
        return make_record(
            instruction,
            output,
            task_type="faq_qa",
            language="en",
            generator="rule:test",
            source_ref="http://127.0.0.1/x",
            **kw,
        )

    rows = [
        rec("What is an index fund?", "A fund that tracks a market index."),
        rec("What is an index fund?", "A fund that tracks a market index."),  # exact duplicate
        rec("Explain leases.", "As an AI language model, I cannot give legal advice."),
        rec("Repeat me", "Repeat me"),
        rec("Summarise {context}", "A summary."),
        rec("什麼是複利？", "複利是利息再生利息。"),
    ]
    path = tmp_path / "in.jsonl"
    write_records(pd.DataFrame(rows).drop_duplicates("id"), tmp_path / "in", InstructionRecord)
    report = gate_file(path, tmp_path / "gate")
    assert report["input"] == 5 and report["accepted"] + report["quarantined"] == 5
    quarantine = pd.read_parquet(tmp_path / "gate" / "quarantine.parquet")
    reasons = {row.instruction: list(row.quarantine_reasons) for row in quarantine.itertuples()}
    assert reasons["Explain leases."] == ["output:refusal_boilerplate"]
    assert reasons["Repeat me"] == ["output_echoes_instruction"]
    assert reasons["Summarise {context}"] == ["template_leak"]

    accepted, quarantined, _ = run_gate(pd.DataFrame(rows))
    assert len(accepted) + len(quarantined) == len(rows)
    assert ["exact_duplicate"] in quarantined[REASONS].tolist()
