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
