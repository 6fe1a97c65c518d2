"""Synthesis fails loudly on a bad configuration and loses nothing on a partial failure.

Real HTTP only: the loopback test server with fault scripts, and a port nobody listens on.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import httpx2
import pandas as pd
import pytest
from conftest import document_row, free_port, one_line

from dataagent.testing.openai import Fault, last_user_text, serve
from synth.engine import CONNECT_BACKOFF_MAX, Engine, EngineConfig, GenRequest, load_prices
from synth.langchain_route import FAIL_FAST_AFTER, PROBE_RETRIES, langchain_qa, synth_langchain
from synth.run_llm import synth_llm
from validate.contracts import Document
from validate.errors import DataAgentError, StageFailed
from validate.io import read_records, write_records

N_DOCS = 24  # one chunk, so one qa request, each


@pytest.fixture(scope="module")
def docs_file(tmp_path_factory):
    rows = []
    for i in range(N_DOCS):
        sentence = (
            f"Applicants for permit number {i} must file the signed form, proof of identity "
            "and the fee receipt with the district office before the deadline. "
        )
        text = f"# Permit {i}\n\n" + sentence * 3
        url = f"http://127.0.0.1/permit{i}.html"
        rows.append(document_row(url, text, title=f"Permit {i}"))
    stem = tmp_path_factory.mktemp("docs") / "documents"
    write_records(pd.DataFrame(rows), stem, Document)
    return stem.with_suffix(".parquet")


@pytest.fixture
def attempts(monkeypatch) -> Counter:
    """HTTP attempts per host, counted at the openai client's transports (httpx2): fail-fast in tries, not seconds."""
    seen: Counter = Counter()
    sync_send, async_send = httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request

    def handle_request(self, request):
        seen[request.url.netloc.decode()] += 1
        return sync_send(self, request)

    async def handle_async_request(self, request):
        seen[request.url.netloc.decode()] += 1
        return await async_send(self, request)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", handle_request)
    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    return seen


def _tag(body: dict) -> str:
    return hashlib.sha256(last_user_text(body).encode()).hexdigest()[:6]


def answer(body: dict, n: int) -> dict:
    return {
        "pairs": [
            {
                "question": f"What must applicants for case {_tag(body)} file?",
                "answer": "They must file the signed form, proof of identity and the fee receipt.",
            }
        ]
    }


def flaky(body: dict) -> bool:
    """About 30% of prompts, the same ones every time."""
    return int(_tag(body), 16) % 10 < 3


def cfg(base_url: str, tmp_path, **kw) -> EngineConfig:
    opts = {"model": "test-model", "api_key": "test-key", "concurrency": 16, "backoff_base": 0.01, **kw}
    return EngineConfig(base_url=base_url, cache_path=str(tmp_path / "cache.sqlite"), **opts)


def test_unreachable_server_stops_within_seconds(docs_file, tmp_path, attempts):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    config = cfg(url, tmp_path, backoff_base=0.5)
    with pytest.raises(StageFailed) as exc:
        # The default backoff, as a user gets it: only the connect retries are made short.
        synth_llm(tmp_path / "out", "qa", config, documents=docs_file)
    # Seconds, counted as tries: one probe and its quick connect retries, each wait at most CONNECT_BACKOFF_MAX.
    assert attempts[f"127.0.0.1:{port}"] <= config.connect_retries + 1
    assert CONNECT_BACKOFF_MAX <= 1.0
    message = one_line(exc)
    assert "connect_error" in message and "cannot connect" in message and url in message


def test_bad_key_stops_after_the_first_requests_and_a_rerun_sends_everything(docs_file, tmp_path):
    with serve([Fault.unauthorized()]) as handle:
        with pytest.raises(StageFailed) as exc:
            synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path), documents=docs_file)
        assert handle.counts["unauthorized"] == 8  # the probes, each sent once: a 401 is not retried
        message = one_line(exc)
        assert "http_401" in message and "OPENAI_API_KEY" in message and handle.base_url in message
        handle.set_script(answer)  # the key is fixed
        report = synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path), documents=docs_file)
        assert handle.counts["ok"] == N_DOCS  # nothing of the stopped run was cached
    assert report["records"] == N_DOCS and report["failed_summary"] is None and report["failed_requests"] == {}


