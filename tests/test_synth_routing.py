"""Synthesis over several servers (synth/routing.py): requests spread by load, a failing replica taken
out of rotation while the others answer everything, the cache shared by any set of replicas.

Real HTTP only: loopback test servers, each with its own request log, which is what the counts
here come from (not the engine's report); a port nobody listens on for a dead replica. No clocks:
the router's unit tests give it a fake one.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter

import pandas as pd
import pytest
from conftest import document_row, free_port, one_line
from typer.testing import CliRunner

from dataagent.testing.openai import Fault, ServerHandle, last_user_text, serve
from synth.cache import ResponseCache
from synth.engine import Engine, EngineConfig, GenRequest
from synth.routing import Router, is_server_failure
from synth.run_llm import synth_llm
from validate.contracts import Document
from validate.errors import DataAgentError, StageFailed
from validate.io import write_records

N_DOCS = 36  # one chunk, so one qa request, each
FAIL_AFTER = 3


@pytest.fixture(scope="module")
def docs_file(tmp_path_factory):
    rows = []
    for i in range(N_DOCS):
        sentence = (
            f"Holders of licence number {i} must renew it at the district office with the signed form "
            "and the fee receipt before it lapses. "
        )
        rows.append(document_row(f"http://127.0.0.1/licence{i}.html", f"# Licence {i}\n\n" + sentence * 3))
    stem = tmp_path_factory.mktemp("docs") / "documents"
    write_records(pd.DataFrame(rows), stem, Document)
    return stem.with_suffix(".parquet")


def _tag(body: dict) -> str:
    return hashlib.sha256(last_user_text(body).encode()).hexdigest()[:8]


def answer(body: dict, n: int) -> dict:
    """One valid pair per request, unique to its prompt: records = requests answered."""
    return {
        "pairs": [
            {
                "question": f"What must holders of licence {_tag(body)} bring?",
                "answer": "They must bring the signed form and the fee receipt before the licence lapses.",
            }
        ]
    }


def scripted(answer_first: int | None = None, then=Fault.server_error, on_turn=None):
    """A script that answers, and from chat request ``answer_first`` on replies with ``then()``; the requests
    it failed are remembered on the handle (``failed_ids``) so a test counts answers from the server's log."""
    state: dict = {}

    def script(body: dict, n: int):
        handle: ServerHandle = state["handle"]
        if answer_first is not None and n == answer_first and on_turn is not None:
            on_turn(handle)
        if answer_first is not None and n >= answer_first and then is not None:
            handle.failed_ids.add(id(handle.requests[-1]))
            return then()
        return answer(body, n)

    return script, state


@contextlib.contextmanager
def servers(*scripts_and_states):
    """Serve each (script, state) pair; each handle gets ``failed_ids`` for the requests its script failed."""
    with contextlib.ExitStack() as stack:
        handles = []
        for script, state in scripts_and_states:
            handle = stack.enter_context(serve(script))
            handle.failed_ids = set()  # type: ignore[attr-defined]
            state["handle"] = handle
            handles.append(handle)
        yield handles


def healthy():
    return scripted()


def close_server(handle: ServerHandle) -> None:
    """Kill a loopback server from inside its own event loop: it stops listening and drops its connections."""
    assert handle.loopback is not None
    uv = handle.loopback.server
    for listener in uv.servers:
        listener.close()  # closes the listening socket: a new connection is refused
    for connection in list(uv.server_state.connections):
        connection.shutdown()  # idle ones close now, the busy ones after their answer


def cfg(urls, tmp_path, **kw) -> EngineConfig:
    opts = {
        "model": "test-model",
        "api_key": "test-key",
        "concurrency": 6,
        "backoff_base": 0.01,
        "server_fail_after": FAIL_AFTER,
        "server_cooldown": 3600.0,  # nothing comes back during a test: every count below is exact
        **kw,
    }
    return EngineConfig(base_url=list(urls), cache_path=str(tmp_path / "cache.sqlite"), **opts)


