"""The generation engine: any OpenAI-compatible server through the official `openai` client.

One job: turn GenRequests into GenResults, politely and resumably. Bounded concurrency,
requests- and tokens-per-minute limits, retries with exponential backoff and jitter that
honour Retry-After, JSON mode with a tolerant parser behind it, a SQLite cache that makes
reruns free, a hard budget that stops cleanly, and a usage report. The client's own retry
loop is switched off (max_retries=0) so every retry is counted and every wait is ours.

A configuration mistake (no server at the URL, a bad key, an unknown model) is caught before
the run by one cheap probe (``preflight``: GET /models, else one 1-token chat request) and,
should one slip through, after the first few requests (FailFast), instead of failing every one.
An answer that is malformed, truncated or a refusal is asked again (``EngineConfig.reask``)
and only a valid one is cached as final.

Several servers of one model (``EngineConfig.base_url`` as a list: a vLLM fleet) share the
requests through synth/routing.py: each attempt goes to the least-loaded healthy one, a server
that keeps failing is taken out of rotation, and the cache key never names a server.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import yaml
from openai.types.chat import ChatCompletion

from synth.cache import ResponseCache
from synth.routing import Router, Server, is_server_failure, merge_stats, url_phrase
from validate.errors import DataAgentError, StageFailed
from validate.jsonparse import parse_json_loose
from validate.progress import bar, progress_enabled
from validate.text import estimate_tokens

# USD per 1M tokens (input, output). Override with EngineConfig.prices; unknown models cost 0.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}
CONNECTIONS_PER_CLIENT = 32
OPENAI_BASE_URL = "https://api.openai.com/v1"  # the openai client's own default
CONNECT_BACKOFF_MAX = 1.0  # seconds: a refused connection is a wrong URL far more often than a blip


@dataclass(frozen=True)
class GenRequest:
    """One chat request and how to judge its answer.

    An answer is valid when it is not cut at ``max_tokens``, not empty, not a refusal, parses as
    JSON when the request wants JSON (``wants_json``), and passes the check registered for its
    template: ``register_check("qa_", fn)`` makes ``fn(request, text, data) -> reason | None`` judge
    every request whose template starts with ``qa_`` (the longest registered prefix wins). An
    invalid answer is asked again up to ``EngineConfig.reask`` times with the same prompt, then
    returned with the reason as ``GenResult.error`` and cached apart from valid answers.

    The check lives in a module-level registry, not on the request, so it stays out of the cache
    key and out of what is pickled for worker processes.
    """

    template: str  # prompt template name: part of the cache key
    messages: list[dict]
    params: dict = field(default_factory=dict)  # temperature, max_tokens, response_format, ...
    meta: dict = field(default_factory=dict, compare=False)  # carried to the result, not hashed

    def key(self, model: str) -> str:
        blob = json.dumps([self.template, self.messages, model, self.params], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def wants_json(self) -> bool:
        fmt = self.params.get("response_format") or {}
        return fmt.get("type") in ("json_object", "json_schema") or self.meta.get("expect") == "json"

    def prompt_tokens(self) -> int:
        return sum(estimate_tokens(str(m.get("content", ""))) + 4 for m in self.messages)


@dataclass
class GenResult:
    request: GenRequest
    text: str | None
    data: Any | None
    error: str | None
    usage: dict
    cached: bool


@dataclass
class EngineConfig:
    # One server URL, or several replicas of one model (a vLLM fleet) to spread the requests over
    # (synth.routing). Default: $OPENAI_BASE_URL, else the client's default.
    base_url: str | list[str] | None = field(
        default=None,
        metadata={
            "help": "Server URL, e.g. http://localhost:8000/v1; repeat it for several replicas of one model "
            "(requests go to the least-loaded healthy one)."
        },
    )
    model: str = field(default="gpt-4o-mini", metadata={"help": "Model name on the server."})
    # Read from $OPENAI_API_KEY when None; never stored in a cache, report or repr.
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = field(default=16, metadata={"help": "Requests in flight at once."})
    rpm: int | None = field(default=None, metadata={"help": "Requests per minute limit."})
    tpm: int | None = field(default=None, metadata={"help": "Tokens per minute limit."})
    max_retries: int = 6  # for 429, 5xx and read timeouts
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = field(
        default=60.0, metadata={"help": "openai backend: seconds to wait for one answer before retrying."}
    )
    # Connecting gets its own short timeout and few retries: a server that does not accept a
    # connection within seconds is down or the URL is wrong, and 6 retries x 65 requests of
    # that took 81 s to report nothing.
    connect_timeout: float = 5.0
    connect_retries: int = 2
    # Stop the run when the first this-many requests sent all failed with one configuration
    # problem (refused connection, 401/403, unknown model); 0 switches the check off.
    fail_fast_after: int = 8
    # Probe the server (GET /models, else a 1-token chat) before sending anything. With several
    # servers each is probed, and one that fails is left out with a warning.
    preflight: bool = True
    # Several servers: one whose attempts fail as a server fails (connection, timeout, 5xx) this
    # many times in a row is taken out of rotation for server_cooldown seconds, then probed by
    # one request. A single server is never taken out.
    server_fail_after: int = 5
    server_cooldown: float = 30.0
    # How many times a malformed, truncated or refused answer is asked again before it is
    # returned as a failure; each re-ask is a full request and is paid for.
    reask: int = 2
    # A rerun asks again what an earlier run stored as failed; False returns the stored failure.
    reask_failures: bool = True
    # No progress display and no stderr notices (worker processes: the parent reports).
    quiet: bool = False
    cache_path: str | None = None
    budget_tokens: int | None = field(default=None, metadata={"help": "Stop cleanly after this many tokens."})
    budget_usd: float | None = field(default=None, metadata={"help": "Stop cleanly after this much money."})
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    # Worker processes, each with its own event loop and clients; 0 = auto. One Python process
    # tops out near 700 requests/s (about 1.3 ms of client CPU per request), so high
    # concurrency against a fast server needs more than one. Budgets and rate limits are
    # split evenly between them.
    processes: int = 0

    def worker_count(self, n_requests: int) -> int:
        if self.processes:
            return max(1, self.processes)
        if self.concurrency < 128 or n_requests < 512:  # below this, spawning costs more than it saves
            return 1
        return max(1, min(os.cpu_count() or 1, self.concurrency // 32))

    def price(self) -> tuple[float, float]:
        return self.prices.get(self.model, (0.0, 0.0))

    def urls(self) -> list[str]:
        """Every server URL in the order given, without repeats; the default one when none is given."""
        given = [self.base_url] if isinstance(self.base_url, str) else list(self.base_url or ())
        urls = list(dict.fromkeys(u.strip() for u in given if u and u.strip()))
        return urls or [effective_base_url(None)]

    def url(self) -> str:
        """The first server's URL (the only one, unless several were given)."""
        return self.urls()[0]


