"""One progress switch for every stage: bars on stderr when on, nothing when off; stdout untouched."""

from __future__ import annotations

import re

from crawlers.run import crawl_site
from validate.progress import bar, progress_enabled

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
