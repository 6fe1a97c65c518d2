"""Generation engine throughput against the loopback OpenAI-compatible test server.

    .venv/bin/python bench/synth_bench.py [--latency 0.2] [--levels 1,16,64,256] [--rounds 15]
                                          [--server process|thread] [--profile 64]

``dataagent.testing.openai`` answers every request after ``--latency`` seconds, so at concurrency C
the ideal rate is C / latency requests per second; the ratio to it is the engine's
efficiency (goal: >= 0.9 at every level). Each level sends max(20, rounds * C) distinct
prompts in JSON mode through ``synth.engine.Engine`` (no cache file, no rate limits, so
nothing is a cache hit and nothing waits on a limiter), then the same requests through a
bare ``openai.AsyncOpenAI`` behind an ``asyncio.Semaphore``: the client's own ceiling,
which the engine, built on that client, cannot beat.

The server runs in its own process by default so that its CPU does not share the GIL with
the client being measured; ``--server thread`` runs it in-process as the tests do.
Client CPU % is this process's CPU time over wall time: near 100 % it is CPU-bound on one
core and latency no longer hides its per-request work. ``--profile C`` adds a cProfile of
the engine at concurrency C, summed by package, to show where that work goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.metadata
import os
import platform
import pstats
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import openai  # noqa: E402

from dataagent.testing.openai import serve  # noqa: E402
from synth.engine import Engine, EngineConfig, GenRequest  # noqa: E402

MODEL = "test-model"
JSON_MODE = {"response_format": {"type": "json_object"}}


def make_requests(level: int, n: int) -> list[GenRequest]:
    # Distinct prompts (the level is in them too), so no two requests share a cache key.
    return [
        GenRequest(
            template="bench_qa",
            messages=[
                {"role": "system", "content": "You write question-answer pairs as JSON."},
                {"role": "user", "content": f"Write QA pairs about passage {level}-{i}: the tide turns twice a day."},
            ],
            params=dict(JSON_MODE),
            meta={"i": i},
        )
        for i in range(n)
    ]


async def run_engine(url: str, level: int, requests: list[GenRequest]) -> tuple[int, Counter]:
    engine = Engine(EngineConfig(base_url=url, model=MODEL, api_key="bench-key", concurrency=level))
    results = await engine.agenerate(requests)
    return sum(r.error is None and r.data is not None for r in results), Counter(r.error for r in results if r.error)


async def run_client(url: str, level: int, requests: list[GenRequest]) -> tuple[int, Counter]:
    gate = asyncio.Semaphore(level)
    async with openai.AsyncOpenAI(base_url=url, api_key="bench-key", max_retries=0, timeout=60) as client:

        async def one(req: GenRequest) -> bool:
            async with gate:
                r = await client.chat.completions.create(model=MODEL, messages=req.messages, **req.params)
                return bool(r.choices[0].message.content)

        oks = await asyncio.gather(*(one(r) for r in requests))
    return sum(oks), Counter()


@contextlib.contextmanager
def server(kind: str, latency: float) -> Iterator[tuple[str, Callable[[], float]]]:
    """The test server's base URL and a clock of its CPU seconds (NaN where it cannot be read)."""
    if kind == "thread":
        with serve(latency=latency) as handle:
            yield handle.base_url, lambda: float("nan")  # shares this process: its CPU is in the client's figure
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "dataagent.testing.openai", "--port", "0", "--latency", str(latency)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"http://\S+/v1", proc.stdout.readline()).group(0)
        yield url, lambda: _cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    try:  # Linux: utime + stime, in clock ticks, are fields 14 and 15 of /proc/PID/stat
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def measure(run: Callable, url: str, server_cpu: Callable[[], float], level: int, n: int) -> dict:
    requests = make_requests(level, n)
    cpu0, srv0, t0 = time.process_time(), server_cpu(), time.perf_counter()
    ok, errors = asyncio.run(run(url, level, requests))
    wall = time.perf_counter() - t0
    return {
        "n": n,
        "wall": wall,
        "rate": n / wall,
        "client_cpu": (time.process_time() - cpu0) / wall,
        "server_cpu": (server_cpu() - srv0) / wall,
        "cpu_ms": (time.process_time() - cpu0) / n * 1000,
        "ok": ok,
        "errors": dict(errors),
    }


