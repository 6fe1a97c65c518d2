"""Crawl recipes: one YAML file says what to crawl and how to treat it.

The format is documented in docs/CRAWLING.md and by the commented examples in
crawlers/recipes/. Loading checks every key so a typo fails with one line naming the
file and the key, before anything is fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlparse

import yaml

from validate.errors import DataAgentError

RECIPES_DIR = Path(__file__).parent / "recipes"
# Stands for the address of a site that only has one once it is served (the bundled sample site
# on a loopback port): a recipe holding it is filled by ``load_recipe(path, base_url=...)``.
BASE_URL = "__BASE_URL__"


@dataclass
class Recipe:
    name: str
    start_urls: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)  # sitemap.xml, sitemap index, .xml.gz
    robots_sitemaps: bool = True  # also follow the Sitemap: lines of robots.txt
    allowed_domains: list[str] = field(default_factory=list)  # default: hosts of the URLs above
    follow: list[str] = field(default_factory=list)  # regexes; empty = follow every in-domain link
    deny: list[str] = field(default_factory=list)  # regexes never fetched
    max_pages: int = 0  # 0 = no limit
    max_depth: int = 0  # link hops from a start URL or sitemap entry; 0 = no limit
    language: str = ""  # hint used when detection says "und"
    languages: list[str] = field(default_factory=list)  # keep only these tags; empty = all
    min_chars: int = 200  # main text shorter than this is dropped as too_short (a Han character counts 3)
    near_dup_threshold: float = 0.9  # MinHash Jaccard above which a page is a near duplicate
    selectors: dict[str, str] = field(default_factory=dict)  # main / title / published_at -> css:... or xpath:...
    license: str = ""  # licence or terms note copied into every record
    settings: dict[str, object] = field(default_factory=dict)  # Scrapy settings for this crawl

    def __post_init__(self) -> None:
        if not self.start_urls and not self.sitemaps:
            raise ValueError("needs start_urls or sitemaps")
        for url in [*self.start_urls, *self.sitemaps]:
            if urlparse(url).scheme not in ("http", "https"):
                raise ValueError(f"not an http(s) URL: {url!r}")
        for pattern in [*self.follow, *self.deny]:
            re.compile(pattern)
        for name, sel in self.selectors.items():
            if name not in ("main", "title", "published_at"):
                raise ValueError(f"unknown selector {name!r} (main, title, published_at)")
            if not sel.startswith(("css:", "xpath:")):
                raise ValueError(f"selector {name!r} must start with 'css:' or 'xpath:'")
        if not self.allowed_domains:
            self.allowed_domains = sorted({urlparse(u).hostname for u in [*self.start_urls, *self.sitemaps]})


def load_recipe(path: str | Path, base_url: str = "") -> Recipe:
    """The recipe in ``path``; ``base_url`` (scheme://host:port) replaces the ``__BASE_URL__`` placeholder."""
    path = Path(path)
    if not path.is_file():
        raise DataAgentError("no such recipe file", path)
    text = path.read_text(encoding="utf-8")
    if BASE_URL in text:
        if not base_url:
            raise DataAgentError(
                f"the recipe's URLs start with the placeholder {BASE_URL}: give the site's address with "
                "`-a base_url=http://HOST:PORT` (for the sample site, `dataagent demo --serve` serves it and "
                "prints the whole command)",
                path,
            )
        text = text.replace(BASE_URL, base_url.rstrip("/"))
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise DataAgentError(f"recipe is not valid YAML: {getattr(exc, 'problem', exc)}", path, line=line) from None
    if not isinstance(raw, dict):
        raise DataAgentError("a recipe must be a mapping of recipe keys", path)
    known = {f.name: f for f in fields(Recipe)}
    for key, value in raw.items():
        if key not in known:
            raise DataAgentError(f"unknown recipe key '{key}' (known: {', '.join(known)})", path)
        expected = {
            "list[str]": list,
            "dict[str, str]": dict,
            "dict[str, object]": dict,
            "int": int,
            "float": (int, float),
            "bool": bool,
            "str": str,
        }[str(known[key].type)]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise DataAgentError(f"recipe key '{key}' expected {known[key].type}, got {type(value).__name__}", path)
    raw.setdefault("name", path.stem)
    try:
        return Recipe(**raw)
    except ValueError as exc:
        raise DataAgentError(f"bad recipe: {exc}", path) from None


def adhoc_recipe(start_url: str, **overrides: object) -> Recipe:
    """A recipe for `-a start_url=...`: the site's own sitemap (via robots.txt) and links."""
    root = f"{urlparse(start_url).scheme}://{urlparse(start_url).netloc}"
    values = {
        "name": urlparse(start_url).hostname or "site",
        "start_urls": [start_url],
        "sitemaps": [f"{root}/sitemap.xml"],
        **{k: v for k, v in overrides.items() if v not in (None, "")},
    }
    return Recipe(**values)
