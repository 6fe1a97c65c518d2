"""The generation engine: any OpenAI-compatible server through the official `openai` client.

One job: turn GenRequests into GenResults, politely and resumably. Bounded concurrency,
requests- and tokens-per-minute limits, retries with exponential backoff and jitter that
honour Retry-After, JSON mode with a tolerant parser behind it, a SQLite cache that makes
reruns free, a hard budget that stops cleanly, and a usage report. The client's own retry
loop is switched off (max_retries=0) so every retry is counted and every wait is ours.
A configuration mistake (no server at the URL, a bad key, an unknown model) stops the run
with StageFailed after the first few requests (FailFast) instead of failing every one.
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
import time
from collections import Counter
from collections.abc import Mapping
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
from synth.jsonparse import parse_json_loose
from validate.errors import DataAgentError, StageFailed

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
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 ASCII characters per token, one token per Han character.

    tiktoken would be exact for OpenAI models but fetches its tables from the internet on
    first use, and other servers use other tokenizers anyway; the estimate only sizes
    budgets and rate-limit reservations, and actual usage comes from the server.
    """
    han = len(_HAN.findall(text))
    return han + (len(text) - han + 3) // 4


@dataclass(frozen=True)
class GenRequest:
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
    base_url: str | None = None  # default: $OPENAI_BASE_URL, else the client's default
    model: str = "gpt-4o-mini"
    # Read from $OPENAI_API_KEY when None; never stored in a cache, report or repr.
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    max_retries: int = 6  # for 429, 5xx and read timeouts
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 60.0
    # Connecting gets its own short timeout and few retries: a server that does not accept a
    # connection within seconds is down or the URL is wrong, and 6 retries x 65 requests of
    # that took 81 s to report nothing.
    connect_timeout: float = 5.0
    connect_retries: int = 2
    # Stop the run when the first this-many requests sent all failed with one configuration
    # problem (refused connection, 401/403, unknown model); 0 switches the check off.
    fail_fast_after: int = 8
    cache_path: str | None = None
    budget_tokens: int | None = None
    budget_usd: float | None = None
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

    def url(self) -> str:
        return effective_base_url(self.base_url)


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

    def __init__(self, after: int, model: str, base_url: str) -> None:
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
            raise StageFailed(f"synth stopped: {first} failed with {reason} ({problem}) (base URL {self.base_url})")


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