def effective_base_url(base_url: str | None) -> str:
    """The URL the openai client will use: the given one, else $OPENAI_BASE_URL, else OpenAI's."""
    return base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_for(base_url: str, key: str | None = None) -> str:
    """The API key to send: ``key``, else $OPENAI_API_KEY; a DataAgentError when a remote server would get none.

    The key is only ever handed to the HTTP client: never to a cache, report, log or message.
    """
    key = key or os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if is_loopback(base_url):
        # Local servers (vLLM, llama.cpp, the test server) accept any key, but the openai
        # client refuses to start without one: a placeholder is the honest value here.
        return "no-key"
    raise DataAgentError(
        f"OPENAI_API_KEY is not set; export it before sending requests to {base_url} "
        "(only a server on this machine may go without a key)"
    )


def read_yaml(path: str | Path) -> Any:
    """A YAML file's data, or a DataAgentError naming the file and, for a syntax error, the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataAgentError(f"cannot read the file: {exc.strerror or exc}", path) from exc
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None  # marks count lines from 0
        raise DataAgentError(f"invalid YAML: {exc.problem or exc.context}", path, line=line) from exc
    except yaml.YAMLError as exc:
        raise DataAgentError(f"invalid YAML: {exc}", path) from exc


def load_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """The prices file ``{model: [usd_per_1M_input, usd_per_1M_output]}`` as {model: (in, out)}.

    Only the file's entries: the caller overlays them on DEFAULT_PRICES. Anything else is a
    DataAgentError naming the file (and the line for YAML syntax, the model for a bad value).
    """
    data = read_yaml(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise DataAgentError(f"expected a mapping {{model: [usd_per_1M_in, usd_per_1M_out]}}, got {got}", path)
    prices: dict[str, tuple[float, float]] = {}
    for model, value in data.items():
        pair = list(value) if isinstance(value, list | tuple) else []
        numbers = [v for v in pair if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
        if len(pair) != 2 or len(numbers) != 2 or min(numbers) < 0:
            raise DataAgentError(
                f"price of model '{model}' must be [usd_per_1M_in, usd_per_1M_out], two numbers >= 0, got {value!r}",
                path,
            )
        prices[str(model)] = (float(numbers[0]), float(numbers[1]))
    return prices


# -- failures: one vocabulary of reasons for both backends (engine and LangChain) ---------------------
_MODEL_UNKNOWN = re.compile(
    r"model_not_found|unknown model|model\b.{0,80}\b(not found|does not exist|not exist|unknown|not available)",
    re.IGNORECASE | re.DOTALL,
)


def failure_reason(exc: BaseException) -> str:
    """A failed request's countable reason: connect_error, connect_timeout, timeout, connection_error,
    model_not_found (a 400 that says so), http_<status>, else the exception's class name.

    The httpx exception under the openai one tells a refused or unresolvable connection
    (configuration) from one dropped mid-answer (transient); LangChain wraps the openai
    exception once more, so the whole cause chain is searched, by class name because
    openai vendors its own httpx.
    """
    causes = set()
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 8:
        causes.add(type(cause).__name__)
        cause = cause.__cause__
    if isinstance(exc, openai.APIConnectionError):
        if "ConnectTimeout" in causes:
            return "connect_timeout"
        if "ConnectError" in causes:
            return "connect_error"
        return "timeout" if isinstance(exc, openai.APITimeoutError) else "connection_error"
    if isinstance(exc, openai.BadRequestError) and _MODEL_UNKNOWN.search(str(exc)):
        return "model_not_found"
    status = getattr(exc, "status_code", None)
    return f"http_{status}" if status else type(exc).__name__


def config_problem(reason: str, model: str) -> str | None:
    """What a reason says about the configuration, or None for a failure that is not a setup mistake."""
    return {
        "connect_error": "cannot connect: is the server running, and are host and port right?",
        "connect_timeout": "no answer to connect: is the host reachable and the port open?",
        "http_401": "authentication failed: check OPENAI_API_KEY",
        "http_403": "permission denied: check OPENAI_API_KEY and its access to the model",
        "http_404": f"not found: unknown model '{model}' or a wrong base URL path",
        "model_not_found": f"the server does not know model '{model}'",
    }.get(reason)


class FailFast:
    """Watches the first ``after`` outcomes of a run and stops it when they all failed the same
    configuration way: a wrong URL, key or model fails every request, so sending the rest only
    wastes time (and, with some providers, money) to produce an empty result.

    ``note`` each outcome (None: the server answered or nothing was sent); it raises StageFailed
    on the ``after``-th identical configuration failure. ``decided`` turns true as soon as the
    run can no longer be stopped this way, which is when the engine lets the rest go.
    """

    def __init__(self, after: int, model: str, base_url: str | list[str]) -> None:
        self.after, self.model, self.base_url = after, model, base_url
        self.seen: list[str | None] = []
        self.decided = after <= 0

    def note(self, reason: str | None) -> None:
        if self.decided:
            return
        self.seen.append(reason)
        problem = config_problem(reason, self.model) if reason else None
        if problem is None or reason != self.seen[0]:
            self.decided = True
        elif len(self.seen) >= self.after:
            self.decided = True
            first = "the first request" if self.after == 1 else f"the first {self.after} requests all"
            raise StageFailed(f"synth stopped: {first} failed with {reason} ({problem}) ({url_phrase(self.base_url)})")


# -- preflight -------------------------------------------------------------------------------------------
def notice(line: str) -> None:
    """One ``warning:`` line on stderr, in the CLI's format, for what the user should know but need not stop for."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


