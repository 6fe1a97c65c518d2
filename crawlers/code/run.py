"""The extract stage as one call: ``run(repos, out, config) -> summary``.

Repositories in (git URLs, shallow-cloned, or local checkouts); ``code_units.{jsonl,parquet}``,
``code_stats.json`` and, when a unit breaks the CodeUnit contract, ``code_units.quarantine.*`` (the
one quarantine schema, validate/quarantine.py) out. ``dataagent extract-code`` and the demo call it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crawlers.code.extract import extract_repos, step_summary
from crawlers.code.filters import DEDUP_MODES, FilterConfig
from validate.contracts import CodeUnit
from validate.errors import DataAgentError, StageFailed
from validate.gate import split_by_contract
from validate.io import write_records
from validate.progress import bar
from validate.quarantine import write_quarantine


@dataclass
class CodeConfig:
    """How to extract: the filters and dedup (FilterConfig), parser processes, licences, repo names."""

    filters: FilterConfig = field(default_factory=FilterConfig)
    workers: int = field(default=0, metadata={"help": "Parser processes (0 = one per core)."})
    license_allow: list[str] = field(
        default_factory=list,
        metadata={"help": "Comma-separated SPDX ids; repos with another licence are skipped."},
    )
    # The name a repository's units carry in ``repo`` instead of the path or URL given (a temporary
    # checkout's path means nothing to a reader).
    repo_names: dict[str, str] = field(default_factory=dict)


def check(config: CodeConfig) -> None:
    """A one-line DataAgentError for settings no extraction could use."""
    if config.filters.dedup not in DEDUP_MODES:
        raise DataAgentError(f"--dedup: use one of {', '.join(DEDUP_MODES)}, got {config.filters.dedup!r}")


def run(repos: list[str], out: str | Path, config: CodeConfig | None = None) -> dict:
    """Extract every repository into ``out``; the summary is what code_stats.json holds.

    A repository that cannot be read is skipped and listed in ``failures``; StageFailed (after
    code_stats.json is written) when none could be read. Units that break the contract are
    quarantined, so units written + quarantined = units the steps kept.
    """
    config = config or CodeConfig()
    check(config)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    stats: Counter = Counter()
    failures: list[str] = []
    file_errors: list[str] = []
    with bar(len(repos), "repositories", unit="repo", disable=len(repos) < 2) as progress:
        units = extract_repos(
            repos,
            stats,
            config.filters,
            config.workers,
            config.license_allow,
            progress=progress,
            failures=failures,
            file_errors=file_errors,
        )
    if config.repo_names and len(units):
        units["repo"] = [config.repo_names.get(r, r) for r in units["repo"]]
    accepted, quarantined = split_by_contract(units, CodeUnit)
    summary = {
        "output": str(folder / "code_units.parquet"),
        "steps": step_summary(stats),
        **dict(sorted(stats.items())),
        "quarantined": len(quarantined),
        "failures": failures,
        "file_errors": file_errors,
    }
    (folder / "code_stats.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    if failures and len(failures) == len(repos):
        raise StageFailed(
            f"no repository could be read: {failures[0]}"
            + (f" and {len(failures) - 1} more" if len(failures) > 1 else "")
        )
    write_records(accepted, folder / "code_units", CodeUnit)
    if len(quarantined):
        where = [f"{repo}:{path}" for repo, path in zip(quarantined["repo"], quarantined["path"], strict=True)]
        write_quarantine(
            quarantined.assign(source_file=where),
            folder / "code_units.quarantine",
            "extract",
            id_column="qualified_name",
            row_column="start_line",
        )
    return summary
