"""Extraction in worker processes (crawlers/workers.py): the same records as inline, bounded, shut down, crash-safe."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pandas as pd
import pytest

from crawlers.extract import process_page
from crawlers.run import crawl_site
from crawlers.workers import ExtractPool, cores, worker_count

PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>T</title></head><body><article>"
    "<h1>Release notes</h1>" + "<p>Version 3.1 fixes the date column of exported reports.</p>" * 8 + "</article>"
    "<details><summary>How do I export a report?</summary><p>Open the report and press Export.</p></details>"
    "</body></html>"
).encode()
ARGS = (PAGE, "utf-8", "http://h/a.html", {}, 10.0, "balanced")


def slow_page(*args):
    """process_page that takes a while, so pages pile up behind the in-flight bound."""
    time.sleep(0.05)
    return process_page(*args)


def crashing_page(*args):
    """Kills its worker for the URL that says so, like a parser segfault would."""
    if "crash" in args[2]:
        os._exit(1)
    return process_page(*args)


def _without_timings(page: dict) -> dict:
    return {k: v for k, v in page.items() if k != "timings"}


def test_worker_count_setting():
    assert worker_count(None) == worker_count("auto") == worker_count("") == max(cores() - 1, 1)
    assert worker_count(0) == 0 and worker_count("3") == 3
    with pytest.raises(ValueError, match="DATAAGENT_EXTRACT_WORKERS"):
        worker_count(-1)
    with pytest.raises(ValueError, match="DATAAGENT_EXTRACT_WORKERS"):
        worker_count("many")


def test_a_worker_returns_what_inline_extraction_returns_and_the_bound_holds():
    pool = ExtractPool(2, max_in_flight=2, func=slow_page)
    try:
        pool.start()

        async def run() -> list[dict]:
            return await asyncio.gather(*(pool.process(*ARGS) for _ in range(8)))

        pages = asyncio.run(run())
    finally:
        pool.close()
    inline = asyncio.run(ExtractPool(0).process(*ARGS))
    assert inline["doc"] and inline["pairs"]
    assert all(_without_timings(p) == _without_timings(inline) for p in pages)
    assert pool.peak_in_flight == 2  # eight pages, never more than two handed to the workers at once
    assert pool._executor is None  # closed: no worker left behind


def test_a_page_that_kills_its_worker_is_dropped_and_the_pool_recovers():
    pool = ExtractPool(1, func=crashing_page)
    try:
        pool.start()
        crash = (PAGE, "utf-8", "http://h/crash.html", {}, 10.0, "balanced")

        async def run() -> tuple[dict, dict]:
            return await pool.process(*crash), await pool.process(*ARGS)

        crashed, after = asyncio.run(run())
    finally:
        pool.close()
    assert crashed["drop"] == "extract_crash" and crashed["doc"] is None
    assert after["doc"] is not None and after["drop"] is None
    assert pool.restarts == 2  # the page was retried once in a fresh pool, then dropped


def _records(out) -> tuple[list[dict], list[dict]]:
    def load(name: str) -> list[dict]:
        rows = pd.read_json(out / name, lines=True).drop(columns=["fetched_at"]).to_dict("records")
        return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)

    return load("documents.jsonl"), load("qa.jsonl")


@pytest.mark.slow
def test_crawl_with_workers_keeps_the_same_records_as_inline(sample_site, tmp_path):
    outputs, stats = {}, {}
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        summary = crawl_site(
            f"{sample_site.base_url}/",
            out,
            source="sample",
            license="CC BY 4.0",
            settings={
                "AUTOTHROTTLE_ENABLED": False,
                "HTTPCACHE_ENABLED": False,
                "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
                "DATAAGENT_EXTRACT_WORKERS": workers,
            },
        )
        outputs[workers], stats[workers] = _records(out), summary["stats"]
    assert outputs[0][0] and outputs[0][1]
    assert outputs[2] == outputs[0]
    assert stats[0]["dataagent/extract_workers"] == 0 and stats[2]["dataagent/extract_workers"] == 2
    assert 1 <= stats[2]["dataagent/extract_peak_in_flight"] <= 4
    assert stats[2]["dataagent/pages"] == stats[0]["dataagent/pages"]
    # The workers' CPU time comes back with their pages, for the bench's CPU cost per page.
    assert stats[2]["dataagent/extract_worker_cpu_seconds"] > 0
    assert "dataagent/extract_worker_cpu_seconds" not in stats[0]


def test_the_near_dup_signature_is_datasketchs_own():
    """validate.shingles.minhash computes datasketch's affine32 update_batch in numpy: the same signature (LSH
    buckets and all), and the exact Jaccard on sorted shingle arrays is the one on sets."""
    from datasketch import MinHash

    from validate.shingles import char_shingle_array, char_shingles, jaccard, jaccard_sorted, minhash

    texts = ["", "abc", PAGE.decode(), "重複的段落內容，測試近似重複。" * 20, "Version 3.1 fixes the date column." * 9]
    for text in texts:
        grams = char_shingles(text)
        reference = MinHash(num_perm=128, seed=1, hashfunc=lambda v: int(v) & 0xFFFFFFFF)
        reference.update_batch(list(grams))
        array = char_shingle_array(text)
        assert set(array.tolist()) == grams
        assert minhash(array, 128).hashvalues.tolist() == reference.hashvalues.tolist()
        assert minhash(list(grams), 128).jaccard(reference) == 1.0
        for other in texts:
            assert jaccard_sorted(array, char_shingle_array(other)) == jaccard(grams, char_shingles(other))