class _ProbeError(Exception):
    def __init__(self, reason: str, listed: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.listed = reason, listed


async def preflight(cfg: EngineConfig, api_key: str, url: str | None = None) -> dict[str, int]:
    """One cheap probe of ``url`` (default: the first server) before a run: raise StageFailed when
    the URL, key or model is wrong.

    GET /models first (free on every provider); a server without that endpoint, or one that
    does not list the model, gets one chat request with max_tokens=1, because some servers
    (llama.cpp) list a file name and answer to any model name. Only configuration failures
    stop the run here; a 429, 5xx or timeout is left to the run's own retries. Returns the
    requests made and the probe chat's token usage, which counts against budgets.
    """
    url = url or cfg.url()
    usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    try:
        await _probe(cfg, api_key, url, usage)
    except _ProbeError as probe:
        raise StageFailed(_preflight_message(probe, cfg.model, url)) from probe.__cause__
    return usage


async def preflight_servers(
    cfg: EngineConfig, api_key: str, urls: list[str], usage: dict[str, int], quiet: bool = False
) -> list[str]:
    """Probe every server at once; the URLs that passed, in their order. ``usage`` adds up the probes.

    With one server this is ``preflight``. With several, each one that fails is reported in one
    ``warning:`` line and left out of the run; when all fail, StageFailed says why for each.
    """
    if len(urls) == 1:
        for name, value in (await preflight(cfg, api_key, urls[0])).items():
            usage[name] += value
        return urls
    outcomes = await asyncio.gather(*(_probe(cfg, api_key, url, usage) for url in urls), return_exceptions=True)
    failed: list[tuple[str, _ProbeError]] = []
    for url, outcome in zip(urls, outcomes, strict=True):
        if isinstance(outcome, _ProbeError):
            failed.append((url, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
    live = [url for url in urls if url not in dict(failed)]
    if not live:
        reasons = {probe.reason for _, probe in failed}
        if len(reasons) == 1:
            raise StageFailed(_preflight_message(failed[0][1], cfg.model, urls)) from failed[0][1].__cause__
        each = "; ".join(f"{url}: {probe.reason} ({_probe_problem(probe, cfg.model)})" for url, probe in failed)
        raise StageFailed(f"synth cannot start: no server passed the preflight ({each}) (model '{cfg.model}')")
    if not quiet:
        for url, probe in failed:
            notice(
                f"server {url} left out: {probe.reason} ({_probe_problem(probe, cfg.model)}); "
                f"going on with {len(live)} of {len(urls)} servers"
            )
    return live


async def _probe(cfg: EngineConfig, api_key: str, url: str, usage: dict[str, int]) -> None:
    """The preflight of one server: raises _ProbeError for a configuration failure; counts into ``usage``."""
    client = openai.AsyncOpenAI(
        base_url=url,
        api_key=api_key,
        max_retries=0,
        timeout=openai.Timeout(cfg.timeout, connect=min(cfg.timeout, cfg.connect_timeout)),
    )
    usage["requests"] += 1
    try:
        listed: list[str] | None = None
        try:
            page = await _with_connect_retries(cfg, client.models.list)
            listed = [m.id for m in page.data]
        except openai.APIStatusError as exc:
            reason = failure_reason(exc)
            if reason in ("http_401", "http_403"):
                raise _ProbeError(reason) from exc
            # 404, 405, ...: no /models here (or a wrong path, which the chat probe will tell).
        except openai.APIConnectionError as exc:
            raise _ProbeError(failure_reason(exc)) from exc
        except openai.APIError:
            pass  # a 200 that is not a model list: the chat probe decides
        if listed and cfg.model in listed:
            return
        body = {"model": cfg.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        usage["requests"] += 1
        try:
            response = await _with_connect_retries(
                cfg, lambda: client.post("/chat/completions", body=body, cast_to=ChatCompletion)
            )
        except (openai.APIStatusError, openai.APIConnectionError) as exc:
            reason = failure_reason(exc)
            if config_problem(reason, cfg.model):
                raise _ProbeError(reason, listed) from exc
            return
        usage["prompt_tokens"] += getattr(response.usage, "prompt_tokens", 0) or 0
        usage["completion_tokens"] += getattr(response.usage, "completion_tokens", 0) or 0
    finally:
        await client.close()


async def _with_connect_retries(cfg: EngineConfig, call: Callable[[], Any]) -> Any:
    # The same quick retries of a refused connection as the run makes: a restart blip passes,
    # a wrong URL is reported in about a second.
    for attempt in range(cfg.connect_retries + 1):
        try:
            return await call()
        except openai.APIConnectionError as exc:
            if failure_reason(exc) not in ("connect_error", "connect_timeout") or attempt >= cfg.connect_retries:
                raise
            await asyncio.sleep(random.uniform(0, min(CONNECT_BACKOFF_MAX, cfg.backoff_base * 2**attempt)))
    raise AssertionError("unreachable")


def _probe_problem(probe: _ProbeError, model: str) -> str:
    problem = config_problem(probe.reason, model) or probe.reason
    if probe.reason in ("http_404", "model_not_found") and probe.listed:
        shown = ", ".join(probe.listed[:8]) + (", ..." if len(probe.listed) > 8 else "")
        problem += f"; the server lists: {shown}"
    return problem


def _preflight_message(probe: _ProbeError, model: str, url: str | list[str]) -> str:
    return f"synth cannot start: {probe.reason} ({_probe_problem(probe, model)}) ({url_phrase(url)}, model '{model}')"


def failure_summary(failed: Mapping[str, int], total: int, quarantine: str | Path) -> str | None:
    """'12 of 65 requests failed (http_500: 12); see <quarantine>', or None when none failed."""
    count = sum(failed.values())
    if not count:
        return None
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{count} of {total} requests failed ({reasons}); see {quarantine}"


def raise_if_all_failed(failed: Mapping[str, int], total: int, quarantine: str | Path) -> None:
    """StageFailed when every request failed: an empty result must not pass for a finished run.

    Call it after the quarantine is written, so the message can point at what failed and why.
    """
    if total and sum(failed.values()) >= total:
        raise StageFailed(f"synth produced nothing: {failure_summary(failed, total, quarantine)}")


# -- answer checks -------------------------------------------------------------------------------------
AnswerCheck = Callable[[GenRequest, str, Any], str | None]
_CHECKS: dict[str, AnswerCheck] = {}
# A short answer that opens by declining: a long one that starts "I cannot stress enough" is not.
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i apologi[sz]e|i cannot|i can'?t|i can not|i'?m unable|"
    r"i am unable|i won'?t|i will not|as an ai\b|抱歉|很抱歉|對不起|对不起|我無法|我无法|我不能)",
    re.IGNORECASE,
)
REFUSAL_MAX_CHARS = 400


def register_check(template_prefix: str, check: AnswerCheck) -> None:
    """Judge the answers of every request whose template starts with ``template_prefix``.

    ``check(request, text, data)`` gets the answer's text and, for a JSON request, its parsed
    data; it returns a short reason ("missing pairs") for an answer to ask again, or None. It
    must be a module-level function: worker processes receive it by reference.
    """
    _CHECKS[template_prefix] = check


def check_for(template: str) -> AnswerCheck | None:
    """The registered check with the longest prefix of ``template``, or None."""
    best = max((p for p in _CHECKS if template.startswith(p)), key=len, default=None)
    return None if best is None else _CHECKS[best]


def judge(req: GenRequest, text: str, finish_reason: str | None) -> tuple[Any, str | None]:
    """(parsed data, None) for a valid answer, else (whatever parsed, the reason to ask again)."""
    if finish_reason == "length":
        return None, "truncated"
    if not text.strip():
        return None, "empty"
    data = None
    if req.wants_json():
        try:
            data = parse_json_loose(text)
        except ValueError:
            refused = len(text) <= REFUSAL_MAX_CHARS and _REFUSAL.match(text)
            return None, "refused" if refused else "unparseable"
    elif len(text) <= REFUSAL_MAX_CHARS and _REFUSAL.match(text):
        return None, "refused"
    check = check_for(req.template)
    reason = check(req, text, data) if check is not None else None
    return data, reason or None


# -- budget --------------------------------------------------------------------------------------------
class _Budget:
    """Token and money limits shared by the requests of one run.

    Each request holds its worst case (prompt + max_tokens) while in flight and gives back what
    it did not use once its usage is known. A request whose hold does not fit waits for those in
    flight to settle; only when it cannot fit with nothing in flight does the budget stop the run.
    So concurrency costs no budget, and the run never spends more than the budget (as long as
    the server's prompt count does not exceed our estimate: the estimate is scaled by the
    largest actual/estimated ratio seen so far).
    """

    def __init__(self, tokens: int | None, usd: float | None, spent_tokens: int, spent_usd: float) -> None:
        self.tokens, self.usd = tokens, usd
        self.spent_tokens, self.spent_usd = spent_tokens, spent_usd
        self.held_tokens, self.held_usd, self.holds = 0, 0.0, 0
        self.stopped = False
        self.changed = asyncio.Condition()

    def _fits(self, tokens: int, usd: float) -> bool:
        if self.tokens is not None and self.spent_tokens + self.held_tokens + tokens > self.tokens:
            return False
        return self.usd is None or self.spent_usd + self.held_usd + usd <= self.usd * (1 + 1e-9)

    async def hold(self, tokens: int, usd: float) -> bool:
        """Hold a request's worst case, waiting for room; False once the budget has stopped the run."""
        if self.tokens is None and self.usd is None:
            return True
        async with self.changed:
            while not self.stopped:
                if self._fits(tokens, usd):
                    self.held_tokens += tokens
                    self.held_usd += usd
                    self.holds += 1
                    return True
                if self.holds == 0:
                    self.stopped = True
                    self.changed.notify_all()
                    break
                await self.changed.wait()
        return False

    def settle(self, tokens: int, usd: float, used_tokens: int, used_usd: float) -> None:
        """Give back a hold and charge what was used (synchronous, so it also runs on cancellation)."""
        if self.tokens is None and self.usd is None:
            return
        self.held_tokens -= tokens
        self.held_usd -= usd
        self.holds -= 1
        self.spent_tokens += used_tokens
        self.spent_usd += used_usd

    async def wake(self) -> None:
        if self.tokens is None and self.usd is None:
            return
        async with self.changed:
            self.changed.notify_all()


class _Progress:
    """Requests done/failed, tokens, cost and an ETA on stderr (tqdm); a no-op when switched off."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        self.done = self.failed = self.cached = 0
        if enabled and total:
            self.bar = bar(
                total, "synth", bar_format="{desc}: {n_fmt}/{total_fmt} requests [{elapsed}<{remaining}]{postfix}"
            )

    def update(self, result: GenResult, report: Mapping[str, Any], n: int = 1) -> None:
        if self.bar is None:
            return
        self.done += n if result.error is None else 0
        self.failed += n if result.error is not None else 0
        self.cached += n if result.cached else 0
        tokens = report["prompt_tokens"] + report["completion_tokens"]
        self.bar.set_postfix_str(
            f"done={self.done} failed={self.failed} cached={self.cached} tokens={tokens} "
            f"cost=${report['cost_usd']:.4f}",
            refresh=False,
        )
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.refresh()
            self.bar.close()


class _RateLimiter:
    """Requests and tokens per minute as two token buckets; callers wait for capacity."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.limits = {"requests": rpm, "tokens": tpm}
        self.level = {k: float(v) for k, v in self.limits.items() if v}
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        need = {"requests": 1.0, "tokens": float(tokens)}
        async with self.lock:
            while True:
                now = time.monotonic()
                for name, limit in self.limits.items():
                    if limit:
                        self.level[name] = min(limit, self.level[name] + (now - self.stamp) * limit / 60)
                self.stamp = now
                waits = [
                    (min(need[n], self.limits[n]) - self.level[n]) * 60 / self.limits[n]
                    for n in self.level
                    if self.level[n] < min(need[n], self.limits[n])
                ]
                if not waits:
                    for name in self.level:
                        self.level[name] -= need[name]
                    return
                await asyncio.sleep(max(waits))


class Engine:
    def __init__(self, cfg: EngineConfig) -> None:
        if cfg.budget_usd is not None and cfg.model not in cfg.prices:
            # Unknown models cost 0, so the budget would never stop anything: refuse, do not ignore.
            raise DataAgentError(
                f"no price known for model '{cfg.model}', so --budget-usd cannot be enforced; "
                "give --prices (YAML {model: [usd_per_1M_in, usd_per_1M_out]})"
            )
        self.cfg = cfg
        self.cache = ResponseCache(cfg.cache_path)
        self.report: dict[str, Any] = {
            "model": cfg.model,
            "requests_sent": 0,
            "preflight_requests": 0,
            "cache_hits": 0,
            "retries": 0,
            "reasks": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "failures": Counter(),
            "seconds": 0.0,
            "stopped_by_budget": False,
            "budget_tokens": cfg.budget_tokens,
            "budget_usd": cfg.budget_usd,
        }
        if len(cfg.urls()) > 1:  # requests per server, in the summary; one server has no such entry
            self.report["servers"] = {}
        self._urls = cfg.urls()  # the servers in rotation: those given, less any left out by the preflight
        self._json_mode = True  # switched off once if the server rejects response_format
        self._prompt_ratio = 1.0  # largest server prompt count / our estimate seen: scales budget holds

    # -- public API ---------------------------------------------------------------------------------
    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return asyncio.run(self.agenerate(requests))

    async def agenerate(self, requests: list[GenRequest]) -> list[GenResult]:
        urls = self.cfg.urls()
        # Before anything is sent or spawned; one key for every server (a remote one needs a real one).
        api_key = [api_key_for(url, self.cfg.api_key) for url in urls][0]
        # The cache key names no server: a rerun against other replicas finds every answer.
        keys = [r.key(self.cfg.model) for r in requests]
        hits = [self._cached(r, k) for r, k in zip(requests, keys, strict=True)]
        self._urls = urls
        if self.cfg.preflight and any(hit is None for hit in hits):  # a rerun with all cached probes nothing
            if not (self.cfg.api_key or os.environ.get("OPENAI_API_KEY")) and not self.cfg.quiet:
                notice(f"OPENAI_API_KEY is not set; sending a placeholder key to {', '.join(urls)}")
            usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
            try:
                self._urls = await preflight_servers(self.cfg, api_key, urls, usage, quiet=self.cfg.quiet)
            finally:
                self.report["preflight_requests"] += usage["requests"]
                self._account(usage)
            if len(urls) > 1:
                for url in urls:
                    if url not in self._urls:
                        self.report["servers"][url] = {"left_out": "failed the preflight"}
        workers = self.cfg.worker_count(len(requests))
        progress = _Progress(len(requests), progress_enabled() and not self.cfg.quiet)
        try:
            if workers > 1:
                results = await self._agenerate_processes(requests, workers, progress)
            else:
                results = await self._agenerate_here(requests, keys, hits, api_key, progress)
        finally:
            progress.close()
        if self.report["stopped_by_budget"] and not self.cfg.quiet:
            notice(self.budget_stop_message(results))
        return results

    def budget_stop_message(self, results: list[GenResult]) -> str:
        """One line: what the budget let through and what it left unsent."""
        unsent = sum(r.error == "budget_exhausted" for r in results)
        rep = self.report
        if self.cfg.budget_tokens is not None:
            used = rep["prompt_tokens"] + rep["completion_tokens"]
            spent = f"{used:,} of {self.cfg.budget_tokens:,} tokens ({used / max(1, self.cfg.budget_tokens):.0%})"
            flag = "--budget-tokens"
        else:
            budget = self.cfg.budget_usd or 0.0
            spent = f"${rep['cost_usd']:.4f} of ${budget:.4f} ({rep['cost_usd'] / budget if budget else 1:.0%})"
            flag = "--budget-usd"
        return (
            f"budget reached: used {spent}; {unsent} of {len(results)} requests not sent (budget_exhausted); "
            f"rerun with a larger {flag} to send only those"
        )

    def _cached(self, req: GenRequest, key: str) -> dict | None:
        """The cached answer to use, or None to send the request.

        A cached answer is judged again, so one an older version (or a since-registered check)
        let through is asked again instead of replayed.
        """
        hit = self.cache.get(key)
        if hit is not None and judge(req, hit["text"], hit["finish_reason"])[1] is None:
            return hit
        if not self.cfg.reask_failures:
            failed = self.cache.get_failure(key)
            if failed is not None:
                return failed
        return None if hit is None or self.cfg.reask_failures else hit

    async def _agenerate_here(
        self,
        requests: list[GenRequest],
        keys: list[str],
        hits: list[dict | None],
        api_key: str,
        progress: _Progress,
    ) -> list[GenResult]:
        start = time.perf_counter()
        to_send = [i for i, hit in enumerate(hits) if hit is None]
        watch = FailFast(min(self.cfg.fail_fast_after, len(to_send)), self.cfg.model, self._urls)
        # Only the first few requests go out until FailFast has seen enough to let the rest
        # go, so a wrong key or model is reported after those few reached the server, not all.
        probes = set(to_send[: watch.after])
        opened = asyncio.Event()
        if watch.decided:
            opened.set()
        router = Router(
            self._urls,
            fail_after=self.cfg.server_fail_after,
            cooldown=self.cfg.server_cooldown,
            notice=None if self.cfg.quiet else notice,
        )
        # Several clients per server, each with its own connection pool: the HTTP pool checks every
        # open connection on each request, so one pool of 256 connections spends more CPU on
        # bookkeeping than on the requests (measured: 2.3 ms vs 1.6 ms per request).
        share = -(-self.cfg.concurrency // len(router.servers))  # each server's part of the load
        for server in router.servers:
            server.clients = [
                openai.AsyncOpenAI(
                    base_url=server.url,
                    api_key=api_key,
                    max_retries=0,
                    timeout=openai.Timeout(self.cfg.timeout, connect=min(self.cfg.timeout, self.cfg.connect_timeout)),
                )
                for _ in range(max(1, -(-share // CONNECTIONS_PER_CLIENT)))
            ]
        limiter = _RateLimiter(self.cfg.rpm, self.cfg.tpm)
        budget = _Budget(
            self.cfg.budget_tokens,
            self.cfg.budget_usd,
            self.report["prompt_tokens"] + self.report["completion_tokens"],
            self.report["cost_usd"],
        )
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(i: int) -> GenResult:
            req, hit = requests[i], hits[i]
            if hit is not None:
                self.report["cache_hits"] += 1
                result = self._result(req, hit["text"], hit["finish_reason"], hit["usage"], cached=True)
                progress.update(result, self.report)
                return result
            if i not in probes:
                await opened.wait()
            async with gate:
                result = await self._one(router, i, limiter, budget, req, keys[i])
            progress.update(result, self.report)
            if not watch.decided:
                # An answer, even an unparseable one, or a budget stop says nothing against the
                # configuration. note() raises StageFailed to stop; the gate then stays shut.
                watch.note(None if result.error in (None, "budget_exhausted") or result.text else result.error)
                if watch.decided:
                    opened.set()
            return result

        tasks = [asyncio.create_task(one(i)) for i in range(len(requests))]
        try:
            results = await asyncio.gather(*tasks)
        finally:
            # On a fail-fast stop (or any error) nothing else is sent: requests waiting their turn
            # are cancelled, and as only answers are cached, a rerun sends them all.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for server in router.servers:
                for client in server.clients:
                    await client.close()
            if "servers" in self.report:
                merge_stats(self.report["servers"], router.stats())
            self.report["seconds"] += time.perf_counter() - start
        return list(results)

    async def _agenerate_processes(
        self, requests: list[GenRequest], workers: int, progress: _Progress
    ) -> list[GenResult]:
        """Shard requests round-robin over worker processes and merge their results and reports."""
        start = time.perf_counter()
        share = {
            "processes": 1,
            "concurrency": max(1, self.cfg.concurrency // workers),
            "preflight": False,  # the parent probed once for all
            "base_url": list(self._urls),  # less any server the probe left out
            "quiet": True,
        }
        for name in ("rpm", "tpm", "budget_tokens", "budget_usd"):
            value = getattr(self.cfg, name)
            share[name] = None if value is None else type(value)(value / workers)
        shard_cfg = replace(self.cfg, **share)
        shards = [requests[i::workers] for i in range(workers)]
        loop = asyncio.get_running_loop()
        checks = dict(_CHECKS)
        # spawn, not fork: the caller may have threads (a server, a progress bar) that a fork would copy mid-lock.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [loop.run_in_executor(pool, _run_shard, shard_cfg, shard, checks) for shard in shards]
            outs = []
            for future in futures:
                out = await future
                outs.append(out)
                self._merge(out[1])
                for result in out[0]:
                    progress.update(result, self.report)
        results: list[GenResult | None] = [None] * len(requests)
        for w, (shard_results, _) in enumerate(outs):
            for k, result in enumerate(shard_results):
                results[w + k * workers] = result
        self.report["seconds"] += time.perf_counter() - start
        return results  # type: ignore[return-value]

    def _merge(self, report: dict) -> None:
        for key, value in report.items():
            if key == "failures":
                self.report["failures"].update(value)
            elif key == "servers":
                merge_stats(self.report.setdefault("servers", {}), value)
            elif key == "stopped_by_budget":
                self.report[key] = self.report[key] or value
            elif key not in ("seconds", "budget_tokens", "budget_usd") and isinstance(value, int | float):
                self.report[key] += value

    def estimate(self, requests: list[GenRequest]) -> dict[str, Any]:
        """Dry run: what the uncached requests would send and cost, with completions at max_tokens."""
        todo = [r for r in requests if self._cached(r, r.key(self.cfg.model)) is None]
        prompt = sum(r.prompt_tokens() for r in todo)
        completion = sum(int(r.params.get("max_tokens", 512)) for r in todo)
        pin, pout = self.cfg.price()
        return {
            "model": self.cfg.model,
            "requests": len(todo),
            "cached": len(requests) - len(todo),
            "prompt_tokens": prompt,
            "completion_tokens_max": completion,
            "cost_usd_max": round((prompt * pin + completion * pout) / 1e6, 6),
        }

    def usage_report(self) -> dict[str, Any]:
        rep = dict(self.report)
        rep["failures"] = dict(rep["failures"])
        if "servers" in rep:  # in the order the URLs were given
            rep["servers"] = {url: dict(rep["servers"][url]) for url in self.cfg.urls() if url in rep["servers"]}
        rep["cost_usd"] = round(rep["cost_usd"], 6)
        rep["seconds"] = round(rep["seconds"], 3)
        return rep

    # -- one request ----------------------------------------------------------------------------------
    async def _one(
        self, router: Router, i: int, limiter: _RateLimiter, budget: _Budget, req: GenRequest, key: str
    ) -> GenResult:
        max_tokens = int(req.params.get("max_tokens", 512))
        total = {"prompt_tokens": 0, "completion_tokens": 0}
        last: tuple[str, str, Any, str] | None = None  # text, finish_reason, data, reason of the last invalid answer
        for attempt in range(max(0, self.cfg.reask) + 1):
            prompt = math.ceil(req.prompt_tokens() * self._prompt_ratio)
            pin, pout = self.cfg.price()
            hold_tokens, hold_usd = prompt + max_tokens, (prompt * pin + max_tokens * pout) / 1e6
            if not await budget.hold(hold_tokens, hold_usd):
                self.report["stopped_by_budget"] = True
                if last is None:
                    return self._fail(req, "budget_exhausted")
                break  # the invalid answer already paid for is the result
            usage = {"prompt_tokens": 0, "completion_tokens": 0}
            gave_up = None
            try:
                await limiter.acquire(hold_tokens)
                response = await self._call_with_retries(router, i, req)
                usage["prompt_tokens"] = getattr(response.usage, "prompt_tokens", 0) or 0
                usage["completion_tokens"] = getattr(response.usage, "completion_tokens", 0) or 0
                self._account(usage)
            except _GiveUpError as exc:
                gave_up = exc.reason
            finally:
                used_usd = (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6
                budget.settle(hold_tokens, hold_usd, usage["prompt_tokens"] + usage["completion_tokens"], used_usd)
            await budget.wake()
            if gave_up is not None:
                return self._fail(req, gave_up)
            if usage["prompt_tokens"] > req.prompt_tokens() > 0:
                self._prompt_ratio = max(self._prompt_ratio, usage["prompt_tokens"] / req.prompt_tokens())
            for name in total:
                total[name] += usage[name]
            choice = response.choices[0]
            text, finish = choice.message.content or "", choice.finish_reason or ""
            data, reason = judge(req, text, finish)
            if reason is None:
                self.cache.put(key, req.template, self.cfg.model, text, finish, usage)
                return self._result(req, text, finish, total, cached=False, judged=(data, None))
            last = (text, finish, data, reason)
            if attempt < self.cfg.reask:
                self.report["reasks"] += 1
        text, finish, data, reason = last
        # Kept apart from valid answers: a rerun asks again (unless told not to), and nothing
        # invalid is ever replayed as if it were an answer.
        self.cache.put_failure(key, req.template, self.cfg.model, text, finish, total, reason)
        return self._result(req, text, finish, total, cached=False, judged=(data, reason))

    async def _call_with_retries(self, router: Router, i: int, req: GenRequest) -> Any:
        params = dict(req.params)
        attempt = 0
        tried: list[Server] = []  # servers this request failed on: a retry goes elsewhere when it can
        while True:
            if not self._json_mode:
                params.pop("response_format", None)
            server = await router.take(tried)  # StageFailed when every server is out of rotation
            try:
                try:
                    self.report["requests_sent"] += 1
                    # The client's generic POST, typed into the same ChatCompletion: create() first
                    # runs a recursive transform over the params that cost a fifth of the client's
                    # CPU per request at high concurrency (bench/synth_bench.py --profile).
                    response = await server.client(i).post(
                        "/chat/completions",
                        body={"model": self.cfg.model, "messages": req.messages, **params},
                        cast_to=ChatCompletion,
                    )
                except openai.APIError as exc:
                    router.release(server, failure_reason(exc))
                    raise
                except BaseException:
                    router.release(server, None, answered=False)  # cancelled: no word on the server
                    raise
                router.release(server, None)
                return response
            except openai.BadRequestError as exc:
                if "response_format" in params and "response_format" in str(exc) and self._json_mode:
                    self._json_mode = False  # server has no JSON mode: the tolerant parser copes
                    continue
                raise _GiveUpError(failure_reason(exc)) from exc
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APITimeoutError,
                openai.APIConnectionError,
            ) as exc:
                reason = failure_reason(exc)
                tried.append(server)
                if is_server_failure(reason) and router.has_untried(tried):
                    # Another server takes it at once: one replica's trouble costs no retry and no wait.
                    delay = 0.0
                elif reason in ("connect_error", "connect_timeout"):
                    # A few quick retries ride out a restart blip; a wrong URL must not cost minutes.
                    if attempt >= self.cfg.connect_retries:
                        raise _GiveUpError(reason) from exc
                    delay = random.uniform(0, min(CONNECT_BACKOFF_MAX, self.cfg.backoff_base * 2**attempt))
                    attempt += 1
                elif attempt >= self.cfg.max_retries:
                    raise _GiveUpError(f"{reason}_retries_exhausted") from exc
                else:
                    delay = self._backoff(attempt, exc)
                    attempt += 1
                await asyncio.sleep(delay)
                self.report["retries"] += 1
            except openai.APIStatusError as exc:  # 401, 403, 404, 422...: the same request would fail again
                raise _GiveUpError(failure_reason(exc)) from exc

    def _backoff(self, attempt: int, exc: Exception) -> float:
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), self.cfg.backoff_max)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        # Full jitter: spreads retries of many concurrent requests instead of synchronising them.
        return random.uniform(0, min(self.cfg.backoff_max, self.cfg.backoff_base * 2**attempt))

    # -- accounting and results -----------------------------------------------------------------------
    def _account(self, usage: dict) -> None:
        pin, pout = self.cfg.price()
        self.report["prompt_tokens"] += usage["prompt_tokens"]
        self.report["completion_tokens"] += usage["completion_tokens"]
        self.report["cost_usd"] += (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6

    def _fail(self, req: GenRequest, reason: str) -> GenResult:
        self.report["failures"][reason] += 1
        return GenResult(req, None, None, reason, {}, cached=False)

    def _result(
        self,
        req: GenRequest,
        text: str,
        finish: str | None,
        usage: dict,
        cached: bool,
        judged: tuple[Any, str | None] | None = None,
    ) -> GenResult:
        data, error = judged if judged is not None else judge(req, text, finish)
        if error:
            self.report["failures"][error] += 1
        return GenResult(req, text, data, error, usage, cached)


def _run_shard(
    cfg: EngineConfig, requests: list[GenRequest], checks: dict[str, AnswerCheck]
) -> tuple[list[GenResult], dict]:
    _CHECKS.update(checks)  # a spawned worker has not imported the generators that registered them
    engine = Engine(cfg)
    results = engine.generate(requests)
    report = engine.usage_report()
    report.pop("model", None)
    return results, report


class _GiveUpError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
