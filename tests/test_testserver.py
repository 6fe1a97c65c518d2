"""The loopback OpenAI-compatible server, driven by the real openai clients over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import openai
import pytest

from dataagent.testing.openai import Fault, default_reply, estimate_tokens, prompt_tokens, serve

USER = [{"role": "user", "content": "Write QA pairs about the tides."}]


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Every test must leave no server (or client) thread behind."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before


def client(srv, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="test-key", max_retries=0, **kw)


def test_token_estimate_is_deterministic():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("潮汐") == 2  # one per CJK character
    assert estimate_tokens("潮汐 tides") == 2 + 2
    assert prompt_tokens([{"role": "user", "content": "abcd"}]) == 1 + 4


def test_plain_answer_with_usage_and_models():
    with serve(["The tide turns twice a day."]) as srv, client(srv) as c:
        r = c.chat.completions.create(model="my-model", messages=USER)
        assert r.object == "chat.completion" and r.id and r.created > 0 and r.model == "my-model"
        assert r.choices[0].message.content == "The tide turns twice a day."
        assert r.choices[0].finish_reason == "stop"
        assert r.usage.prompt_tokens == prompt_tokens(USER)
        assert r.usage.completion_tokens == estimate_tokens("The tide turns twice a day.")
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert [m.id for m in c.models.list().data] == ["test-model"]
    assert srv.counts == {"ok": 1}
    assert srv.requests[0].headers["authorization"] == "Bearer test-key"


def test_json_mode_is_recorded_and_default_script_answers_qa_json():
    schema = {"type": "json_schema", "json_schema": {"name": "qa", "schema": {"type": "object"}}}
    with serve() as srv, client(srv) as c:
        a = c.chat.completions.create(model="m", messages=USER, response_format={"type": "json_object"})
        b = c.chat.completions.create(model="m", messages=USER, response_format=schema)
    assert [r.body["response_format"] for r in srv.requests] == [{"type": "json_object"}, schema]
    assert json.loads(a.choices[0].message.content) == default_reply(USER[0]["content"])
    assert a.choices[0].message.content == b.choices[0].message.content  # same prompt, same answer
    assert json.loads(a.choices[0].message.content)["pairs"][0]["question"]


def test_rate_limit_is_a_429_with_retry_after():
    with serve([Fault.rate_limit(retry_after=2)]) as srv, client(srv) as c:
        with pytest.raises(openai.RateLimitError) as err:
            c.chat.completions.create(model="m", messages=USER)
    assert err.value.status_code == 429
    assert err.value.response.headers["retry-after"] == "2"
    assert err.value.body["code"] == "rate_limit_exceeded"
    assert srv.counts == {"rate_limit": 1}


def test_client_retries_honour_retry_after():
    with serve([Fault.rate_limit(retry_after=0.3), "after the wait"]) as srv:
        with openai.OpenAI(base_url=srv.base_url, api_key="test-key", max_retries=2) as c:
            start = time.monotonic()
            r = c.chat.completions.create(model="m", messages=USER)
            assert time.monotonic() - start >= 0.3
    assert r.choices[0].message.content == "after the wait"
    assert srv.counts == {"rate_limit": 1, "ok": 1}


def test_server_error_is_a_500():
    with serve([Fault.server_error()]) as srv, client(srv) as c:
        with pytest.raises(openai.InternalServerError) as err:
            c.chat.completions.create(model="m", messages=USER)
    assert err.value.status_code == 500
    assert srv.counts == {"server_error": 1}


def test_stall_past_the_client_timeout():
    with serve([Fault.timeout(30)]) as srv, client(srv, timeout=0.5) as c:
        with pytest.raises(openai.APITimeoutError):  # only the client's 0.5 s can end a 30 s stall early
            c.chat.completions.create(model="m", messages=USER)
    assert srv.counts == {"timeout": 1}
    # serve() joins its thread for at most 10 s: still alive here, it would be waiting out the stall.
    assert not [t for t in threading.enumerate() if t.name == "openai-testserver"]


def test_fenced_malformed_and_truncated_contents():
    pairs = {"pairs": [{"question": "Why?", "answer": "Because."}]}
    full = json.dumps(pairs)
    script = [Fault.fenced(pairs), Fault.malformed(), Fault.truncated(full), {"plain": "json"}]
    with serve(script) as srv, client(srv) as c:
        fenced, malformed, truncated, plain = (c.chat.completions.create(model="m", messages=USER) for _ in range(4))
    content = fenced.choices[0].message.content
    assert content.startswith("Here is") and "```json\n" in content and content.rstrip().endswith("helps!")
    assert json.loads(content.split("```json\n")[1].split("```")[0]) == pairs
    assert fenced.choices[0].finish_reason == "stop"
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.choices[0].message.content)
    assert malformed.choices[0].finish_reason == "stop"
    assert truncated.choices[0].message.content == full[: len(full) // 2]
    assert truncated.choices[0].finish_reason == "length"
    assert truncated.usage.completion_tokens == estimate_tokens(full[: len(full) // 2])
    assert json.loads(plain.choices[0].message.content) == {"plain": "json"}
    assert srv.counts == {"fenced": 1, "malformed": 1, "truncated": 1, "ok": 1}


def test_callable_script_and_swapping_it_while_serving():
    with serve(lambda body, n: f"#{n} {body['model']}") as srv, client(srv) as c:
        ask = lambda: c.chat.completions.create(model="m", messages=USER).choices[0].message.content  # noqa: E731
        assert [ask(), ask()] == ["#0 m", "#1 m"]
        srv.set_script(["one", "last"])
        assert [ask(), ask(), ask()] == ["one", "last", "last"]  # a list's last reply repeats
    assert len(srv.requests) == 5


def test_bad_request_is_a_400():
    with serve() as srv, client(srv) as c:
        with pytest.raises(openai.BadRequestError):
            c.post("/chat/completions", body={"model": "m"}, cast_to=object)
    assert srv.requests == []


def test_concurrent_requests_overlap():
    """200 requests held until all 200 are inside the server: one at a time, the first would never end."""

    async def main(url: str) -> list[str]:
        # The timeout only stops a broken server from hanging the suite; passing never depends on it.
        async with openai.AsyncOpenAI(base_url=url, api_key="test-key", max_retries=0, timeout=300) as c:
            rs = await asyncio.gather(
                *(
                    c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"prompt {i}"}])
                    for i in range(200)
                )
            )
        return [r.choices[0].message.content for r in rs]

    with serve(hold_until=200) as srv:
        answers = asyncio.run(main(srv.base_url))
    assert srv.peak_in_flight == 200
    assert len(set(answers)) == 200 and srv.counts == {"ok": 200}


def test_sequential_requests_are_not_held_by_delayed_acks():
    """Without TCP_NODELAY on the server's connections each answer waited ~40 ms for the client's delayed ACK."""
    with serve() as srv, client(srv) as c:
        c.chat.completions.create(model="m", messages=USER)  # the pooled connection stays open
        sockets = srv.loopback.connection_sockets()
        assert sockets
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)


def test_starts_ready_and_stops_clean():
    with serve() as srv:  # the port is bound before serve() returns, and accepting at once
        with socket.create_connection(("127.0.0.1", srv.port), timeout=1):
            pass
    with pytest.raises(OSError):  # the port is closed once the block is left
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