class BudgetExhaustedError(Exception):
    pass


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
            "cache_hits": 0,
            "retries": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "failures": Counter(),
            "seconds": 0.0,
            "stopped_by_budget": False,
        }
        self._reserved_tokens = 0
        self._json_mode = True  # switched off once if the server rejects response_format

    # -- public API ---------------------------------------------------------------------------------
    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        return asyncio.run(self.agenerate(requests))

    async def agenerate(self, requests: list[GenRequest]) -> list[GenResult]:
        api_key = api_key_for(self.cfg.url(), self.cfg.api_key)  # before anything is sent or spawned
        workers = self.cfg.worker_count(len(requests))
        if workers > 1:
            return await self._agenerate_processes(requests, workers)
        start = time.perf_counter()
        keys = [r.key(self.cfg.model) for r in requests]
        hits = [self.cache.get(k) for k in keys]
        to_send = [i for i, hit in enumerate(hits) if hit is None]
        watch = FailFast(min(self.cfg.fail_fast_after, len(to_send)), self.cfg.model, self.cfg.url())
        # Only the first few requests go out until FailFast has seen enough to let the rest
        # go, so a wrong key or model is reported after those few reached the server, not all.
        probes = set(to_send[: watch.after])
        opened = asyncio.Event()
        if watch.decided:
            opened.set()
        # Several clients, each with its own connection pool: the HTTP pool checks every open
        # connection on each request, so one pool of 256 connections spends more CPU on
        # bookkeeping than on the requests (measured: 2.3 ms vs 1.6 ms per request).
        clients = [
            openai.AsyncOpenAI(
                base_url=self.cfg.url(),
                api_key=api_key,
                max_retries=0,
                timeout=openai.Timeout(self.cfg.timeout, connect=min(self.cfg.timeout, self.cfg.connect_timeout)),
            )
            for _ in range(max(1, -(-self.cfg.concurrency // CONNECTIONS_PER_CLIENT)))
        ]
        limiter = _RateLimiter(self.cfg.rpm, self.cfg.tpm)
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(i: int) -> GenResult:
            req, hit = requests[i], hits[i]
            if hit is not None:
                self.report["cache_hits"] += 1
                return self._result(req, hit["text"], hit["finish_reason"], hit["usage"], cached=True)
            if i not in probes:
                await opened.wait()
            async with gate:
                result = await self._one(clients[i % len(clients)], limiter, req, keys[i])
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
            for client in clients:
                await client.close()
            self.report["seconds"] += time.perf_counter() - start
        return list(results)

    async def _agenerate_processes(self, requests: list[GenRequest], workers: int) -> list[GenResult]:
        """Shard requests round-robin over worker processes and merge their results and reports."""
        start = time.perf_counter()
        share = {"processes": 1, "concurrency": max(1, self.cfg.concurrency // workers)}
        for name in ("rpm", "tpm", "budget_tokens", "budget_usd"):
            value = getattr(self.cfg, name)
            share[name] = None if value is None else type(value)(value / workers)
        shard_cfg = replace(self.cfg, **share)
        shards = [requests[i::workers] for i in range(workers)]
        loop = asyncio.get_running_loop()
        # spawn, not fork: the caller may have threads (a server, a progress bar) that a fork would copy mid-lock.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            outs = await asyncio.gather(*(loop.run_in_executor(pool, _run_shard, shard_cfg, shard) for shard in shards))
        results: list[GenResult | None] = [None] * len(requests)
        for w, (shard_results, report) in enumerate(outs):
            for k, result in enumerate(shard_results):
                results[w + k * workers] = result
            for key, value in report.items():
                if key == "failures":
                    self.report["failures"].update(value)
                elif key == "stopped_by_budget":
                    self.report[key] = self.report[key] or value
                elif isinstance(value, int | float) and key != "seconds":
                    self.report[key] += value
        self.report["seconds"] += time.perf_counter() - start
        return results  # type: ignore[return-value]

    def estimate(self, requests: list[GenRequest]) -> dict[str, Any]:
        """Dry run: what the uncached requests would send and cost, with completions at max_tokens."""
        todo = [r for r in requests if self.cache.get(r.key(self.cfg.model)) is None]
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
        rep["cost_usd"] = round(rep["cost_usd"], 6)
        rep["seconds"] = round(rep["seconds"], 3)
        return rep

    # -- one request ----------------------------------------------------------------------------------
    async def _one(self, client: openai.AsyncOpenAI, limiter: _RateLimiter, req: GenRequest, key: str) -> GenResult:
        estimate = req.prompt_tokens() + int(req.params.get("max_tokens", 512))
        try:
            self._reserve(estimate)
        except BudgetExhaustedError:
            self.report["stopped_by_budget"] = True
            return self._fail(req, "budget_exhausted")
        try:
            await limiter.acquire(estimate)
            response = await self._call_with_retries(client, req)
        except _GiveUpError as exc:
            return self._fail(req, exc.reason)
        finally:
            self._reserved_tokens -= estimate
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = {
            "prompt_tokens": getattr(response.usage, "prompt_tokens", 0) or 0,
            "completion_tokens": getattr(response.usage, "completion_tokens", 0) or 0,
        }
        self._account(usage)
        self.cache.put(key, req.template, self.cfg.model, text, choice.finish_reason or "", usage)
        return self._result(req, text, choice.finish_reason, usage, cached=False)

    async def _call_with_retries(self, client: openai.AsyncOpenAI, req: GenRequest) -> Any:
        params = dict(req.params)
        attempt = 0
        while True:
            if not self._json_mode:
                params.pop("response_format", None)
            try:
                self.report["requests_sent"] += 1
                # The client's generic POST, typed into the same ChatCompletion: create() first
                # runs a recursive transform over the params that cost a fifth of the client's
                # CPU per request at high concurrency (bench/synth_bench.py --profile).
                return await client.post(
                    "/chat/completions",
                    body={"model": self.cfg.model, "messages": req.messages, **params},
                    cast_to=ChatCompletion,
                )
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
                if reason in ("connect_error", "connect_timeout"):
                    # A few quick retries ride out a restart blip; a wrong URL must not cost minutes.
                    if attempt >= self.cfg.connect_retries:
                        raise _GiveUpError(reason) from exc
                    delay = random.uniform(0, min(CONNECT_BACKOFF_MAX, self.cfg.backoff_base * 2**attempt))
                elif attempt >= self.cfg.max_retries:
                    raise _GiveUpError(f"{reason}_retries_exhausted") from exc
                else:
                    delay = self._backoff(attempt, exc)
                await asyncio.sleep(delay)
                attempt += 1
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

    # -- budget and results ---------------------------------------------------------------------------
    def _reserve(self, tokens: int) -> None:
        rep = self.report
        spent = rep["prompt_tokens"] + rep["completion_tokens"]
        if self.cfg.budget_tokens is not None and spent + self._reserved_tokens + tokens > self.cfg.budget_tokens:
            raise BudgetExhaustedError
        if self.cfg.budget_usd is not None:
            pin, pout = self.cfg.price()
            # Reserve the worst case (the whole estimate at the output price) so concurrent
            # requests cannot overshoot the budget between them.
            if rep["cost_usd"] + (self._reserved_tokens + tokens) * max(pin, pout) / 1e6 > self.cfg.budget_usd:
                raise BudgetExhaustedError
        self._reserved_tokens += tokens

    def _account(self, usage: dict) -> None:
        pin, pout = self.cfg.price()
        self.report["prompt_tokens"] += usage["prompt_tokens"]
        self.report["completion_tokens"] += usage["completion_tokens"]
        self.report["cost_usd"] += (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6

    def _fail(self, req: GenRequest, reason: str) -> GenResult:
        self.report["failures"][reason] += 1
        return GenResult(req, None, None, reason, {}, cached=False)

    def _result(self, req: GenRequest, text: str, finish: str | None, usage: dict, cached: bool) -> GenResult:
        error, data = None, None
        if finish == "length":
            error = "truncated"
        elif req.wants_json():
            try:
                data = parse_json_loose(text)
            except ValueError:
                error = "unparseable"
        if error:
            self.report["failures"][error] += 1
        return GenResult(req, text, data, error, usage, cached)


def _run_shard(cfg: EngineConfig, requests: list[GenRequest]) -> tuple[list[GenResult], dict]:
    engine = Engine(cfg)
    results = engine.generate(requests)
    report = engine.usage_report()
    report.pop("model", None)
    return results, report


class _GiveUpError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
