"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

    with serve(script=["first answer", Fault.rate_limit(), "second"], latency=0.1) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test-key")
        ...
        srv.requests[0].body["messages"], srv.counts["rate_limit"]

Real HTTP (Starlette under uvicorn, in a background thread) rather than a mocked transport,
so that what is tested is what runs against vLLM, Ollama or api.openai.com: the official
client's retries, timeouts, connection pool and error classes. Each request waits
``latency`` seconds with ``asyncio.sleep``, so one server holds thousands of requests
open at once and a benchmark measures the client's concurrency, not this server.

A *script* decides every answer: a callable ``(body, n) -> Reply`` (``n`` counts chat
requests from 0) or a list of replies used in order, the last one repeating. A reply is
a string (the answer), a dict or list (sent as its JSON text) or a ``Fault``. With no
script, ``default_script`` answers every prompt with deterministic QA-pair JSON.

``GET /v1/models`` lists ``models`` (default: ``test-model``; chat accepts any model name,
as llama.cpp's server does), or answers with a ``Fault`` (``Fault.not_found()`` for a server
without the endpoint). ``api_key`` makes both endpoints answer 401 to any other key.

``hold_until=N`` keeps every request waiting until N are inside the server at once: a test of
concurrency by count (``peak_in_flight``), which no slow machine can flake.

Run it alone with ``python -m dataagent.testing.openai --port 8000 --latency 0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dataagent.testing.loopback import Loopback, serve_app