def test_unknown_model_names_the_model(docs_file, tmp_path):
    with serve([Fault.unknown_model()]) as handle, pytest.raises(StageFailed) as exc:
        synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path, model="no-such-model"), documents=docs_file)
    message = one_line(exc)
    assert "http_404" in message and "'no-such-model'" in message


def test_a_400_saying_model_not_found_stops_too():
    with serve([Fault.bad_request("Model 'qwen-x' not found.")]) as handle, pytest.raises(StageFailed) as exc:
        reqs = [GenRequest("t", [{"role": "user", "content": f"q{i}"}], {"max_tokens": 20}) for i in range(20)]
        # Without the preflight (which stops this after 1 request): the run's own circuit breaker.
        Engine(EngineConfig(base_url=handle.base_url, model="qwen-x", api_key="k", preflight=False)).generate(reqs)
    assert "model_not_found" in one_line(exc) and handle.counts["bad_request"] == 8


def test_partial_failure_keeps_going_records_failures_and_a_rerun_sends_only_those(docs_file, tmp_path):
    def script(body: dict, n: int):
        return Fault.server_error() if flaky(body) else answer(body, n)

    with serve(script) as handle:
        config = cfg(handle.base_url, tmp_path, max_retries=1)
        report = synth_llm(tmp_path / "out", "qa", config, documents=docs_file)
        failing = {_tag(r.body) for r in handle.requests if flaky(r.body)}
        assert 0 < len(failing) < N_DOCS
        handle.set_script(answer)  # the server recovers
        before = len(handle.requests)
        again = synth_llm(tmp_path / "again", "qa", config, documents=docs_file)
        resent = {_tag(r.body) for r in handle.requests[before:]}
    assert report["failed_requests"] == {"http_500_retries_exhausted": len(failing)}
    quarantine_file = tmp_path / "out" / "generation_quarantine.jsonl"
    assert report["failed_summary"] == (
        f"{len(failing)} of {N_DOCS} requests failed "
        f"(http_500_retries_exhausted: {len(failing)}); see {quarantine_file}"
    )
    quarantine = pd.read_json(quarantine_file, lines=True)
    assert (quarantine["reason"] == "http_500_retries_exhausted").sum() == len(failing)
    assert report["records"] == N_DOCS - len(failing)
    assert resent == failing and len(handle.requests) - before == len(failing)
    assert again["records"] == N_DOCS and again["failed_summary"] is None


def test_every_request_failing_raises_after_writing_the_quarantine(docs_file, tmp_path):
    with serve([Fault.server_error()]) as handle, pytest.raises(StageFailed) as exc:
        synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path, max_retries=0), documents=docs_file)
    quarantine_file = tmp_path / "out" / "generation_quarantine.jsonl"
    assert one_line(exc) == (
        f"synth produced nothing: {N_DOCS} of {N_DOCS} requests failed "
        f"(http_500_retries_exhausted: {N_DOCS}); see {quarantine_file}"
    )
    assert len(pd.read_json(quarantine_file, lines=True)) == N_DOCS


