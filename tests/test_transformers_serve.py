"""The engine against `transformers serve` with a tiny local model: a real second server implementation."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from synth.engine import Engine, EngineConfig, GenRequest
from train.tiny import tiny_llama, train_tokenizer

pytestmark = pytest.mark.slow  # starts `transformers serve` in a subprocess

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    tok = train_tokenizer(["Compound interest is interest on interest. 複利是利息再生利息。"] * 50, vocab_size=300)
    tok.chat_template = CHAT_TEMPLATE  # transformers serve formats chat requests with it
    tiny_llama(tok, hidden=64, layers=1, heads=2).save_pretrained(folder)
    tok.save_pretrained(folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("transformers")
    proc = subprocess.Popen(
        [str(exe), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("transformers serve did not start within 90 s")
    yield f"http://127.0.0.1:{port}/v1", str(folder)
    proc.terminate()
    proc.wait(timeout=20)


def test_engine_talks_to_transformers_serve(served_model, tmp_path):
    base_url, model = served_model
    cfg = EngineConfig(base_url=base_url, model=model, api_key="unused", cache_path=str(tmp_path / "c.sqlite"))
    requests = [
        GenRequest("hello", [{"role": "user", "content": f"Say something about {t}."}], {"max_tokens": 6})
        for t in ("interest", "利息")
    ]
    engine = Engine(cfg)
    results = engine.generate(requests)
    # A random tiny model never stops by itself, so every answer hits max_tokens: the engine
    # must see finish_reason "length" and report it as truncated, not as a good answer, after
    # asking again as many times as EngineConfig.reask allows.
    assert [r.error for r in results] == ["truncated", "truncated"]
    report = engine.usage_report()
    assert report["reasks"] == 2 * cfg.reask
    # Each try spends its 6 tokens (a preflight chat probe, when /models does not list the model, may add 1).
    assert 6 * 2 * (cfg.reask + 1) <= report["completion_tokens"] <= 6 * 2 * (cfg.reask + 1) + 1
    # Failures are kept apart from answers: a rerun told not to re-ask them replays them and sends nothing.
    again = Engine(dataclasses.replace(cfg, reask_failures=False))
    assert [r.error for r in again.generate(requests)] == ["truncated", "truncated"]
    assert again.usage_report()["requests_sent"] == 0


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    """One real document and one real code unit, written as the crawl and the extractor write them."""
    from conftest import document_row

    from crawlers.code.extract import extract_repos
    from validate.contracts import CodeUnit, Document
    from validate.io import write_records

    text = (
        "# Compound interest\n\nCompound interest is interest calculated on the initial principal and on the "
        "interest already added. A deposit of 100 at 5 % a year grows to 105 after one year and 110.25 after two. "
        "複利是以本金加上已累積的利息為基礎計算的利息，期間越長，效果越明顯。"
    )
    docs, _ = write_records(
        pd.DataFrame([document_row("http://127.0.0.1/interest.html", text)]), tmp_path / "documents", Document
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "interest.py").write_text(
        'def compound(principal, rate, years):\n    """Value of principal after years at rate, compounded yearly."""\n'
        "    return principal * (1 + rate) ** years\n"
    )
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run([*git, *args], check=True)
    code, _ = write_records(extract_repos([str(repo)], workers=1), tmp_path / "code", CodeUnit)
    return docs, code


@pytest.mark.parametrize("generator", ["qa", "self-instruct", "code", "task:statute_summary"])
def test_every_generator_against_transformers_serve(served_model, tmp_path, generator):
    # A random tiny model answers nonsense: what matters is that every generator goes through a real server
    # without a traceback and accounts for every request as records or quarantined rows with their reasons.
    from synth.run_llm import synth_llm
    from validate.errors import StageFailed

    base_url, model = served_model
    docs, code = _inputs(tmp_path)
    cfg = EngineConfig(
        base_url=base_url, model=model, api_key="unused", cache_path=str(tmp_path / "c.sqlite"), reask=0, quiet=True
    )
    out = tmp_path / "out"
    try:
        report = synth_llm(out, generator, cfg, documents=docs, code=code, num_requests=1, n_pairs=1)
    except StageFailed as exc:  # every request failed (the tiny model never stops: truncated): one line, no traceback
        assert "\n" not in str(exc) and "truncated" in str(exc)
    else:
        assert report["requests"] >= 1 and report["records"] + report["quarantined"] >= 1
    quarantine = pd.read_json(out / "generation_quarantine.jsonl", lines=True)
    assert len(quarantine) and quarantine["reason"].str.len().min() > 0
