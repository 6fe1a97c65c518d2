"""The engine through the real openai client against the loopback test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from dataagent.testing.openai import Fault, serve
from synth.engine import Engine, EngineConfig, GenRequest
from validate.jsonparse import parse_json_loose

JSON_MODE = {"response_format": {"type": "json_object"}, "max_tokens": 200}


def req(i: int, **params) -> GenRequest:
    return GenRequest(
        "qa_v1",
        [{"role": "user", "content": f"Write QA pairs about topic {i}."}],
        {**JSON_MODE, **params},
        {"source": f"doc{i}"},
    )


def cfg(handle, tmp_path=None, **kw) -> EngineConfig:
    return EngineConfig(
        base_url=handle.base_url,
        model="test-model",
        api_key="test-key",
        cache_path=str(tmp_path / "cache.sqlite") if tmp_path else None,
        backoff_base=0.01,
        **kw,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure!\n```json\n{"a": [1, 2,],}\n```\nAnything else?', {"a": [1, 2]}),
        ('Here: [{"q": "是什麼？"}] done', [{"q": "是什麼？"}]),
    ],
)
def test_tolerant_json(text, expected):
    assert parse_json_loose(text) == expected


def test_tolerant_json_names_failure():
    with pytest.raises(ValueError, match="unparseable"):
        parse_json_loose('{"question": "x", "answer": ')


def test_faults_are_retried_or_quarantined_with_reasons(tmp_path):
    good = {"pairs": [{"question": "Q?", "answer": "A."}]}
    script = [
        Fault.rate_limit(retry_after=0.2),
        Fault.server_error(),
        json.dumps(good),
        Fault.fenced(good),
        Fault.malformed(),
        Fault.truncated(json.dumps(good)),
    ]
    with serve(script) as handle:
        # No re-asks: this maps each fault to its reason (re-asking is tested in test_synth_engine16.py).
        engine = Engine(cfg(handle, tmp_path, concurrency=1, reask=0))
        start = time.monotonic()
        results = engine.generate([req(i) for i in range(4)])
    assert time.monotonic() - start >= 0.2  # Retry-After honoured
    assert [r.error for r in results] == [None, None, "unparseable", "truncated"]
    assert results[0].data == good and results[1].data == good  # fenced JSON with prose parsed
    rep = engine.usage_report()
    assert rep["retries"] == 2 and rep["requests_sent"] == 6
    assert rep["failures"] == {"unparseable": 1, "truncated": 1}
    assert rep["prompt_tokens"] > 0


def test_timeouts_and_exhausted_retries_fail_cleanly():
    with serve([Fault.timeout(2.0)]) as handle:
        engine = Engine(cfg(handle, timeout=0.3, max_retries=1))
        [result] = engine.generate([req(0)])
    assert result.error == "timeout_retries_exhausted"
    assert engine.usage_report()["retries"] == 1


def test_rerun_sends_nothing_and_results_are_deterministic(tmp_path):
    with serve() as handle:
        first = Engine(cfg(handle, tmp_path)).generate([req(i) for i in range(10)])
        sent = len(handle.requests)
        engine = Engine(cfg(handle, tmp_path))
        second = engine.generate([req(i) for i in range(10)])
        assert len(handle.requests) == sent == 10
    assert [r.text for r in first] == [r.text for r in second]
    assert engine.usage_report()["cache_hits"] == 10 and engine.usage_report()["requests_sent"] == 0


def test_token_budget_stops_cleanly_and_keeps_what_was_done(tmp_path):
    with serve() as handle:
        engine = Engine(cfg(handle, tmp_path, concurrency=1, budget_tokens=700))
        results = engine.generate([req(i) for i in range(10)])
    done = [r for r in results if r.error is None]
    assert 1 <= len(done) < 10
    assert all(r.error == "budget_exhausted" for r in results if r.error)
    rep = engine.usage_report()
    assert rep["stopped_by_budget"] and rep["prompt_tokens"] + rep["completion_tokens"] <= 700


def test_dry_run_estimates_without_sending(tmp_path):
    with serve() as handle:
        engine = Engine(cfg(handle, tmp_path))
        estimate = engine.estimate([req(i) for i in range(5)])
        assert handle.requests == []
    assert estimate["requests"] == 5 and estimate["completion_tokens_max"] == 1000 and estimate["prompt_tokens"] > 0


def test_server_without_json_mode_falls_back_to_tolerant_parsing():
    def script(body: dict, n: int):
        if "response_format" in body:
            return Fault.bad_request("response_format is not supported by this server")
        return 'Answer: {"pairs": []}'

    with serve(script) as handle:
        [result] = Engine(cfg(handle)).generate([req(0)])
    assert result.error is None and result.data == {"pairs": []}


def test_kill_9_resends_at_most_the_requests_in_flight(tmp_path):
    # The model the server lists, so the preflight needs no chat probe that would count as a request.
    code = """