MODEL = "test-model"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour; build one with the class methods below."""

    kind: str
    content: str = ""
    status: int = 200
    finish_reason: str = "stop"
    seconds: float = 0.0  # Retry-After for rate_limit, the stall for timeout

    @classmethod
    def rate_limit(cls, retry_after: float = 1.0) -> Fault:
        """HTTP 429 with a Retry-After header and OpenAI's error body."""
        return cls("rate_limit", status=429, seconds=retry_after)

    @classmethod
    def server_error(cls) -> Fault:
        """HTTP 500 with OpenAI's error body."""
        return cls("server_error", status=500)

    @classmethod
    def timeout(cls, seconds: float = 30.0) -> Fault:
        """Stall ``seconds`` (set it above the client's timeout), then answer as the default script would."""
        return cls("timeout", seconds=seconds)

    @classmethod
    def bad_request(cls, message: str = "Invalid request.") -> Fault:
        """HTTP 400 with OpenAI's error body, e.g. a server that does not support response_format."""
        return cls("bad_request", content=message, status=400)

    @classmethod
    def unauthorized(cls) -> Fault:
        """HTTP 401 as api.openai.com answers a missing or wrong API key."""
        return cls("unauthorized", content="Incorrect API key provided.", status=401)

    @classmethod
    def forbidden(cls) -> Fault:
        """HTTP 403: a key without access to the model or project."""
        return cls("forbidden", content="You do not have access to this model.", status=403)

    @classmethod
    def not_found(cls) -> Fault:
        """HTTP 404 for a path the server does not implement (a wrong base URL, or no /models)."""
        return cls("not_found", content="Not Found", status=404)

    @classmethod
    def refusal(cls, text: str = "I'm sorry, but I can't help with that request.") -> Fault:
        """A 200 completion that declines the task instead of doing it."""
        return cls("refusal", content=text)

    @classmethod
    def empty(cls) -> Fault:
        """A 200 completion with empty content, as some servers send for a filtered answer."""
        return cls("empty", content="")

    @classmethod
    def unknown_model(cls) -> Fault:
        """HTTP 404 as api.openai.com and vLLM answer a model they do not serve (the model named from the request)."""
        return cls("unknown_model", content="The model `{model}` does not exist.", status=404)

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 completion whose content is JSON cut off mid-object: no repair can parse it."""
        return cls("malformed", content='{"question": "x", "answer": ')

    @classmethod
    def fenced(cls, obj: Any) -> Fault:
        """The JSON of ``obj`` inside a ```json fence, with prose before and after, as chat models like to."""
        body = json.dumps(obj, ensure_ascii=False, indent=2)
        return cls("fenced", content=f"Here is the JSON you asked for.\n\n```json\n{body}\n```\n\nHope this helps!")

    @classmethod
    def truncated(cls, text: str, keep: int | None = None) -> Fault:
        """The first ``keep`` characters of ``text`` (default: half) with ``finish_reason: "length"``."""
        keep = len(text) // 2 if keep is None else keep
        return cls("truncated", content=text[:keep], finish_reason="length")


Reply: TypeAlias = str | dict | list | Fault
Script: TypeAlias = Callable[[dict, int], Reply] | Sequence[Reply] | None


@dataclass
class Received:
    """One chat request as the server saw it."""

    body: dict
    headers: dict[str, str]


def estimate_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: one token per CJK character, one per 4 other characters."""
    cjk = sum(1 for ch in text if _is_cjk(ch))
    return cjk + math.ceil((len(text) - cjk) / 4)


def _is_cjk(ch: str) -> bool:
    # Kana, CJK ideographs (+ extension A and compatibility), Hangul, CJK and full-width punctuation.
    o = ord(ch)
    return (
        0x3000 <= o <= 0x30FF
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xAC00 <= o <= 0xD7AF
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF
    )


def _text_of(content: Any) -> str:
    # A message's content is a string or a list of parts ({"type": "text", "text": ...}).
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def prompt_tokens(messages: list[dict]) -> int:
    """The usage this server reports for a prompt: the content estimate plus 4 per message for roles and framing."""
    return sum(estimate_tokens(_text_of(m.get("content"))) + 4 for m in messages if isinstance(m, dict))


def last_user_text(body: dict) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def default_reply(text: str) -> dict:
    """The default script's answer to a user message: 1-3 QA pairs, all derived from a hash of ``text``."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    topic = " ".join(text.split()[:8]) or "the passage"
    return {
        "pairs": [
            {
                "question": f"Question {i + 1} [{digest}]: what does it say about {topic}?",
                "answer": f"Answer {i + 1} [{digest}].",
            }
            for i in range(1 + int(digest, 16) % 3)
        ]
    }


def default_script(body: dict, n: int) -> Reply:
    return default_reply(last_user_text(body))


class ServerHandle:
    """What ``serve`` yields: the address, the record of requests, and knobs that take effect at once."""

    def __init__(
        self, script: Script, latency: float, models: Sequence[str] | Fault = (MODEL,), api_key: str | None = None
    ) -> None:
        self.base_url = ""
        self.models = models  # what GET /models lists, or the Fault it answers with
        self.api_key = api_key  # when set, any other bearer key gets a 401 on every endpoint
        self.model_requests = 0  # GET /models requests seen
        self.port = 0
        self.latency = latency  # read per request, so it may be changed while serving
        self.requests: list[Received] = []
        self.counts: Counter[str] = Counter()  # outcome kind -> count: "ok", "rate_limit", "timeout", ...
        self._n = 0
        self.in_flight = 0  # requests inside the latency sleep right now
        self.peak_in_flight = 0  # the most at once: proof of concurrency that no clock can flake
        self.hold_until = 0  # when set, requests wait until this many are in flight together
        self.loopback: Loopback | None = None  # set while serving
        self._released = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()  # set when serve() exits: stalled requests end at once
        self.set_script(script)

    def set_script(self, script: Script) -> None:
        """Swap the script while serving; a list starts again from its first reply."""
        self._script = script if script is not None else default_script
        self._cursor = 0

    def _next_reply(self, body: dict, n: int) -> Reply:
        # Runs only on the server's event loop thread, so the cursor needs no lock.
        script = self._script
        if callable(script):
            return script(body, n)
        if not script:
            raise ValueError("empty script")
        reply = script[min(self._cursor, len(script) - 1)]
        self._cursor += 1
        return reply

    def _refuse_key(self, request: Request) -> JSONResponse | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        self.counts["bad_key"] += 1
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    async def _chat(self, request: Request) -> JSONResponse:
        self._loop = asyncio.get_running_loop()
        refused = self._refuse_key(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The request body is not valid JSON.", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property.", "invalid_request_error")
        n, self._n = self._n, self._n + 1
        self.requests.append(Received(body=body, headers=dict(request.headers)))
        try:
            reply = self._next_reply(body, n)
        except Exception as exc:  # a broken script shows up as a 500 the test can see, not a dead server
            log.exception("test server script failed")
            self.counts["script_error"] += 1
            return _error(500, f"script error: {exc!r}", "server_error")
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self.hold_until:
                await self._hold()
        finally:
            self.in_flight -= 1

        fault = reply if isinstance(reply, Fault) else None
        self.counts[fault.kind if fault else "ok"] += 1
        if fault and fault.kind not in _ANSWER_KINDS:
            return _fault_response(fault, body.get("model"))
        if fault and fault.kind == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            reply = default_script(body, n)
        if isinstance(reply, Fault):
            content, finish_reason = reply.content, reply.finish_reason
        elif isinstance(reply, str):
            content, finish_reason = reply, "stop"
        else:
            content, finish_reason = json.dumps(reply, ensure_ascii=False), "stop"

        prompt, completion = prompt_tokens(body["messages"]), estimate_tokens(content)
        return JSONResponse(
            {
                "id": f"chatcmpl-test-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
                "system_fingerprint": "dataagent-testserver",
            }
        )

    async def _hold(self) -> None:
        # Released for good once enough requests were inside together; serve() exiting releases too.
        if self.peak_in_flight >= self.hold_until:
            self._released.set()
        waits = {asyncio.ensure_future(self._released.wait()), asyncio.ensure_future(self._stopping.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    def _wake_stalled(self) -> None:
        # Stalled and held requests end at once, so the graceful shutdown need not wait them out.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def _models(self, request: Request) -> JSONResponse:
        self.model_requests += 1
        refused = self._refuse_key(request)
        if refused is not None:
            return refused
        if isinstance(self.models, Fault):
            return _fault_response(self.models, None)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "dataagent"} for m in self.models]
        return JSONResponse({"object": "list", "data": data})


# Faults that still answer 200 with a completion; every other kind is an HTTP error.
_ANSWER_KINDS = frozenset({"timeout", "malformed", "fenced", "truncated", "refusal", "empty"})


def _fault_response(fault: Fault, model: Any) -> JSONResponse:
    if fault.kind == "rate_limit":
        headers = {"Retry-After": f"{fault.seconds:g}"}
        return _error(429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded", headers)
    if fault.kind == "unauthorized":
        return _error(401, fault.content, "invalid_request_error", "invalid_api_key")
    if fault.kind == "unknown_model":
        return _error(404, fault.content.replace("{model}", str(model)), "invalid_request_error", "model_not_found")
    if fault.kind == "server_error":
        return _error(500, "The server had an error while processing your request.", "server_error")
    return _error(fault.status, fault.content or fault.kind, "invalid_request_error")


def _error(
    status: int, message: str, type_: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    # The body shape the openai client reads into exc.body / exc.message.
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}, status_code=status, headers=headers
    )


@contextlib.contextmanager
def serve(
    script: Script = None,
    latency: float = 0.0,
    port: int = 0,
    *,
    models: Sequence[str] | Fault = (MODEL,),
    api_key: str | None = None,
    hold_until: int = 0,
) -> Iterator[ServerHandle]:
    """Serve on 127.0.0.1 (``port=0``: any free port) for the duration of the ``with`` block."""
    handle = ServerHandle(script, latency, models, api_key)
    handle.hold_until = hold_until
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", handle._chat, methods=["POST"]),
            Route("/v1/models", handle._models, methods=["GET"]),
        ]
    )
    options = {
        "limit_concurrency": None,  # thousands of requests may be held open at once
        "backlog": 2048,  # a burst of new connections must not overflow the listen queue (1 s SYN retry)
        "timeout_keep_alive": 600,  # pooled client connections stay usable between benchmark rounds
    }
    with serve_app(app, port=port, name="openai-testserver", **options) as loopback:
        handle.loopback, handle.port, handle.base_url = loopback, loopback.port, f"{loopback.url}/v1"
        try:
            yield handle
        finally:
            handle._wake_stalled()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each request waits")
    args = parser.parse_args()
    with serve(latency=args.latency, port=args.port) as handle:
        print(f"serving {handle.base_url} (latency {args.latency:g} s); Ctrl-C stops", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
