"""Run a crawl through the real `scrapy crawl` machinery, in a child process.

A child process because Twisted's reactor cannot be restarted in one process, and
because it is exactly what a user gets from `scrapy crawl site` at the repo root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from crawlers.recipe import load_recipe
from validate.errors import DataAgentError, StageFailed


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
    if target.endswith((".yaml", ".yml")):
        starts = [*load_recipe(target).start_urls, *load_recipe(target).sitemaps]
    else:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DataAgentError(f"not a recipe file or an http(s) start URL: {target!r}")
        starts = [target]
    if not (settings or {}).get("SCHEDULER"):  # a scale-out worker waits for URLs from Redis instead
        reachable(starts)
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
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if not any(summary.get(name, {}).get(k) for name in ("documents", "qa") for k in ("kept", "quarantined")):
        raise StageFailed(_nothing_kept(summary, target, out / "crawl.log"))
    return summary


def _nothing_kept(summary: dict, target: str, log: Path) -> str:
    dropped = summary.get("dropped", {})
    pages = summary.get("stats", {}).get("dataagent/pages", 0)
    top = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])[:3]) or "nothing dropped"
    if not pages:
        return f"crawl of {target} fetched no page ({top}); see {log}"
    return f"crawl of {target} fetched {pages} page(s) but kept none ({top}); see {log}"


def reachable(urls: list[str], timeout: float = 10.0) -> None:
    """Fail in seconds, not after the crawler's polite retries, when no start host answers at all.

    One request per distinct host for /robots.txt (which a polite crawler fetches first anyway);
    any HTTP answer, an error status included, proves the host is there. urllib honours the
    same proxy variables Scrapy does.
    """
    errors = []
    roots = dict.fromkeys(f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in urls)
    for root in roots:
        try:
            with urllib.request.urlopen(urllib.request.Request(root + "/robots.txt", method="HEAD"), timeout=timeout):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{root}: {getattr(reason, 'strerror', None) or reason}")
    if errors:
        raise StageFailed(
            f"cannot reach the site: {errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
        )
