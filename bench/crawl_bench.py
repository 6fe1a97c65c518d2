"""Crawl + extract of the bundled sample site on loopback, against plain Scrapy, same run.

    .venv/bin/python bench/crawl_bench.py [--copies 25] [--repeats 3]

The sample site (40 pages) is served --copies times under /c<i>/ with the copy number
in each page's heading, so every page is distinct text and the whole pipeline runs
(extraction, QA harvesting, dedup, near-dup, contract check, writing). Our crawl runs three
ways: the default (DATAAGENT_EXTRACT_WORKERS=auto: cores-1 worker processes, at least 1), inline
(0) and one worker per core. All crawls use the same Scrapy settings: robots.txt obeyed, 16
concurrent requests, no AutoThrottle, no cache.

Two figures per crawl, each against plain Scrapy's in the same run:

* pages/s: pages / Scrapy's elapsed_time_seconds (interpreter start-up and the workers' warm-up excluded).
  On a shared machine it measures the neighbours too, and worker processes only help where a core is free.
* CPU ms/page: the crawl process's CPU time over the same window (bench/plain_spider.py's CpuClock) plus,
  with workers, the CPU time the workers spent after their warm-up. It does not depend on the machine's
  load, so it is the figure to compare between runs; it counts the workers' CPU, so it never rewards
  moving work to another core.

Last, the CPU cost of each part per page, measured in this process on the sample pages.
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
        cmd += ["-s", f"{k}={json.dumps(v) if isinstance(v, dict) else v}"]
    return cmd


BENCH_DIR = Path(__file__).resolve().parent
# Both crawls count their CPU time with bench/plain_spider.py's CpuClock; ours keeps its own extension too.
CLOCK = "plain_spider.CpuClock"


def run_ours(base: str, copies: int, work: Path, same: dict, workers: int | str = "auto") -> dict:
    recipe = work / "bench.yaml"
    starts = "\n".join(f"  - {base}/c{i}/index.html" for i in range(copies))
    recipe.write_text(f"name: bench\nstart_urls:\n{starts}\nrobots_sitemaps: false\nmin_chars: 50\n", encoding="utf-8")
    out = work / "ours"
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR), env.get("PYTHONPATH", "")])
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
                "DATAAGENT_PROGRESS": 0,
                "EXTENSIONS": {"crawlers.progress.CrawlProgress": 500, CLOCK: 0},
            },
        ),
        env=env,
        cwd=REPO,
        check=True,
    )
    stats = json.loads((out / "crawl_stats.json").read_text())["stats"]
    PART_SECONDS.append({k.rsplit("/", 1)[1]: v / stats["dataagent/pages"] for k, v in stats.items()
                         if k.startswith("dataagent/seconds/")})  # fmt: skip
    cpu = stats["bench/cpu_seconds"] + stats.get("dataagent/extract_worker_cpu_seconds", 0.0)
    return {"pages": stats["dataagent/pages"], "elapsed": stats["elapsed_time_seconds"], "cpu": cpu}


PART_SECONDS: list[dict[str, float]] = []  # per run of ours: seconds per page of each extraction part


def run_plain(base: str, copies: int, work: Path, same: dict) -> dict:
    stats_file = work / "plain_stats.json"
    starts = ",".join(f"{base}/c{i}/index.html" for i in range(copies))
    code = (
        "import json,sys; from scrapy.crawler import CrawlerProcess; sys.path.insert(0, sys.argv[1]);"
        "from plain_spider import PlainSpider; s=json.loads(sys.argv[2]); p=CrawlerProcess(s);"
        "c=p.create_crawler(PlainSpider); p.crawl(c, start_urls=sys.argv[3]); p.start();"
        "st=c.stats.get_stats(); open(sys.argv[4],'w').write(json.dumps("
        "{'pages': st.get('bench/pages',0), 'elapsed': st['elapsed_time_seconds'], 'cpu': st['bench/cpu_seconds']}))"
    )
    # The anchor gets our one-method Downloader fix too: stock Scrapy 2.19 ignores the
    # per-domain limit (crawlers/polite.py), which would make it faster by being rude.
    settings = {
        **same,
        "LOG_FILE": str(work / "plain.log"),
        "DOWNLOADER": "crawlers.polite.PoliteDownloader",
        "EXTENSIONS": {CLOCK: 0},
    }
    env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), json.dumps(settings), starts, str(stats_file)],
        env=env,
        cwd=work,
        check=True,
    )
    return json.loads(stats_file.read_text())


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


def part_costs(rounds: int = 3) -> dict[str, float]:
    """CPU ms per page of each part of our crawl, on the sample pages in this process (warm).

    decode, metadata, text and faq are process_page's own timings (wall-clock: on a loaded machine they
    exceed the CPU-timed total); the other parts are timed here around the
    same calls the crawl makes: language id and content hash of the page text (inside process_page's total
    but outside its four timings), the near-dup signature and one exact-Jaccard check against a kept page, the
    journal line, and link extraction (which plain Scrapy pays too).
    """
    from scrapy.http import HtmlResponse

    from crawlers.extract import process_page
    from crawlers.items import DocumentItem
    from crawlers.spiders.site import SiteLinkExtractor
    from crawlers.workers import warm_up
    from validate.shingles import char_shingle_array, jaccard_sorted, minhash
    from validate.text import content_hash, detect_language, weighted_length

    warm_up()
    base = "http://127.0.0.1:1"
    pages = [(url, body) for url, (_, _, body) in site_routes(base, 1).items() if url.endswith(".html")]
    links = SiteLinkExtractor()
    cost: dict[str, float] = {}

    def timed(part: str, fn):  # noqa: ANN001, ANN202
        start = time.process_time()
        out = fn()
        cost[part] = cost.get(part, 0.0) + time.process_time() - start
        return out

    n = 0
    kept = char_shingle_array("")
    minhash(kept, 128)  # imports datasketch and draws the permutations: once per crawl, not per page
    for _ in range(rounds):
        for path, body in pages:
            url = base + path
            page = timed("process_page (total)", lambda: process_page(body, "utf-8", url, {}, 10.0))  # noqa: B023
            for part, seconds in page["timings"].items():  # process_page times its parts in wall-clock time
                cost[f"{part} (wall)"] = cost.get(f"{part} (wall)", 0.0) + seconds
            doc = page["doc"]
            if doc is not None:
                text = doc["text"]
                timed("language id (text)", lambda: detect_language(text))  # noqa: B023
                timed("content hash", lambda: content_hash(text))  # noqa: B023
                timed("length filter", lambda: weighted_length(text))  # noqa: B023
                grams = timed("near-dup: shingles", lambda: char_shingle_array(text))  # noqa: B023
                timed("near-dup: MinHash", lambda: minhash(grams, 128))  # noqa: B023
                timed("near-dup: exact Jaccard", lambda: jaccard_sorted(grams, kept))  # noqa: B023
                kept = grams
                item = DocumentItem(fetched_at="", http_status=200, source="b", license="l", **doc)
                timed("journal JSON line", lambda: json.dumps(vars(item), ensure_ascii=False))  # noqa: B023
            response = HtmlResponse(url, body=body, headers={"Content-Type": "text/html; charset=utf-8"})
            timed("link extraction", lambda: links.extract_links(response))  # noqa: B023
            n += 1
    return {part: seconds / n * 1000 for part, seconds in cost.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--copies", type=int, default=0, help="site copies of the cpu-bound scenario (default 25)")
    ap.add_argument("--scenarios", default="cpu,realistic", help="which to run: cpu, realistic or both")
    ap.add_argument("--no-parts", action="store_true", help="skip the per-part table")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    chosen = [s.strip() for s in args.scenarios.split(",")]
    for name, latency, per_domain, copies in SCENARIOS:
        if not any(name.startswith(c) for c in chosen):
            continue
        if args.copies and latency == 0.0:
            copies = args.copies
        same = {**BASE, "CONCURRENT_REQUESTS_PER_DOMAIN": per_domain}
        server = LoggingServer({}, delay=latency)
        server.routes.update(site_routes(server.base_url, copies))
        runs: dict[str, list[dict]] = {label: [] for label, _, _ in VARIANTS}
        with server, tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                for label, fn, extra in VARIANTS:
                    work = Path(tmp) / f"{label}{r}"
                    work.mkdir()
                    runs[label].append(fn(server.base_url, copies, work, same, **extra))
        rate = {k: statistics.median(r["pages"] / r["elapsed"] for r in v) for k, v in runs.items()}
        cpu = {k: statistics.median(r["cpu"] / r["pages"] * 1000 for r in v) for k, v in runs.items()}
        print(f"\n{name} ({copies * 40} pages, median of {args.repeats})")
        print(f"  {'plain Scrapy (anchor)':48s}: {rate['plain']:6.0f} pages/s  {cpu['plain']:6.2f} CPU ms/page")
        for label, _, _ in VARIANTS[1:]:
            print(
                f"  DataAgent, {NOTES[label]:37s}: {rate[label]:6.0f} pages/s  {cpu[label]:6.2f} CPU ms/page"
                f"  overhead {rate['plain'] / rate[label]:.2f}x by pages/s, {cpu[label] / cpu['plain']:.2f}x by CPU"
                " (goal <= 1.5x)"
            )
        # Per-part cost measured inside process_page, wherever it ran (inline or in a worker).
        parts = {k: statistics.median(run.get(k, 0.0) for run in PART_SECONDS) for k in PART_SECONDS[0]}
        print("  per page, by part (ms):", ", ".join(f"{k} {v * 1000:.2f}" for k, v in sorted(parts.items())))
        PART_SECONDS.clear()
    if args.no_parts:
        return
    print("\nCPU ms per page of each part, on the sample pages in one warm process:")
    for part, ms in part_costs().items():
        print(f"  {part:28s} {ms:6.2f}")


if __name__ == "__main__":
    main()
