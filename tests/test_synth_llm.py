"""The LLM synth stage end to end: real crawl output, real openai client, loopback server."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from dataagent.testing.openai import Fault, last_user_text, serve
from synth.engine import EngineConfig
from synth.run_llm import synth_llm
from validate.contracts import InstructionRecord


def qa_answers(body: dict, n: int):
    """Answers in the prompt's language, one per chunk, unique per chunk."""
    text = last_user_text(body)
    tag = hashlib.sha256(text.encode()).hexdigest()[:6]
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        pair = {
            "question": f"申請案件編號 {tag} 需要準備哪些文件？",
            "answer": "需要準備身分證明文件、申請書以及相關的證明資料，並在期限內送件。",
        }
    else:
        pair = {
            "question": f"What documents does application {tag} require?",
            "answer": "It requires proof of identity, the signed application form and the supporting records.",
        }
    return {"pairs": [pair]}


@pytest.fixture(scope="module")
def docs_file(crawl_dir):
    return crawl_dir / "documents.parquet"


def test_doc_qa_through_the_engine_with_faults_quarantined(docs_file, tmp_path):
    def script(body: dict, n: int):
        if n == 0:
            return Fault.rate_limit(retry_after=0.05)
        if n == 1:
            return Fault.malformed()
        if n == 2:
            return Fault.fenced(qa_answers(body, n))
        return qa_answers(body, n)

    with serve(script) as handle:
        cfg = EngineConfig(
            base_url=handle.base_url,
            model="test-model",
            api_key="k",
            concurrency=4,
            cache_path=str(tmp_path / "cache.sqlite"),
            backoff_base=0.01,
        )
        estimate = synth_llm(tmp_path / "out", "qa", cfg, documents=docs_file, dry_run=True)
        assert handle.requests == [] and estimate["requests"] > 20
        report = synth_llm(tmp_path / "out", "qa", cfg, documents=docs_file)
        sent = len(handle.requests)
        again = synth_llm(tmp_path / "again", "qa", cfg, documents=docs_file)
        assert len(handle.requests) == sent  # the rerun came from the cache
    recs = pd.read_parquet(tmp_path / "out" / "instructions.parquet")
    InstructionRecord.validate(recs)
    quarantine = pd.read_parquet(tmp_path / "out" / "generation_quarantine.parquet")
    assert report["requests"] == estimate["requests"]
    assert report["records"] + report["quarantined"] >= report["requests"]  # each request -> records or quarantine
    # The malformed answer was asked again (same prompt) and the second answer became records.
    assert report["usage"]["reasks"] == 1 and "unparseable" not in set(quarantine["reason"])
    assert set(recs["language"]) >= {"zh-Hant", "en"}
    assert report["usage"]["retries"] == 1 and again["usage"]["requests_sent"] == 0
    assert again["records"] == report["records"]
    assert json.loads((tmp_path / "out" / "usage_report.json").read_text())["usage"]["prompt_tokens"] > 0


def test_money_budget_stops_cleanly(docs_file, tmp_path):
    with serve(qa_answers) as handle:
        cfg = EngineConfig(
            base_url=handle.base_url,
            model="priced",
            api_key="k",
            concurrency=2,
            budget_usd=0.01,
            prices={"priced": (1.0, 2.0)},
        )
        report = synth_llm(tmp_path / "out", "qa", cfg, documents=docs_file)
    assert report["usage"]["stopped_by_budget"], report
    assert 0 < report["records"] and report["usage"]["cost_usd"] <= 0.01, report
    assert report["quarantined_by_reason"]["budget_exhausted"] > 0


def test_cli_openai_backend_dry_run_and_run(docs_file, tmp_path):
    import subprocess
    import sys

    with serve(qa_answers) as handle:
        base = [
            sys.executable,
            "-m",
            "dataagent",
            "synth",
            "--backend",
            "openai",
            "--generator",
            "qa",
            "--documents",
            str(docs_file),
            "--base-url",
            handle.base_url,
            "--model",
            "test-model",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(tmp_path / "out"),
        ]
        env = {**__import__("os").environ, "OPENAI_API_KEY": "sk-test-secret"}
        dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, env=env)
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["requests"] > 20 and handle.requests == []
        run = subprocess.run(base, capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["records"] > 20
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-test-secret" not in path.read_bytes(), path
