"""One progress switch for every stage: bars on stderr when on, nothing when off; stdout untouched."""

from __future__ import annotations

import json
import re

from conftest import instruction_row

from crawlers.run import crawl_site
from validate.progress import bar, progress_enabled
from validate.run import gate_file, publish_file

SETTINGS = {"AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "DATAAGENT_PROGRESS_INTERVAL": 0.2}


def test_the_switch(monkeypatch):
    monkeypatch.setenv("DATAAGENT_PROGRESS", "0")
    assert not progress_enabled()
    assert bar(3, "x").disable
    monkeypatch.setenv("DATAAGENT_PROGRESS", "1")
    assert progress_enabled()


def test_crawl_shows_pages_fetched_kept_and_dropped_on_stderr(sample_site, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DATAAGENT_PROGRESS", "1")
    summary = crawl_site(f"{sample_site.base_url}/", tmp_path / "on", settings=SETTINGS)
    err = capfd.readouterr().err
    last = [line for line in re.split(r"[\r\n]", err) if line.startswith("crawl:")][-1]
    fetched = int(re.search(r"crawl: (\d+)page", last).group(1))
    kept = int(re.search(r"kept=(\d+)", last).group(1))
    # The bar's last refresh is after the spider closed: its figures are the crawl's final ones.
    assert fetched == summary["stats"]["response_received_count"]
    assert kept == summary["stats"]["item_scraped_count"]
    assert re.search(r"dropped=\d+", last)


def test_crawl_is_silent_when_progress_is_off(sample_site, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DATAAGENT_PROGRESS", "0")
    crawl_site(f"{sample_site.base_url}/", tmp_path / "off", settings=SETTINGS)
    assert "crawl:" not in capfd.readouterr().err


def test_gate_and_publish_name_each_step_with_the_rows_in_hand(tmp_path, monkeypatch, capfd):
    rows = [
        instruction_row(f"What does clause {i} of the lease say about repairs?", f"Clause {i} says the landlord pays.")
        for i in range(5)
    ]
    src = tmp_path / "records.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setenv("DATAAGENT_PROGRESS", "1")
    report = gate_file(src, tmp_path / "on")
    err = capfd.readouterr().err
    for step in ("checks, 5 rows", "near-duplicates", "decontamination", "write", "report", "5/5 steps"):
        assert step in err, step
    assert f"done, {report['accepted']} rows" in err
    publish_file(tmp_path / "on" / "accepted.parquet", tmp_path / "ds", pretty_name="Leases", license="cc-by-4.0")
    err = capfd.readouterr().err
    assert "publish:" in err and "write shards, exports and card" in err and "2/2 steps" in err
    monkeypatch.setenv("DATAAGENT_PROGRESS", "0")
    gate_file(src, tmp_path / "off")
    assert "gate:" not in capfd.readouterr().err
