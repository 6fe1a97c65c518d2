"""The whole validate stage over one file: checks, near-dup, decontamination, report, strict mode."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synth.records import make_record
from validate.contracts import InstructionRecord
from validate.errors import DataAgentError
from validate.io import write_records
from validate.quality import GateConfig
from validate.run import gate_file

BASE = (
    "Compound interest means interest is earned on both the original principal and on the interest "
    "already added, so savings grow faster the longer they stay invested without withdrawals."
)


def _records() -> pd.DataFrame:
    def rec(instruction: str, output: str, lang: str = "en") -> dict:
        return make_record(
            instruction,
            output,
            task_type="faq_qa",
            language=lang,
            generator="rule:test",
            source_ref=f"http://127.0.0.1/{abs(hash(instruction)) % 97}.html",
        )

    rows = [
        rec(
            f"Question {i}: what is topic number {i} about in personal finance?",
            f"Topic {i} is about budgeting item {i}, which covers how to plan spending for month {i}.",
        )
        for i in range(20)
    ]
    rows += [
        rec("What is compound interest?", BASE),
        rec("What is compound interest?", BASE + " Really."),  # near-duplicate of the one above
        rec(
            "What is the capital of the fictional land of Zembla in the benchmark?",
            "The capital of the fictional land of Zembla in the benchmark is the city of Onhava by the sea.",
        ),
        rec("什麼是複利？", "複利是指利息再產生利息的計算方式，長期下來會讓存款以更快的速度成長。", "zh-Hant"),
        rec("Summarise {context}", "A short summary of the given text."),
    ]
    return pd.DataFrame(rows)


def test_gate_file_runs_every_step_and_loses_nothing(tmp_path):
    write_records(_records(), tmp_path / "in", InstructionRecord)
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(
        json.dumps(
            {
                "question": "What is the capital of the fictional land of Zembla in the "
                "benchmark? Answer with the city name only please."
            }
        )
        + "\n"
    )
    report = gate_file(tmp_path / "in.parquet", tmp_path / "gate", eval_sets=[eval_file])
    assert report["accepted"] + report["quarantined"] == report["input"] == 25
    quarantine = pd.read_parquet(tmp_path / "gate" / "quarantine.parquet")
    reasons = [r for rs in quarantine["quarantine_reasons"] for r in rs]
    assert any(r.startswith("near_duplicate_of:") for r in reasons)
    assert "contaminated" in reasons
    assert any("template_leak" in r for r in reasons)
    html = (tmp_path / "gate" / "quality_report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "http://" not in html.split("<body", 1)[-1].split("quarantine")[0]
    assert (tmp_path / "gate" / "gate_summary.md").read_text().strip().startswith("|")


def test_strict_mode_fails_when_a_check_is_over_its_limit(tmp_path):
    write_records(_records(), tmp_path / "in", InstructionRecord)
    cfg_file = tmp_path / "strict.yaml"
    cfg_file.write_text("max_failure_rate:\n  template_leak: 0.0\n", encoding="utf-8")
    with pytest.raises(DataAgentError, match="--strict"):
        gate_file(tmp_path / "in.parquet", tmp_path / "gate", GateConfig.from_yaml(cfg_file), strict=True)
    assert (tmp_path / "gate" / "quarantine.parquet").exists()  # outputs are written before failing