def chat_requests(handle: ServerHandle) -> list:
    """The run's chat requests a server saw (the preflight's 1-token probe left out)."""
    return [r for r in handle.requests if r.body.get("max_tokens") != 1]


def req(i: int) -> GenRequest:
    return GenRequest(
        "qa_v1",
        [{"role": "user", "content": f"Write QA pairs about topic {i}."}],
        {"response_format": {"type": "json_object"}, "max_tokens": 200},
    )


# -- the router alone, with a fake clock --------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_router_least_loaded_ties_round_robin_in_the_given_order():
    router = Router(["a", "b", "c"])
    picked = [router.pick() for _ in range(6)]
    assert [s.url for s in picked] == ["a", "b", "c", "a", "b", "c"]
    router.release(picked[4], None)  # b has one in flight, the others two
    assert router.pick().url == "b"


def test_router_takes_a_failing_server_out_probes_it_after_the_cooldown_and_takes_it_back():
    clock, lines = FakeClock(), []
    router = Router(["a", "b"], fail_after=2, cooldown=10.0, notice=lines.append, clock=clock)
    a, b = router.servers
    for _ in range(2):
        server = router.pick(tried=[b])
        assert server is a
        router.release(a, "connect_error")
    assert a.out_until == 10.0 and len(lines) == 1 and "taken out of rotation" in lines[0] and "a" in lines[0]
    assert [router.pick().url for _ in range(3)] == ["b", "b", "b"]  # a is out, whatever the load
    clock.now = 10.0
    probe = router.pick()
    assert probe is a and a.probing  # half-open: one probe
    assert router.pick() is b  # no second probe while the first is out
    router.release(a, None)
    assert a.out_until is None and "back in rotation" in lines[-1]
    assert is_server_failure("http_503") and is_server_failure("timeout")
    assert not is_server_failure("http_429") and not is_server_failure("http_400") and not is_server_failure(None)


def test_router_failed_probe_goes_out_again_and_all_out_is_one_line():
    clock = FakeClock()
    router = Router(["a", "b"], fail_after=1, cooldown=5.0, clock=clock)
    a, b = router.servers
    router.release(router.pick(), "connect_error")  # a
    assert a.out_until == 5.0
    clock.now = 5.0
    assert router.pick(tried=[b]) is a and a.probing  # the probe
    router.release(a, "connect_error")
    assert a.out_until == 10.0 and a.times_out == 2
    router.release(router.pick(), "http_502")  # b, the only one left
    with pytest.raises(StageFailed) as exc:
        router.pick()
    message = one_line(exc)
    assert message.startswith("synth stopped: every server is out of rotation") and "a: " in message
    assert "b: 1 x http_502" in message


def test_a_single_server_is_never_taken_out():
    router = Router(["only"], fail_after=1)
    for _ in range(10):
        router.release(router.pick(), "connect_error")
    assert router.pick().url == "only" and router.servers[0].times_out == 0


# -- several loopback servers --------------------------------------------------------------------------------
def test_requests_spread_over_every_server_by_load(tmp_path):
    # Each server holds its requests until two are inside at once: the run finishes only if the router
    # keeps two in flight at each of the three (concurrency 6), the least-loaded rule by count.
    with serve(hold_until=2) as a, serve(hold_until=2) as b, serve(hold_until=2) as c:
        engine = Engine(cfg([a.base_url, b.base_url, c.base_url], tmp_path, quiet=True, timeout=10.0))
        results = engine.generate([req(i) for i in range(30)])
        seen = {h.base_url: len(h.requests) for h in (a, b, c)}
    assert all(r.error is None for r in results)
    assert all(h.peak_in_flight == 2 for h in (a, b, c))
    assert sum(seen.values()) == 30 and min(seen.values()) > 0
    per_server = engine.usage_report()["servers"]
    assert {url: s["requests"] for url, s in per_server.items()} == seen  # our count agrees with theirs


