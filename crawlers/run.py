"""The crawl stage as one call, ``run(target, out, config) -> summary``: the real `scrapy crawl` machinery,
in a child process.

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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from crawlers.recipe import load_recipe
from validate.errors import DataAgentError, StageFailed
from validate.progress import progress_enabled


@dataclass
class CrawlConfig:
    """How to crawl: what every record is stamped with, when to stop, extra Scrapy settings."""

    source: str = ""  # stored in every record's ``source``; default: the recipe's name or the host
    license: str = ""  # noqa: A003 - the records' field name; copied into every record
    max_pages: int = 0  # 0 = no limit
    settings: dict[str, object] = field(default_factory=dict)  # extra Scrapy settings (-s KEY=VALUE)
    quiet: bool = True  # the child's output captured (its last line is quoted when it fails)


def run(target: str, out: str | Path, config: CrawlConfig | None = None) -> dict:
    """The crawl stage as one call: a recipe file or start URL in, documents/qa (+ quarantine) and
    crawl_stats.json out under ``out``; returns the crawl summary. See :func:`crawl_site`."""
    config = config or CrawlConfig()
    return crawl_site(
        target,
        out,
        source=config.source,
        license=config.license,
        max_pages=config.max_pages,
        settings=config.settings or None,
        quiet=config.quiet,
    )


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
    # With progress on, the child's stderr (its progress bar; Scrapy's log goes to crawl.log) reaches the terminal.
    show = quiet and progress_enabled()
    pipe = subprocess.PIPE if quiet else None
    proc = subprocess.run(cmd, env=env, stdout=pipe, stderr=None if show else pipe, text=True)
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
