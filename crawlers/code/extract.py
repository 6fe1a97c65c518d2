"""Repository in, CodeUnit records out, with a count of every file skipped and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from crawlers.code.repo import Checkout, list_files, open_checkout
from crawlers.code.units import EXTENSIONS, extract_units
from validate.contracts import CodeUnit, columns

MAX_FILE_BYTES = 1_000_000
_VENDORED = ("node_modules/", "vendor/", "third_party/", "dist/", "build/", "site-packages/")


def extract_checkout(checkout: Checkout, stats: Counter | None = None) -> pd.DataFrame:
    """Every unit in the checkout's tracked source files, as CodeUnit rows."""
    stats = stats if stats is not None else Counter()
    rows = []
    for rel in list_files(checkout.root):
        language = EXTENSIONS.get(Path(rel).suffix)
        if language is None:
            stats["skipped/not_source"] += 1
            continue
        reason = _skip_reason(checkout.root, rel)
        if reason:
            stats[f"skipped/{reason}"] += 1
            continue
        source = (checkout.root / rel).read_bytes()
        stats["files"] += 1
        for unit in extract_units(source, language):
            rows.append(
                {
                    "repo": checkout.repo,
                    "commit": checkout.commit,
                    "path": rel,
                    "language": language,
                    "license": checkout.license,
                    **asdict(unit),
                }
            )
    stats["units"] += len(rows)
    return pd.DataFrame(rows, columns=columns(CodeUnit))


def extract_repo(repo: str, stats: Counter | None = None) -> pd.DataFrame:
    """Open (or shallow-clone) ``repo`` and extract it."""
    return extract_checkout(open_checkout(repo), stats)


def _skip_reason(root: Path, rel: str) -> str | None:
    path = root / rel
    if any(part in f"{rel}/" for part in _VENDORED):
        return "vendored"
    if path.is_symlink():
        # A link may point outside the repository; it is never followed.
        return "symlink"
    if not path.is_file():
        return "not_a_file"
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return "too_large"
    head = path.read_bytes()[:8192]
    if b"\0" in head:
        return "binary"
    if ".min." in rel or (head.count(b"\n") <= 1 and size > 2000):
        return "minified"
    return None