def test_a_server_failing_mid_run_is_taken_out_and_the_others_answer_everything(docs_file, tmp_path, capsys):
    sick_script, sick_state = scripted(answer_first=2)  # answers twice, then 500 on every request
    with servers(healthy(), (sick_script, sick_state), healthy()) as (a, sick, c):
        urls = [a.base_url, sick.base_url, c.base_url]
        report = synth_llm(tmp_path / "out", "qa", cfg(urls, tmp_path, quiet=False), documents=docs_file)
        errors = sick.counts["server_error"]
        by_a, by_sick, by_c = (
            [_tag(r.body) for r in chat_requests(h) if id(r) not in h.failed_ids] for h in (a, sick, c)
        )
    assert len(by_sick) == 2
    # Taken out after FAIL_AFTER failures in a row; requests already on their way to it may add a few.
    assert FAIL_AFTER <= errors <= FAIL_AFTER + 2 * 6
    answers = Counter(by_a + by_sick + by_c)
    assert len(answers) == N_DOCS and set(answers.values()) == {1}  # every request answered once, by someone
    assert report["records"] == N_DOCS and report["quarantined"] == 0 and report["failed_requests"] == {}
    assert report["records"] + report["quarantined"] == report["requests"] == N_DOCS
    per_server = report["usage"]["servers"]
    assert per_server[sick.base_url]["taken_out"] == 1 and per_server[sick.base_url]["failed"] == {"http_500": errors}
    assert per_server[a.base_url]["taken_out"] == per_server[c.base_url]["taken_out"] == 0
    err = capsys.readouterr().err
    assert err.count(f"warning: server {sick.base_url} taken out of rotation after {FAIL_AFTER} consecutive") == 1

    # A rerun against another set of replicas finds every answer in the cache: nothing is sent, not even a probe.
    with serve(answer) as d, serve(answer) as e:
        again = synth_llm(tmp_path / "again", "qa", cfg([d.base_url, e.base_url], tmp_path), documents=docs_file)
        assert d.requests == e.requests == [] and d.model_requests == e.model_requests == 0
    assert again["records"] == N_DOCS and again["usage"]["cache_hits"] == N_DOCS


def test_a_server_killed_mid_run_is_taken_out_and_the_others_answer_everything(docs_file, tmp_path):
    dying_script, dying_state = scripted(answer_first=3, then=None, on_turn=close_server)
    with servers(healthy(), (dying_script, dying_state), healthy()) as (a, dying, c):
        urls = [a.base_url, dying.base_url, c.base_url]
        engine_cfg = cfg(urls, tmp_path, quiet=True)
        report = synth_llm(tmp_path / "out", "qa", engine_cfg, documents=docs_file)
        by = {h.base_url: [_tag(r.body) for r in chat_requests(h)] for h in (a, dying, c)}
    # It answered what reached it (the request that closed it included) and then refused connections.
    assert 4 <= len(by[dying.base_url]) <= 4 + engine_cfg.concurrency
    answers = Counter(tag for tags in by.values() for tag in tags)
    assert len(answers) == N_DOCS and set(answers.values()) == {1}
    assert report["records"] + report["quarantined"] == N_DOCS and report["failed_requests"] == {}
    dead = report["usage"]["servers"][dying.base_url]
    assert dead["taken_out"] == 1 and dead["answered"] == len(by[dying.base_url])
    assert sum(dead["failed"].values()) >= FAIL_AFTER
    assert set(dead["failed"]) <= {"connect_error", "connection_error"}


