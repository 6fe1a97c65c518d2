"""Two real `scrapy crawl site` workers share one crawl through a real Redis (crawlers/scaleout.py).

Needs redis-server: scripts/redis.sh installs it with apt-get when it is missing. Where that
is impossible the test fails, it does not skip: scale-out untested is scale-out broken.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import free_port

from crawlers.scaleout import job_status
from dataagent.samples import SITE_DIR
from dataagent.site_server import SiteServer

pytestmark = pytest.mark.slow  # two Scrapy workers and a Redis server

ROOT = Path(__file__).absolute().parents[1]
REDIS_SH = ROOT / "scripts" / "redis.sh"
WORKERS = ("w1", "w2")
# A plain one-process crawl of the same site, run alongside: what the workers together must equal.
REFERENCE = "single"
# Each response is held this long, so that one worker alone would need several seconds for
# the site: long enough that the second worker surely gets a share, short enough for CI.
DELAY_S = 0.2
# The sitemap, which lists nearly every page, comes late: meanwhile whichever worker has no
# sitemap in hand finds the shared queue empty while the other is still busy, and must wait
# for it rather than stop (stock scrapy-redis stops it there, with no page or one).
SLOW_PATHS = {"/sitemap.xml": 1.5}
CRAWL_TIMEOUT_S = 90


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server on a free loopback port, stopped at teardown."""
    port, rdir = free_port(), tmp_path / "redis"
    try:
        started = subprocess.run(
            ["bash", str(REDIS_SH), "start", str(port), str(rdir)],
            capture_output=True,
            text=True,
            timeout=600,  # a first run may apt-get install redis-server
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"scripts/redis.sh start could not run: {exc}")
    if started.returncode != 0:
        pytest.fail(
            "scale-out test needs redis-server; `scripts/redis.sh start` failed (it installs Redis with"
            f" apt-get when it is missing, which needs root and package-registry access):\n{started.stderr[-3000:]}"
        )
    yield f"redis://127.0.0.1:{port}/0"
    subprocess.run(["bash", str(REDIS_SH), "stop", str(rdir)], capture_output=True, timeout=60)


