"""Run a crawl through the real `scrapy crawl` machinery, in a child process.

A child process because Twisted's reactor cannot be restarted in one process, and
because it is exactly what a user gets from `scrapy crawl site` at the repo root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from validate.errors import DataAgentError


def crawl_site(
    start_url: str,
    out_dir: str | Path,
    *,
    source: str = "",
    license: str = "",  # noqa: A002 - the recipe's field name
    max_pages: int = 0,
    settings: dict[str, object] | None = None,
    quiet: bool = True,
) -> dict:
    """Crawl ``start_url``; returns the crawl summary the writer pipeline saved."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "site",
        "-a",
        f"start_url={start_url}",
        "-a",
        f"source={source}",
        "-a",
        f"license={license}",
        "-a",
        f"max_pages={max_pages}",
        "-s",
        f"DATAAGENT_OUTPUT_DIR={out}",
        "-s",
        f"LOG_FILE={out / 'crawl.log'}",
    ]
    for key, value in (settings or {}).items():
        cmd += ["-s", f"{key}={value}"]
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    proc = subprocess.run(cmd, env=env, capture_output=quiet, text=True)
    summary_path = out / "crawl_stats.json"
    if proc.returncode != 0 or not summary_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise DataAgentError(f"crawl of {start_url} failed (exit {proc.returncode}); see {out / 'crawl.log'} {tail}")
    return json.loads(summary_path.read_text(encoding="utf-8"))