def test_preflight_leaves_out_a_dead_server_with_one_warning_and_the_run_goes_on(docs_file, tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with serve(answer) as a, serve(answer) as b:
        report = synth_llm(
            tmp_path / "out", "qa", cfg([a.base_url, dead, b.base_url], tmp_path, quiet=False), documents=docs_file
        )
        sent = len(chat_requests(a)) + len(chat_requests(b))
    assert sent == N_DOCS and report["records"] == N_DOCS
    lines = [line for line in capsys.readouterr().err.splitlines() if dead in line]
    assert lines == [
        f"warning: server {dead} left out: connect_error (cannot connect: is the server running, and are host "
        "and port right?); going on with 2 of 3 servers"
    ]
    per_server = report["usage"]["servers"]
    assert per_server[dead] == {"left_out": "failed the preflight"}
    assert per_server[a.base_url]["requests"] + per_server[b.base_url]["requests"] == N_DOCS


def test_preflight_with_every_server_dead_is_one_line(tmp_path):
    dead = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    with pytest.raises(StageFailed) as exc:
        Engine(cfg(dead, tmp_path)).generate([req(i) for i in range(5)])
    message = one_line(exc)
    assert message.startswith("synth cannot start: connect_error (cannot connect")
    assert f"base URLs {dead[0]}, {dead[1]}" in message


def test_preflight_failing_differently_on_each_server_names_each(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with serve(api_key="sk-other") as locked, pytest.raises(StageFailed) as exc:
        Engine(cfg([dead, locked.base_url], tmp_path)).generate([req(0)])
    message = one_line(exc)
    assert message.startswith("synth cannot start: no server passed the preflight")
    assert f"{dead}: connect_error" in message and f"{locked.base_url}: http_401" in message


def test_every_server_out_stops_in_one_line_and_a_rerun_sends_only_the_rest(docs_file, tmp_path):
    first, first_state = scripted(answer_first=4)
    second, second_state = scripted(answer_first=4)
    with servers((first, first_state), (second, second_state)) as (a, b):
        with pytest.raises(StageFailed) as exc:
            synth_llm(tmp_path / "out", "qa", cfg([a.base_url, b.base_url], tmp_path, quiet=True), documents=docs_file)
    message = one_line(exc)
    assert message.startswith("synth stopped: every server is out of rotation after 3 consecutive failures")
    assert a.base_url in message and b.base_url in message and "http_500" in message
    cached = len(ResponseCache(tmp_path / "cache.sqlite"))
    assert 0 < cached <= 8  # the four each answered (one still on its way back when the run stopped is lost)

    with serve(answer) as c, serve(answer) as d:
        report = synth_llm(tmp_path / "out", "qa", cfg([c.base_url, d.base_url], tmp_path), documents=docs_file)
        resent = len(chat_requests(c)) + len(chat_requests(d))
    assert resent == N_DOCS - cached and report["records"] == N_DOCS


def test_cli_base_url_repeats(docs_file, tmp_path):
    from dataagent.cli import app

    with serve(answer) as a, serve(answer) as b:
        result = CliRunner().invoke(
            app,
            [
                "synth",
                "--backend",
                "openai",
                "--model",
                "test-model",
                "--documents",
                str(docs_file),
                "--base-url",
                a.base_url,
                "--base-url",
                b.base_url,
                "--out",
                str(tmp_path / "out"),
            ],
            env={"OPENAI_API_KEY": "test-key"},
        )
        counts = (len(chat_requests(a)), len(chat_requests(b)))
    assert result.exit_code == 0, result.output
    assert sum(counts) == N_DOCS and min(counts) > 0

    # OPENAI_BASE_URL still names one server.
    with serve(answer) as only:
        result = CliRunner().invoke(
            app,
            ["synth", "--backend", "openai", "--model", "test-model", "--documents", str(docs_file)]
            + ["--out", str(tmp_path / "env")],
            env={"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": only.base_url},
        )
        assert result.exit_code == 0, result.output
        assert len(chat_requests(only)) == N_DOCS


def test_langchain_backend_refuses_several_servers(docs_file):
    from synth.run import SynthConfig, SynthInputs, check

    engine = EngineConfig(base_url=["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"])
    with pytest.raises(DataAgentError, match="one --base-url"):
        check(SynthInputs(documents=docs_file), SynthConfig(backend="langchain", engine=engine))
