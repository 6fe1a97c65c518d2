"""One quarantine schema for every stage, and one run() entry point per stage.

Every quarantine file an output folder can hold (crawl, extract, synth rules, the LLM backends, the import,
the gate) starts with the columns of validate.contracts.QuarantineRecord and passes it, read back from
JSONL and from Parquet, while keeping the columns its users read today.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import document_row, instruction_row

from dataagent.testing.openai import Fault, serve
from validate.contracts import Document, QAItem, QuarantineRecord, columns
from validate.errors import ContractError, DataAgentError
from validate.gate import REASONS, split_by_contract
from validate.io import validate_frame
from validate.quarantine import category, quarantine_frame, write_quarantine

COMMON = columns(QuarantineRecord)


def _check_file(stem: Path, stage: str) -> tuple[list[dict], pd.DataFrame]:
    """Both files of a quarantine pass the contract with the common columns first; (JSONL rows, Parquet frame)."""
    jsonl, parquet_file = stem.with_name(stem.name + ".jsonl"), stem.with_name(stem.name + ".parquet")
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    parquet = pd.read_parquet(parquet_file)
    assert list(parquet.columns[: len(COMMON)]) == COMMON
    assert len(rows) == len(parquet)
    for frame in (pd.DataFrame(rows, columns=list(parquet.columns)), parquet):
        validate_frame(frame, QuarantineRecord, stem)
    assert {r["stage"] for r in rows} <= {stage}
    for r in rows:
        assert isinstance(json.loads(r["record"]), dict) and r["reason"] == category(r[REASONS][0])
    return rows, parquet


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the writer and the contract --------------------------------------------------------------------------------


def test_category_takes_out_ids_indices_and_details():
    assert category("near_duplicate_of:0123456789ab") == "near_duplicate"
    assert category("pairs[2].answer too short (12 < 20 weighted chars)") == "pairs[].answer too short"
    assert category("output:refusal_boilerplate") == "output:refusal_boilerplate"
    assert category("  ") == "unknown"


def test_the_contract_refuses_an_unknown_stage_and_empty_reasons():
    good = quarantine_frame([{"reason": "duplicate_id", "raw": "x"}], "synth")
    with pytest.raises(ContractError):
        validate_frame(good.assign(stage="elsewhere"), QuarantineRecord, "q")
    with pytest.raises(ContractError):
        validate_frame(good.assign(**{REASONS: [[]]}), QuarantineRecord, "q")
    with pytest.raises(ContractError):
        validate_frame(good.assign(record="not json"), QuarantineRecord, "q")
    with pytest.raises(DataAgentError, match="unknown quarantine stage"):
        quarantine_frame([{"reason": "x"}], "elsewhere")


def test_a_record_field_named_like_a_common_column_is_kept_under_record_():
    rows = pd.DataFrame([{"id": "a", "stage": "draft", "row": 7, REASONS: ["output:missing"], "output": None}])
    frame = quarantine_frame(rows, "gate", record_columns=["id", "stage", "row", "output"], source_file="in.jsonl")
    (q,) = frame.to_dict("records")
    assert (q["stage"], q["record_stage"], q["record_row"]) == ("gate", "draft", 7)
    assert pd.isna(q["row"]) and q["column"] == "output" and q["record_id"] == "a"
    assert json.loads(q["record"]) == {"id": "a", "stage": "draft", "row": 7, "output": None}


def test_an_empty_quarantine_has_the_common_columns_and_the_stage_own(tmp_path):
    write_quarantine(pd.DataFrame(columns=["source_ref", "reason", "raw"]), tmp_path / "q", "synth")
    frame = pd.read_parquet(tmp_path / "q.parquet")
    assert list(frame.columns) == [*COMMON, "source_ref", "raw"] and not len(frame)


def test_crawl_rows_that_break_their_contract(tmp_path):
    """What ContractWriterPipeline writes for pages and FAQ pairs that break Document / QAItem."""
    docs = pd.DataFrame([document_row("http://a/1", "good text"), document_row("http://a/2", " ", language="xx")])
    accepted, quarantined = split_by_contract(docs, Document)
    write_quarantine(quarantined, tmp_path / "documents.quarantine", "crawl", source_file="j.jsonl", id_column="url")
    (row,), _ = _check_file(tmp_path / "documents.quarantine", "crawl")
    assert len(accepted) == 1 and row["record_id"] == "http://a/2" and row["source_file"] == "j.jsonl"
    assert row["column"] in ("text", "language") and row["url"] == "http://a/2"  # the page's fields stay
    qa = pd.DataFrame([{"url": "http://a/3", "question": "", "answer": "a", "language": "en"}])
    _, bad = split_by_contract(
        qa.assign(fetched_at="2024-01-01T00:00:00Z", source="s", license="", origin="html"), QAItem
    )
    write_quarantine(bad, tmp_path / "qa.quarantine", "crawl", id_column="url")
    _check_file(tmp_path / "qa.quarantine", "crawl")


# --- each stage's own file ----------------------------------------------------------------------------------


def test_gate_quarantine_keeps_its_columns_and_names_line_id_and_field(tmp_path):
    from validate.run import ValidateConfig, run

    good = instruction_row("What is a deposit?", "Money held until the lease ends and then returned in full.")
    refusal = instruction_row("Explain leases.", "As an AI language model, I cannot help with that request.")
    path = tmp_path / "in.jsonl"
    _jsonl(path, [good, refusal])
    with path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    report = run(path, tmp_path / "gate", ValidateConfig(near_dup_threshold=None))
    rows, _ = _check_file(tmp_path / "gate" / "quarantine", "gate")
    assert report["accepted"] + report["quarantined"] == report["input"] == 3
    by_line = {r["line"]: r for r in rows}
    assert set(by_line) == {2, 3} and all(r["row"] == r["line"] for r in rows)
    assert by_line[2]["record_id"] == refusal["id"] and by_line[2]["column"] == "output"
    assert by_line[2]["instruction"] == "Explain leases." and by_line[2][REASONS] == ["output:refusal_boilerplate"]
    assert json.loads(by_line[2]["record"])["output"] == refusal["output"]
    assert by_line[3]["reason"] == "bad_line:invalid_json" and by_line[3]["raw"] == "{not json"
    assert all(r["source_file"] == str(path) for r in rows)


def test_import_quarantine_points_back_to_the_source_row(tmp_path):
    from validate import importers
    from validate.run import run

    path = tmp_path / "alpaca.json"
    path.write_text(
        json.dumps(
            [
                {"instruction": "What is compound interest?", "output": "Interest earned on interest, year by year."},
                {"instruction": "Only a question?", "output": None},
            ]
        ),
        encoding="utf-8",
    )
    imported = importers.import_dataset(str(path), "auto", {}, None, None, "quarantine")
    result = run(imported, tmp_path / "gate")
    (row,), _ = _check_file(tmp_path / "gate" / "import_quarantine", "import")
    assert row["row"] == row["source_row"] == 2 and row["reason"].startswith("import:")
    assert row["source_file"] == result["import"]["source"] and row["detail"] == row["message"]
    assert json.loads(row["record"]) == {"instruction": "Only a question?", "output": None}
    assert result["accepted"] + result["quarantined"] + result["import"]["rejected"] == 2


def test_synth_rules_quarantine_names_the_input_each_record_came_from(tmp_path):
    from synth.run import SynthConfig, SynthInputs, run

    qa = tmp_path / "qa.jsonl"
    pair = {
        "url": "http://127.0.0.1/faq",
        "question": "How is interest paid?",
        "answer": "Monthly, into the same account.",
        "language": "en",
        "fetched_at": "2024-01-01T00:00:00Z",
        "source": "s",
        "license": "",
        "origin": "html",
    }
    _jsonl(qa, [pair, {**pair, "url": "http://127.0.0.1/faq2"}])  # the same pair twice: one duplicate_id
    summary = run(SynthInputs(qa=qa), tmp_path / "synth", SynthConfig(backend="rules"))
    (row,), _ = _check_file(tmp_path / "synth" / "instructions.quarantine", "synth")
    assert summary["made"] == summary["kept"] + summary["quarantined"] == 2
    assert row["reason"] == "duplicate_id" and row["source_file"] == str(qa) and row["record_id"] == row["id"]
    # instructions.quarantine.* sits beside instructions.*, it does not replace it
    assert len(pd.read_json(tmp_path / "synth" / "instructions.jsonl", lines=True)) == summary["kept"] == 1


def test_langchain_and_openai_backends_write_the_same_schema(tmp_path):
    from synth.engine import EngineConfig
    from synth.run import SynthConfig, SynthInputs, run

    docs = tmp_path / "documents.jsonl"
    _jsonl(
        docs,
        [
            document_row(
                "http://127.0.0.1/a.html", "# Leases\n\nA deposit is returned when the lease ends, with interest. " * 20
            )
        ],
    )
    good = {"pairs": [{"question": "When is a deposit returned?", "answer": "When the lease ends, in full."}]}
    for backend in ("langchain", "openai"):
        out = tmp_path / backend
        with serve([Fault.malformed()] * 12 + [good]) as handle:
            engine = EngineConfig(base_url=handle.base_url, model="m", api_key="k", reask=0, backoff_base=0.01)
            config = SynthConfig(backend=backend, engine=engine, options={"n_pairs": 1})
            try:
                run(SynthInputs(documents=docs), out, config)
            except DataAgentError:
                pass  # every request unparseable: the stage fails after writing its quarantine
        rows, _ = _check_file(out / "generation_quarantine", "synth")
        assert rows and all(r["record_id"] == "http://127.0.0.1/a.html" for r in rows), backend
        assert all(r["source_file"] == str(docs) and {"template", "raw"} <= set(r) for r in rows), backend


def test_extract_quarantines_a_unit_that_breaks_the_contract(tmp_path, sample_repo, monkeypatch):
    import crawlers.code.run as code_run

    real = code_run.extract_repos

    def one_broken(*args, **kwargs):
        units = real(*args, **kwargs)
        units.loc[0, "symbol"] = " "
        return units

    monkeypatch.setattr(code_run, "extract_repos", one_broken)
    cfg = code_run.CodeConfig(workers=1, repo_names={str(sample_repo): "samples/finkit"})
    summary = code_run.run([str(sample_repo)], tmp_path / "code", cfg)
    (row,), _ = _check_file(tmp_path / "code" / "code_units.quarantine", "extract")
    kept = pd.read_parquet(tmp_path / "code" / "code_units.parquet")
    assert summary["quarantined"] == 1 and len(kept) + 1 == summary["units"]
    assert row["reason"].startswith("symbol:str_contains") and row["column"] == "symbol"
    assert row["source_file"] == f"samples/finkit:{row['path']}" and row["row"] == row["start_line"]
    assert set(kept["repo"]) == {"samples/finkit"}


def test_unknown_backend_is_one_line():
    from synth.run import SynthConfig, SynthInputs, check

    with pytest.raises(DataAgentError, match="unknown synth backend 'nope'.*rules, openai, langchain"):
        check(SynthInputs(), SynthConfig(backend="nope"))
