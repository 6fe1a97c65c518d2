"""The generation engine: any OpenAI-compatible server through the official `openai` client.

One job: turn GenRequests into GenResults, politely and resumably. Bounded concurrency,
requests- and tokens-per-minute limits, retries with exponential backoff and jitter that
honour Retry-After, JSON mode with a tolerant parser behind it, a SQLite cache that makes
reruns free, a hard budget that stops cleanly, and a usage report. The client's own retry
loop is switched off (max_retries=0) so every retry is counted and every wait is ours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from synth.cache import ResponseCache
from synth.jsonparse import parse_json_loose

# USD per 1M tokens (input, output). Override with EngineConfig.prices; unknown models cost 0.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
}
CONNECTIONS_PER_CLIENT = 32
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
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 60.0
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
        workers = self.cfg.worker_count(len(requests))
        if workers > 1:
            return await self._agenerate_processes(requests, workers)
        start = time.perf_counter()
        # Several clients, each with its own connection pool: the HTTP pool checks every open
        # connection on each request, so one pool of 256 connections spends more CPU on
        # bookkeeping than on the requests (measured: 2.3 ms vs 1.6 ms per request).
        clients = [
            openai.AsyncOpenAI(
                base_url=self.cfg.base_url or os.environ.get("OPENAI_BASE_URL"),
                api_key=self.cfg.api_key or os.environ.get("OPENAI_API_KEY") or "no-key",
                max_retries=0,
                timeout=self.cfg.timeout,
            )
            for _ in range(max(1, -(-self.cfg.concurrency // CONNECTIONS_PER_CLIENT)))
        ]
        limiter = _RateLimiter(self.cfg.rpm, self.cfg.tpm)
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(i: int, req: GenRequest) -> GenResult:
            async with gate:
                return await self._one(clients[i % len(clients)], limiter, req)

        try:
            results = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        finally:
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
    async def _one(self, client: openai.AsyncOpenAI, limiter: _RateLimiter, req: GenRequest) -> GenResult:
        key = req.key(self.cfg.model)
        hit = self.cache.get(key)
        if hit is not None:
            self.report["cache_hits"] += 1
            return self._result(req, hit["text"], hit["finish_reason"], hit["usage"], cached=True)
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
                raise _GiveUpError("http_400") from exc
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APITimeoutError,
                openai.APIConnectionError,
            ) as exc:
                reason = _reason(exc)
                if attempt >= self.cfg.max_retries:
                    raise _GiveUpError(f"{reason}_retries_exhausted") from exc
                await asyncio.sleep(self._backoff(attempt, exc))
                attempt += 1
                self.report["retries"] += 1
            except openai.APIStatusError as exc:
                raise _GiveUpError(_reason(exc)) from exc

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


def _reason(exc: Exception) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    status = getattr(exc, "status_code", None)
    return f"http_{status}" if status else type(exc).__name__