def test_missing_key_refused_for_remote_servers_only(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    reqs = [GenRequest("t", [{"role": "user", "content": "q"}], {"max_tokens": 20})]
    for url in (None, "https://llm.example.invalid/v1"):
        with pytest.raises(DataAgentError, match="^OPENAI_API_KEY is not set"):
            Engine(EngineConfig(base_url=url, model="m")).generate(reqs)
    with serve() as handle:  # a local server needs no key: a placeholder goes
        [result] = Engine(EngineConfig(base_url=handle.base_url, model="m")).generate(reqs)
        assert result.text and handle.requests[0].headers["authorization"] == "Bearer no-key"


def test_unknown_task_lists_the_tasks(docs_file, tmp_path):
    with pytest.raises(DataAgentError) as exc:
        synth_llm(tmp_path / "out", "task:nope", cfg("http://127.0.0.1:9/v1", tmp_path), documents=docs_file)
    assert "unknown task 'nope'" in str(exc.value) and "statute_summary" in str(exc.value)


def test_prices_file_errors_name_file_line_and_model(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-x: [0.1, 0.2]\nother: [1, 2\nthird: [3, 4]\n", encoding="utf-8")
    with pytest.raises(DataAgentError) as exc:
        load_prices(path)
    assert str(path) in str(exc.value) and "line 3" in str(exc.value)
    for text, expected in [("- a\n- b\n", "expected a mapping"), ("", "empty file"), ("m: [1]\n", "model 'm'")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DataAgentError, match=expected):
            load_prices(path)
    path.write_text("m: [1, -2]\n", encoding="utf-8")
    with pytest.raises(DataAgentError, match="model 'm'"):
        load_prices(path)
    path.write_text("m: [0.5, 2]\nfree: [0, 0]\n", encoding="utf-8")
    assert load_prices(path) == {"m": (0.5, 2.0), "free": (0.0, 0.0)}
    with pytest.raises(DataAgentError, match="cannot read"):
        load_prices(tmp_path / "missing.yaml")


def test_money_budget_without_a_price_is_refused():
    with pytest.raises(DataAgentError, match="no price known for model 'mystery'.*--prices"):
        Engine(EngineConfig(model="mystery", budget_usd=1.0, api_key="k"))
    Engine(EngineConfig(model="mystery", budget_usd=1.0, prices={"mystery": (0.0, 0.0)}, api_key="k"))


def test_langchain_route_stops_on_a_bad_key_and_an_unreachable_server(docs_file, attempts):
    docs = read_records(docs_file, Document)
    with serve([Fault.unauthorized()]) as handle, pytest.raises(StageFailed) as exc:
        langchain_qa(docs, handle.base_url, "test-model")
    assert "http_401" in one_line(exc) and "OPENAI_API_KEY" in str(exc.value)
    assert handle.counts["unauthorized"] == 8
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    attempts.clear()
    with pytest.raises(StageFailed, match="connect_error") as exc:
        langchain_qa(docs, url, "test-model")
    # The probes go together, each with the client's few quick retries; nothing waits for the full retry budget.
    assert attempts[f"127.0.0.1:{port}"] <= FAIL_FAST_AFTER * (PROBE_RETRIES + 1)
    assert url in str(exc.value)


def test_langchain_stage_records_partial_failures_and_raises_when_all_fail(docs_file, tmp_path):
    def script(body: dict, n: int):
        # A 400 is neither retried nor a configuration problem: every flaky prompt fails the same way.
        return Fault.bad_request() if flaky(body) else answer(body, n)

    with serve(script) as handle:
        report = synth_langchain(tmp_path / "out", docs_file, handle.base_url, "test-model")
        failing = {_tag(r.body) for r in handle.requests if flaky(r.body)}
        handle.set_script([Fault.bad_request()])
        with pytest.raises(StageFailed, match=f"synth produced nothing: {N_DOCS} of {N_DOCS} requests failed") as exc:
            synth_langchain(tmp_path / "all", docs_file, handle.base_url, "test-model")
    assert report["failed_requests"] == {"http_400": len(failing)} and report["records"] == N_DOCS - len(failing)
    assert report["failed_summary"].startswith(f"{len(failing)} of {N_DOCS} requests failed (http_400: ")
    assert "generation_quarantine.jsonl" in str(exc.value)
    assert len(pd.read_json(tmp_path / "all" / "generation_quarantine.jsonl", lines=True)) == N_DOCS
