"""Crawl + extract of the bundled sample site on loopback, against plain Scrapy, same run.

    .venv/bin/python bench/crawl_bench.py [--copies 25] [--repeats 3]

The sample site (40 pages) is served --copies times under /c<i>/ with the copy number
in each page's heading, so every page is distinct text and the whole pipeline runs
(extraction, QA harvesting, dedup, near-dup, contract check, writing). Our crawl runs three
ways: the default (DATAAGENT_EXTRACT_WORKERS=auto: cores-1 worker processes, at least 1), inline
(0) and one worker per core. All crawls use the same Scrapy settings: robots.txt obeyed, 16
concurrent requests, no AutoThrottle, no cache. Throughput is pages / Scrapy's
elapsed_time_seconds, so interpreter start-up and the workers' warm-up are excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dataagent.samples import SITE_DIR  # noqa: E402
from dataagent.testing.sites import LoggingServer  # noqa: E402

BASE = {
    "ROBOTSTXT_OBEY": True,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 16,
    "HTTPCACHE_ENABLED": False,
    "LOG_LEVEL": "INFO",
    "USER_AGENT": "DataAgent-bench",
    "TELNETCONSOLE_ENABLED": False,
}
# name, server latency per request (s), requests per domain, site copies
SCENARIOS = [
    ("cpu-bound: loopback, no latency, 16 per domain", 0.0, 16, 25),
    ("realistic: 50 ms per response, 4 per domain", 0.05, 4, 5),
]


def site_routes(base_url: str, copies: int) -> dict:
    routes = {"/robots.txt": (200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /*/private/\n")}
    types = {".html": "text/html; charset=utf-8", ".xml": "application/xml", ".txt": "text/plain"}
    for i in range(copies):
        for path in SITE_DIR.rglob("*"):
            if path.is_file() and path.suffix in types:
                body = path.read_bytes().replace(b"__BASE_URL__", f"{base_url}/c{i}".encode())
                body = body.replace(b"</h1>", f" · {i}</h1>".encode(), 1)
                routes[f"/c{i}/" + path.relative_to(SITE_DIR).as_posix()] = (
                    200,
                    {"Content-Type": types[path.suffix]},
                    body,
                )
    return routes


def scrapy_cmd(*args: str, settings: dict) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", *args]
    for k, v in settings.items():
        cmd += ["-s", f"{k}={v}"]
    return cmd


def run_ours(base: str, copies: int, work: Path, same: dict, workers: int | str = "auto") -> tuple[int, float]:
    recipe = work / "bench.yaml"
    starts = "\n".join(f"  - {base}/c{i}/index.html" for i in range(copies))
    recipe.write_text(f"name: bench\nstart_urls:\n{starts}\nrobots_sitemaps: false\nmin_chars: 50\n", encoding="utf-8")
    out = work / "ours"
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    subprocess.run(
        scrapy_cmd(
            "crawl",
            "site",
            "-a",
            f"recipe={recipe}",
            settings={
                **same,
                "DATAAGENT_OUTPUT_DIR": out,
                "LOG_FILE": work / "ours.log",
                "DATAAGENT_EXTRACT_WORKERS": workers,
            },
        ),
        env=env,
        cwd=REPO,
        check=True,
    )
    stats = json.loads((out / "crawl_stats.json").read_text())["stats"]
    PART_SECONDS.append({k.rsplit("/", 1)[1]: v / stats["dataagent/pages"] for k, v in stats.items()
                         if k.startswith("dataagent/seconds/")})  # fmt: skip
    return stats["dataagent/pages"], stats["elapsed_time_seconds"]


PART_SECONDS: list[dict[str, float]] = []  # per run of ours: seconds per page of each extraction part


def run_plain(base: str, copies: int, work: Path, same: dict) -> tuple[int, float]:
    stats_file = work / "plain_stats.json"
    starts = ",".join(f"{base}/c{i}/index.html" for i in range(copies))
    code = (
        "import json,sys; from scrapy.crawler import CrawlerProcess; sys.path.insert(0, sys.argv[1]);"
        "from plain_spider import PlainSpider; s=json.loads(sys.argv[2]); p=CrawlerProcess(s);"
        "c=p.create_crawler(PlainSpider); p.crawl(c, start_urls=sys.argv[3]); p.start();"
        "st=c.stats.get_stats(); open(sys.argv[4],'w').write(json.dumps("
        "{'pages': st.get('bench/pages',0), 'elapsed': st['elapsed_time_seconds']}))"
    )
    # The anchor gets our one-method Downloader fix too: stock Scrapy 2.19 ignores the
    # per-domain limit (crawlers/polite.py), which would make it faster by being rude.
    settings = {**same, "LOG_FILE": str(work / "plain.log"), "DOWNLOADER": "crawlers.polite.PoliteDownloader"}
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), json.dumps(settings), starts, str(stats_file)],
        env=env,
        cwd=work,
        check=True,
    )
    stats = json.loads(stats_file.read_text())
    return stats["pages"], stats["elapsed"]


# label, crawl, extra arguments: the anchor first, then the default crawl and the other worker settings.
VARIANTS = [
    ("plain", run_plain, {}),
    ("ours", run_ours, {}),
    ("ours-inline", run_ours, {"workers": 0}),
    ("ours-workers=cores", run_ours, {"workers": os.cpu_count() or 1}),
]
NOTES = {
    "ours": "default: workers=auto (cores-1, at least 1)",
    "ours-inline": "inline (DATAAGENT_EXTRACT_WORKERS=0)",
    "ours-workers=cores": f"DATAAGENT_EXTRACT_WORKERS={os.cpu_count() or 1} (= cores)",
}


def extraction_cost_ms() -> float:
    from crawlers.encoding import decode_html
    from crawlers.extract import extract_document
    from crawlers.faq import extract_qa_pairs

    pages = [p.read_bytes().replace(b"__BASE_URL__", b"http://127.0.0.1:1") for p in SITE_DIR.rglob("*.html")]
    for body in pages:  # warm-up: imports, tables, language model
        extract_document(body.decode(), "http://127.0.0.1:1/x.html")
    start, n = time.perf_counter(), 0
    for _ in range(5):
        for body in pages:
            html, _, _ = decode_html(body, "utf-8")
            extract_document(html, "http://127.0.0.1:1/x.html")
            extract_qa_pairs(html)
            n += 1
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name, latency, per_domain, copies in SCENARIOS:
        same = {**BASE, "CONCURRENT_REQUESTS_PER_DOMAIN": per_domain}
        server = LoggingServer({}, delay=latency)
        server.routes.update(site_routes(server.base_url, copies))
        runs: dict[str, list[float]] = {label: [] for label, _, _ in VARIANTS}
        with server, tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                for label, fn, extra in VARIANTS:
                    work = Path(tmp) / f"{label}{r}"
                    work.mkdir()
                    pages, secs = fn(server.base_url, copies, work, same, **extra)
                    runs[label].append(pages / secs)
        plain = statistics.median(runs["plain"])
        print(f"\n{name} ({copies * 40} pages, median of {args.repeats})")
        print(f"  {'plain Scrapy (anchor)':57s}: {plain:6.0f} pages/s")
        for label, _, _ in VARIANTS[1:]:
            rate = statistics.median(runs[label])
            note = NOTES[label]
            print(f"  DataAgent, {note:46s}: {rate:6.0f} pages/s  overhead {plain / rate:.2f}x (goal <= 1.5x)")
        # Per-part cost measured inside process_page, wherever it ran (inline or in a worker).
        parts = {k: statistics.median(run.get(k, 0.0) for run in PART_SECONDS) for k in PART_SECONDS[0]}
        print("  per page, by part (ms):", ", ".join(f"{k} {v * 1000:.2f}" for k, v in sorted(parts.items())))
        PART_SECONDS.clear()
    print(f"\nextraction per page: {extraction_cost_ms():.2f} ms on one core (decode + trafilatura + metadata + QA)")


if __name__ == "__main__":
    main()
