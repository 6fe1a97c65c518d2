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
    target: str,
    out_dir: str | Path,
    *,
    source: str = "",
    license: str = "",  # noqa: A002 - the recipe's field name
    max_pages: int = 0,
    settings: dict[str, object] | None = None,
    quiet: bool = True,
) -> dict:
    """Crawl a recipe file or a start URL; returns the crawl summary the writer pipeline saved.

    The HTTP cache goes under ``out_dir`` so re-crawling into the same folder is reproducible.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    spider_arg = f"recipe={target}" if target.endswith((".yaml", ".yml")) else f"start_url={target}"
    cmd = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "site",
        "-a",
        spider_arg,
        "-s",
        f"DATAAGENT_OUTPUT_DIR={out}",
        "-s",
        f"LOG_FILE={out / 'crawl.log'}",
        "-s",
        f"HTTPCACHE_DIR={out / 'httpcache'}",
    ]
    for name, value in (("source", source), ("license", license), ("max_pages", max_pages)):
        if value:
            cmd += ["-a", f"{name}={value}"]
    for key, value in (settings or {}).items():
        cmd += ["-s", f"{key}={json.dumps(value) if isinstance(value, dict | list) else value}"]
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    proc = subprocess.run(cmd, env=env, capture_output=quiet, text=True)
    summary_path = out / "crawl_stats.json"
    if proc.returncode != 0 or not summary_path.exists():
        last = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
        detail = f": {last[0]}" if last else ""
        raise DataAgentError(f"crawl of {target} failed (exit {proc.returncode}); see {out / 'crawl.log'}{detail}")
    return json.loads(summary_path.read_text(encoding="utf-8"))