import sys
from synth.engine import Engine, EngineConfig, GenRequest
base, cache = sys.argv[1], sys.argv[2]
reqs = [GenRequest("t", [{"role": "user", "content": f"q{i}"}], {"max_tokens": 20}) for i in range(60)]
Engine(EngineConfig(base_url=base, model="test-model", api_key="k", cache_path=cache, concurrency=4)).generate(reqs)
"""
    with serve(latency=0.05) as handle:
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        proc = subprocess.Popen([sys.executable, "-c", code, handle.base_url, str(tmp_path / "c.sqlite")], env=env)
        deadline = time.monotonic() + 20
        while len(handle.requests) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        before = len(handle.requests)
        engine = Engine(
            EngineConfig(
                base_url=handle.base_url,
                model="test-model",
                api_key="k",
                cache_path=str(tmp_path / "c.sqlite"),
                concurrency=4,
            )
        )
        reqs = [GenRequest("t", [{"role": "user", "content": f"q{i}"}], {"max_tokens": 20}) for i in range(60)]
        engine.generate(reqs)
        resent = len(handle.requests) - before - (60 - before)
    assert 20 <= before < 60
    assert resent <= 4  # concurrency 4: at most the requests in flight at the kill
    assert engine.usage_report()["cache_hits"] >= before - 4


def test_api_key_never_reaches_cache_or_report(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-written")
    with serve() as handle:
        engine = Engine(EngineConfig(base_url=handle.base_url, model="test-model", cache_path=str(tmp_path / "c.db")))
        engine.generate([req(0)])
        assert handle.requests[0].headers["authorization"] == "Bearer sk-secret-never-written"
    assert b"sk-secret" not in (tmp_path / "c.db").read_bytes()
    assert "sk-secret" not in json.dumps(engine.usage_report()) and "sk-secret" not in repr(engine.cfg)


def test_worker_processes_keep_order_and_merge_reports(tmp_path):
    with serve() as handle:
        engine = Engine(cfg(handle, tmp_path, concurrency=8, processes=2))
        results = engine.generate([req(i) for i in range(12)])
        again = Engine(cfg(handle, tmp_path, concurrency=8, processes=2))
        again.generate([req(i) for i in range(12)])
        assert len(handle.requests) == 12  # the second run came from the shared SQLite cache
    assert [r.request.meta["source"] for r in results] == [f"doc{i}" for i in range(12)]
    assert all(r.error is None and r.data for r in results)
    rep = engine.usage_report()
    assert rep["requests_sent"] == 12 and rep["prompt_tokens"] > 0
    assert again.usage_report()["cache_hits"] == 12


def test_requests_and_tokens_per_minute_limits_hold(monkeypatch):
    import asyncio
    import types

    import synth.engine
    from synth.engine import _RateLimiter

    # A clock that moves only when the limiter sleeps: the waits it asks for, exact on any machine.
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr(synth.engine, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(synth.engine, "asyncio", types.SimpleNamespace(Lock=asyncio.Lock, sleep=sleep))

    def waited(rpm: int | None, tpm: int | None, sizes: list[int]) -> float:
        clock[0] = 0.0
        limiter = _RateLimiter(rpm=rpm, tpm=tpm)

        async def run() -> None:
            for size in sizes:
                await limiter.acquire(size)

        asyncio.run(run())
        return clock[0]

    # A full minute's allowance may go at once; past it, requests wait for the bucket to refill.
    assert waited(60, None, [1] * 60) == 0
    assert waited(60, None, [1] * 62) == pytest.approx(2.0)  # 1 request/s after the burst
    assert waited(None, 600, [600, 20]) == pytest.approx(2.0)  # 10 tokens/s refill
