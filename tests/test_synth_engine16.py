"""Issue 16 for the engine: preflight, budgets that spend what they may, re-asking before caching, usage
accumulated across reruns, progress. Real HTTP only: the loopback test server and the real openai client.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import document_row, free_port, one_line

from dataagent.testing.openai import Fault, serve
from synth.cache import ResponseCache
from synth.engine import Engine, EngineConfig, GenRequest, register_check
from synth.run_llm import synth_llm
from validate.contracts import Document
from validate.errors import StageFailed
from validate.io import write_records

JSON = {"response_format": {"type": "json_object"}, "max_tokens": 300}
GOOD = {"pairs": [{"question": "What is filed?", "answer": "The signed form."}]}
# Valid for the qa generator's own check too (answers of at least 20 characters).
QA_GOOD = {"pairs": [{"question": "What must applicants file?", "answer": "They must file the signed form in time."}]}


def req(i: int, template: str = "qa_v1", **params) -> GenRequest:
    return GenRequest(
        template, [{"role": "user", "content": f"Write QA pairs about topic {i}. " * 5}], {**JSON, **params}
    )


def text_req(i: int, template: str = "summary_v1") -> GenRequest:
    return GenRequest(template, [{"role": "user", "content": f"Summarise passage {i}."}], {"max_tokens": 100})


def cfg(url: str, tmp_path=None, **kw) -> EngineConfig:
    opts = {"model": "test-model", "api_key": "test-key", "backoff_base": 0.01, "quiet": True, **kw}
    return EngineConfig(base_url=url, cache_path=str(tmp_path / "cache.sqlite") if tmp_path else None, **opts)


@pytest.fixture
def docs_file(tmp_path):
    rows = []
    for i in range(6):
        text = f"# Permit {i}\n\n" + f"Applicants for permit {i} must file the signed form before the deadline. " * 3
        url = f"http://127.0.0.1/permit{i}.html"
        rows.append(document_row(url, text, title=f"Permit {i}"))
    stem = tmp_path / "documents"
    write_records(pd.DataFrame(rows), stem, Document)
    return stem.with_suffix(".parquet")


# -- preflight ---------------------------------------------------------------------------------------------
def test_preflight_nothing_listening_names_the_url_and_sends_nothing():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(StageFailed) as exc:
        Engine(cfg(url)).generate([req(i) for i in range(50)])
    message = one_line(exc)
    assert message.startswith("synth cannot start: connect_error (cannot connect") and url in message


def test_preflight_unresolvable_host_is_a_connect_error():
    url = "http://llm.example.invalid/v1"
    with pytest.raises(StageFailed, match="connect_error") as exc:
        Engine(cfg(url)).generate([req(0)])
    assert url in one_line(exc)


@pytest.mark.parametrize(
    ("server", "reason", "hint"),
    [
        ({"api_key": "sk-right"}, "http_401", "check OPENAI_API_KEY"),
        ({"models": Fault.forbidden()}, "http_403", "access to the model"),
    ],
)
def test_preflight_bad_key_stops_before_any_chat_request(server, reason, hint):
    with serve(**server) as handle:
        with pytest.raises(StageFailed) as exc:
            Engine(cfg(handle.base_url)).generate([req(i) for i in range(20)])
        assert handle.requests == [] and handle.model_requests == 1
    message = one_line(exc)
    assert reason in message and hint in message and handle.base_url in message


def test_preflight_unknown_model_costs_one_chat_probe_and_lists_the_served_models():
    with serve([Fault.unknown_model()], models=["qwen-7b", "llama-8b"]) as handle:
        with pytest.raises(StageFailed) as exc:
            Engine(cfg(handle.base_url, model="qwen-x")).generate([req(i) for i in range(20)])
        assert len(handle.requests) == 1 and handle.requests[0].body["max_tokens"] == 1
    message = one_line(exc)
    assert "http_404" in message and "'qwen-x'" in message and "the server lists: qwen-7b, llama-8b" in message


def test_preflight_lets_through_servers_without_models_or_that_list_another_name():
    # No /models at all, and a llama.cpp-like server listing a file name but answering any model.
    for models in (Fault.not_found(), ["models/qwen2.5-7b-q4_k_m.gguf"]):
        with serve(models=models) as handle:
            engine = Engine(cfg(handle.base_url, model="qwen"))
            results = engine.generate([req(i) for i in range(3)])
            assert len(handle.requests) == 4  # the 1-token probe, then the run
        assert all(r.error is None for r in results)
        assert engine.usage_report()["preflight_requests"] == 2


def test_preflight_listed_model_needs_no_chat_probe_and_a_cached_rerun_probes_nothing(tmp_path):
    with serve() as handle:
        Engine(cfg(handle.base_url, tmp_path)).generate([req(i) for i in range(3)])
        assert handle.model_requests == 1 and len(handle.requests) == 3
        Engine(cfg(handle.base_url, tmp_path)).generate([req(i) for i in range(3)])
        assert handle.model_requests == 1 and len(handle.requests) == 3


def test_missing_key_for_a_loopback_server_is_a_warning(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with serve() as handle:
        [result] = Engine(cfg(handle.base_url, api_key=None, quiet=False)).generate([req(0)])
    assert result.error is None
    assert (
        f"warning: OPENAI_API_KEY is not set; sending a placeholder key to {handle.base_url}" in capsys.readouterr().err
    )


def test_dry_run_sends_nothing_not_even_the_probe(docs_file, tmp_path):
    with serve() as handle:
        synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path), documents=docs_file, dry_run=True)
        assert handle.requests == [] and handle.model_requests == 0


# -- budgets -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 16, 64])
def test_token_budget_is_spent_to_at_least_95_percent_and_never_over(concurrency):
    budget = 30_000
    with serve() as handle:
        engine = Engine(cfg(handle.base_url, concurrency=concurrency, budget_tokens=budget))
        results = engine.generate([req(i) for i in range(400)])
        sent = len(handle.requests)
    rep = engine.usage_report()
    used = rep["prompt_tokens"] + rep["completion_tokens"]
    assert 0.95 * budget <= used <= budget
    done = [r for r in results if r.error is None]
    assert len(done) == sent and rep["stopped_by_budget"]
    assert all(r.error == "budget_exhausted" for r in results if r.error) and len(done) < 400


def test_money_budget_is_spent_to_at_least_95_percent_and_never_over():
    prices = {"test-model": (1.0, 3.0)}
    with serve() as handle:
        engine = Engine(cfg(handle.base_url, concurrency=16, budget_usd=0.05, prices=prices))
        engine.generate([req(i) for i in range(400)])
    cost = engine.usage_report()["cost_usd"]
    assert 0.95 * 0.05 <= cost <= 0.05


def test_budget_stop_is_one_line_on_stderr(capsys):
    with serve() as handle:
        results = Engine(cfg(handle.base_url, budget_tokens=3_000, quiet=False)).generate([req(i) for i in range(60)])
    lines = [line for line in capsys.readouterr().err.splitlines() if "budget" in line]
    unsent = sum(r.error == "budget_exhausted" for r in results)
    assert len(lines) == 1 and lines[0].startswith("warning: budget reached: used ")
    assert f"{unsent} of 60 requests not sent (budget_exhausted)" in lines[0] and "--budget-tokens" in lines[0]


# -- re-ask before caching ---------------------------------------------------------------------------------
def test_malformed_answer_is_asked_again_and_only_the_valid_one_cached(tmp_path):
    with serve([Fault.malformed(), GOOD]) as handle:
        engine = Engine(cfg(handle.base_url, tmp_path))
        [result] = engine.generate([req(0)])
        assert len(handle.requests) == 2
        assert handle.requests[0].body["messages"] == handle.requests[1].body["messages"]  # the same prompt
        Engine(cfg(handle.base_url, tmp_path)).generate([req(0)])
        assert len(handle.requests) == 2  # the valid answer was cached
    assert result.error is None and result.data == GOOD
    assert engine.usage_report()["reasks"] == 1 and engine.usage_report()["failures"] == {}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Fault.truncated(json.dumps(GOOD)), "truncated"),
        (Fault.refusal(), "refused"),
        (Fault.empty(), "empty"),
        (Fault.malformed(), "unparseable"),
    ],
)
def test_answers_that_stay_bad_are_failures_kept_apart_and_asked_again_on_rerun(tmp_path, reply, reason):
    with serve([reply]) as handle:
        [result] = Engine(cfg(handle.base_url, tmp_path, reask=2)).generate([req(0)])
        assert len(handle.requests) == 3 and result.error == reason and result.text is not None
        cache = ResponseCache(tmp_path / "cache.sqlite")
        assert len(cache) == 0 and cache.failure_count() == 1 and cache.get_failure(result.request.key("test-model"))
        cache.close()
        # Told not to ask again, a rerun returns the stored failure and sends nothing.
        [stored] = Engine(cfg(handle.base_url, tmp_path, reask_failures=False)).generate([req(0)])
        assert len(handle.requests) == 3 and stored.error == reason and stored.cached
        handle.set_script([GOOD])  # by default a rerun asks again
        [again] = Engine(cfg(handle.base_url, tmp_path)).generate([req(0)])
        assert len(handle.requests) == 4 and again.error is None
        assert ResponseCache(tmp_path / "cache.sqlite").failure_count() == 0


def test_a_text_request_refused_is_asked_again():
    with serve([Fault.refusal("抱歉，我無法協助這個請求。"), "The passage says permits need a signed form."]) as handle:
        [result] = Engine(cfg(handle.base_url)).generate([text_req(0)])
        assert len(handle.requests) == 2
    assert result.error is None and result.text.startswith("The passage")


def check_mentions_form(request: GenRequest, text: str, data: object) -> str | None:
    return None if "form" in text else "does not mention the form"


def test_a_registered_check_decides_validity_for_its_templates(tmp_path):
    register_check("formcheck_", check_mentions_form)
    with serve(["It needs a fee.", "It needs the signed form.", "It needs a fee."]) as handle:
        results = Engine(cfg(handle.base_url, tmp_path, concurrency=1)).generate(
            [text_req(0, "formcheck_v1"), text_req(1, "other_v1")]
        )
        assert len(handle.requests) == 3
    assert [r.error for r in results] == [None, None]
    assert results[0].text == "It needs the signed form." and results[1].text == "It needs a fee."
    assert "does not mention" not in json.dumps([r.error for r in results])
    assert results[0].request.key("m") == text_req(0, "formcheck_v1").key("m")  # the check is not in the key


def test_an_invalid_answer_cached_by_an_older_version_is_asked_again(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    cache.put(req(0).key("test-model"), "qa_v1", "test-model", '{"pairs": [{"q', "length", {})
    cache.close()
    with serve([GOOD]) as handle:
        [result] = Engine(cfg(handle.base_url, tmp_path)).generate([req(0)])
        assert len(handle.requests) == 1
    assert result.error is None and result.data == GOOD


# -- the stage: timeout, usage accumulated across reruns, progress -----------------------------------------
def test_timeout_reaches_the_engine_through_synth_llm(docs_file, tmp_path):
    with serve([Fault.timeout(5.0)]) as handle, pytest.raises(StageFailed) as exc:
        synth_llm(
            tmp_path / "out", "qa", cfg(handle.base_url, tmp_path, timeout=0.3, max_retries=0), documents=docs_file
        )
    assert "timeout_retries_exhausted" in one_line(exc)


def test_usage_report_accumulates_across_reruns(docs_file, tmp_path):
    with serve([Fault.server_error()] * 3 + [QA_GOOD]) as handle:
        first = synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path, max_retries=0), documents=docs_file)
        second = synth_llm(tmp_path / "out", "qa", cfg(handle.base_url, tmp_path, max_retries=0), documents=docs_file)
        assert len(handle.requests) == 6 + 3  # the rerun sent only the three that failed
    saved = json.loads((tmp_path / "out" / "usage_report.json").read_text())
    assert saved["total"] == second["total"] and len(saved["runs"]) == 2
    assert [run["usage"]["requests_sent"] for run in saved["runs"]] == [6, 3]
    assert saved["total"]["requests_sent"] == 9 and saved["total"]["runs"] == 2
    tokens = first["usage"]["prompt_tokens"] + second["usage"]["prompt_tokens"]
    assert saved["total"]["prompt_tokens"] == tokens and saved["usage"] == second["usage"]


def test_progress_line_on_stderr_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("DATAAGENT_PROGRESS", "1")
    with serve([GOOD, Fault.malformed()]) as handle:
        Engine(cfg(handle.base_url, quiet=False, concurrency=1, reask=0)).generate([req(i) for i in range(5)])
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("synth: 5/5 requests") and "done=1 failed=4 cached=0 tokens=" in last and "cost=$" in last


def test_no_progress_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("DATAAGENT_PROGRESS", raising=False)
    with serve() as handle:
        Engine(cfg(handle.base_url, quiet=False)).generate([req(i) for i in range(5)])
    assert "requests" not in capsys.readouterr().err
