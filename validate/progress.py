"""One progress mechanism for every long step: a tqdm bar on stderr, or nothing.

Every stage (the crawl's child process included) asks ``progress_enabled()`` so one switch decides
for all of them: ``DATAAGENT_PROGRESS=0`` (what ``dataagent --quiet`` sets) for CI logs,
``DATAAGENT_PROGRESS=1`` to force bars into a log file. tqdm rather than rich.progress because
tqdm already draws the bars of the libraries we drive (datasets, huggingface_hub uploads), so a
run shows one style throughout; stdout stays for the JSON summary.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm

ENV = "DATAAGENT_PROGRESS"


def progress_enabled() -> bool:
    """DATAAGENT_PROGRESS=1 or 0 decides; otherwise on only when stderr is a terminal."""
    flag = os.environ.get(ENV, "")
    if flag:
        return flag.lower() not in ("0", "false", "no", "off")
    return sys.stderr.isatty()


def bar(total: int | None, desc: str, unit: str = "it", **kwargs: Any) -> tqdm:
    """A bar on stderr, disabled (every call a no-op) when progress is off."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        mininterval=kwargs.pop("mininterval", 0.5),
        disable=kwargs.pop("disable", False) or not progress_enabled(),
        dynamic_ncols=True,
        **kwargs,
    )


class Steps:
    """A bar over a stage's named steps (the gate: checks, near-duplicates, ..., report) with the rows in hand.

    For stages whose work is a few long vectorised steps: a row counter would jump from 0 to all at once,
    while the step name says where a slow run is.
    """

    def __init__(self, desc: str, names: list[str], rows: int) -> None:
        self.bar = bar(len(names), desc, unit="step", bar_format="{desc}: {n}/{total} steps [{elapsed}]{postfix}")
        self.rows = rows
        self.running = False

    def start(self, name: str, rows: int | None = None) -> None:
        """Show ``name`` as the step now running (the previous one counted as done)."""
        if rows is not None:
            self.rows = rows
        if self.running:
            self.bar.update(1)
        self.running = True
        self.bar.set_postfix_str(f"{name}, {self.rows:,} rows")

    def close(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.set_postfix_str(f"done, {self.rows:,} rows")
        self.bar.close()