class CountingSite:
    """dataagent.site_server.SiteServer, plus: counts GETs per (User-Agent, path) and, for the
    workers, holds every response until `gate` opens, then delays each by DELAY_S."""

    def __init__(self) -> None:
        self.server = SiteServer(SITE_DIR)
        self.base_url = self.server.base_url
        self.counts: Counter[tuple[str, str]] = Counter()
        self.gate = threading.Event()
        lock, counts, gate = threading.Lock(), self.counts, self.gate
        handler = self.server.httpd.RequestHandlerClass.func  # SiteServer's own: it fills in __BASE_URL__

        class Counting(handler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                agent = self.headers.get("User-Agent", "")
                with lock:
                    counts[(agent, urlsplit(self.path).path)] += 1
                if agent != _agent(REFERENCE):
                    gate.wait(30)
                    time.sleep(DELAY_S + SLOW_PATHS.get(urlsplit(self.path).path, 0.0))
                super().do_GET()

        self.server.httpd.RequestHandlerClass = functools.partial(Counting, directory=str(SITE_DIR))

    def __enter__(self) -> CountingSite:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.__exit__(*exc)

    def paths(self, *names: str) -> Counter[str]:
        """How often each path was fetched by the named crawls, together."""
        agents = {_agent(name) for name in names}
        total: Counter[str] = Counter()
        for (agent, path), n in self.counts.items():
            if agent in agents:
                total[path] += n
        return total


def _agent(name: str) -> str:
    return f"dataagent-test-{name}"  # the User-Agent tells the server which crawl asked


def _sitemap_paths() -> set[str]:
    xml = (Path(SITE_DIR) / "sitemap.xml").read_text(encoding="utf-8")
    return {urlsplit(loc).path for loc in re.findall(r"<loc>__BASE_URL__([^<]+)</loc>", xml)}


def _page(url: str) -> str:
    """The page a URL shows: / and /index.html are one page, the crawl keeps either."""
    path = urlsplit(url).path
    return path + "index.html" if path.endswith("/") else path


def _tail(path: Path, n: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-n:] if path.exists() else f"(no {path.name})"


def _documents(out: Path) -> list[dict]:
    with (out / "documents.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _crawl(name: str, base_url: str, out: Path, *settings: str) -> subprocess.Popen:
    out.mkdir()
    cmd = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"start_url={base_url}/"]
    for setting in (
        f"DATAAGENT_OUTPUT_DIR={out}",
        f"USER_AGENT={_agent(name)}",
        f"LOG_FILE={out / 'crawl.log'}",
        "AUTOTHROTTLE_ENABLED=False",
        "HTTPCACHE_ENABLED=False",  # every page must really reach the server
        *settings,
    ):
        cmd += ["-s", setting]
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings", "OMP_NUM_THREADS": "1"}
    stderr = (out / "stderr.txt").open("w")
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    finally:
        stderr.close()  # the child has its own copy


def test_two_workers_share_one_queue_and_dupefilter(tmp_path, redis_url):
    job = f"test-{secrets.token_hex(4)}"
    with CountingSite() as site:
        started = time.monotonic()
        procs = {REFERENCE: _crawl(REFERENCE, site.base_url, tmp_path / REFERENCE)}
        for name in WORKERS:
            procs[name] = _crawl(
                name,
                site.base_url,
                tmp_path / name,
                f"DATAAGENT_REDIS_URL={redis_url}",
                f"DATAAGENT_REDIS_KEY={job}",
                # Few requests in hand per worker: the shared queue, not one worker, holds the work.
                "CONCURRENT_REQUESTS=2",
                "CONCURRENT_REQUESTS_PER_DOMAIN=2",
            )
        # Serve the workers nothing until both have joined the job: then neither can finish the
        # site before the other has started, however slowly one of them starts.
        while len(job_status(redis_url, "site", job)["workers"]) < len(WORKERS):
            if any(procs[n].poll() is not None for n in WORKERS) or time.monotonic() - started > 60:
                break
            time.sleep(0.05)
        site.gate.set()

        codes = {}
        for name, proc in procs.items():
            try:
                codes[name] = proc.wait(timeout=max(1.0, started + CRAWL_TIMEOUT_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in procs.values():
                    if other.poll() is None:
                        other.kill()
                        other.wait()
                pytest.fail(f"{name} still running after {CRAWL_TIMEOUT_S} s:\n{_tail(tmp_path / name / 'crawl.log')}")
        elapsed = time.monotonic() - started

    for name in procs:
        assert codes[name] == 0, f"{name} exited {codes[name]}:\n{_tail(tmp_path / name / 'stderr.txt')}"
    for name in WORKERS:
        log = (tmp_path / name / "crawl.log").read_text(encoding="utf-8")
        assert "scale-out: worker" in log, f"{name} did not use the Redis scheduler"

    # Each page fetched once across the workers; robots.txt is per worker (RobotsTxtMiddleware).
    fetched = site.paths(*WORKERS)
    twice = {path: n for path, n in fetched.items() if n > 1 and path != "/robots.txt"}
    assert not twice, f"fetched more than once across the workers: {twice}"
    missing = (_sitemap_paths() | {"/", "/sitemap.xml"}) - set(fetched)
    assert not missing, f"never fetched: {sorted(missing)}"
    assert not any(p.startswith("/private/") for p in fetched), "robots.txt Disallow was not obeyed"
    assert set(fetched) == set(site.paths(REFERENCE)), "the workers fetched other pages than one process does"
    # Both did a real share of the pages only the (late) sitemap lists: one alone would have
    # needed ~4 s for them, so each worker gets well over 5 unless one stopped early.
    from_sitemap = _sitemap_paths() - {"/", "/index.html"}
    shares = {name: len(from_sitemap & set(site.paths(name))) for name in WORKERS}
    assert min(shares.values()) >= 5, f"the crawl was not shared: sitemap pages per worker {shares} ({elapsed:.1f} s)"

    # One row per page: together the workers keep what one process keeps, each page once.
    rows = [row for name in WORKERS for row in _documents(tmp_path / name)]
    reference = _documents(tmp_path / REFERENCE)
    assert len(reference) >= 30
    for column in ("url", "canonical_url", "content_hash"):
        if column in reference[0]:
            repeated = [v for v, n in Counter(row[column] for row in rows).items() if n > 1]
            assert not repeated, f"{column} kept by both workers: {repeated}"
    assert sorted(_page(row["url"]) for row in rows) == sorted(_page(row["url"]) for row in reference)
    assert {row["content_hash"] for row in rows} == {row["content_hash"] for row in reference}

    status = job_status(redis_url, "site", job)
    assert status["queued"] == 0 and status["busy"] == [] and status["workers"] == [], status