def profile_engine(url: str, level: int, n: int) -> None:
    requests = make_requests(level, n)
    prof = cProfile.Profile()
    prof.enable()
    asyncio.run(run_engine(url, level, requests))
    prof.disable()
    stats = pstats.Stats(prof)
    by_package: Counter[str] = Counter()
    for (filename, _, function), (_, _, tottime, _, _) in stats.stats.items():
        by_package[_package(filename, function)] += tottime
    total = sum(by_package.values())
    print(
        f"\nprofile: engine at concurrency {level}, {n} requests, {total:.2f} s of profiled CPU (cProfile inflates it)"
    )
    print("  own time by package:")
    for name, seconds in by_package.most_common(12):
        print(f"    {name:<34} {seconds:6.2f} s {seconds / total:6.1%}  {seconds / n * 1000:6.3f} ms/request")
    print("  top functions by own time:")
    stats.sort_stats("tottime").print_stats(15)


def _package(filename: str, function: str) -> str:
    # site-packages/<pkg>/..., this repository's file, a standard library module, or C code.
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith(str(REPO)):
        return os.path.relpath(filename, REPO)
    if "epoll" in function or "select" in function:
        return "idle (event loop waiting in epoll)"
    if filename.startswith(("~", "<")):
        return "C builtins (isinstance, sockets, json...)"
    return "stdlib asyncio" if "/asyncio/" in filename else "stdlib " + Path(filename).stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server waits per request")
    parser.add_argument("--levels", default="1,16,64,256", help="comma-separated concurrency levels")
    parser.add_argument("--rounds", type=int, default=15, help="requests per level: max(20, rounds * concurrency)")
    parser.add_argument("--server", choices=["process", "thread"], default="process")
    parser.add_argument("--profile", type=int, metavar="C", help="also profile the engine at concurrency C")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    rows = []
    with server(args.server, args.latency) as (url, server_cpu):
        for level in levels:
            n = max(20, args.rounds * level)
            for label, run in (("engine", run_engine), ("openai client alone", run_client)):
                row = measure(run, url, server_cpu, level, n)
                rows.append((label, level, row))
                print(f"  done: {label} at {level} ({row['wall']:.1f} s)", flush=True)
        if args.profile:
            profile_engine(url, args.profile, max(20, args.rounds * args.profile))

    print(
        f"\nserver latency {args.latency:g} s, server in a {args.server}; ideal = concurrency / latency; goal >= 0.90"
    )
    print(
        f"{'':<20} {'conc':>5} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>7} {'ratio':>6} "
        f"{'client CPU':>10} {'CPU ms/req':>10} {'server CPU':>10} {'ok':>6}  errors"
    )
    for label, level, r in rows:
        ideal = level / args.latency
        ratio = r["rate"] / ideal
        flag = "" if label != "engine" else (" ok" if ratio >= 0.9 else " SHORT")
        print(
            f"{label:<20} {level:>5} {r['n']:>8} {r['wall']:>8.2f} {r['rate']:>8.1f} {ideal:>7.0f} {ratio:>6.2f} "
            f"{r['client_cpu']:>10.0%} {r['cpu_ms']:>10.2f} {_pct(r['server_cpu']):>10} {r['ok']:>6}  "
            f"{r['errors'] or ''}{flag}"
        )

    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmachine: {os.cpu_count()} cores ({affinity} usable), {cpu_model}, {platform.platform()}")
    print(f"load average (1 min) at the end: {load:.2f} (other work on the machine lowers the ratios)")
    versions = ", ".join(f"{p} {_version(p)}" for p in ("openai", "httpx2", "uvicorn", "starlette", "h11"))
    print(f"python {platform.python_version()}, {versions}")
    print(f"command: {shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])}")


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.0%}"  # NaN: the server's CPU is not known apart from the client's


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


if __name__ == "__main__":
    main()
