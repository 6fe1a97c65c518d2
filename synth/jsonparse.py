"""Tolerant JSON parsing for model answers.

Hand-written because json.loads is strict and models are not: they wrap JSON in a
Markdown fence, add a sentence before or after, or leave a trailing comma. LangChain's
QAGenerationChain crashes on exactly these; here each repair is tried in turn and the
error names what was wrong when none works.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def parse_json_loose(text: str) -> Any:
    """The JSON value in ``text``; raises ValueError("unparseable: ...") when there is none."""
    if text is None or not text.strip():
        raise ValueError("unparseable: empty answer")
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced.group(1).strip())
    for candidate in list(candidates):
        span = _outer_span(candidate)
        if span:
            candidates.append(span)
    for candidate in candidates:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(attempt)
            except json.JSONDecodeError:
                continue
    raise ValueError("unparseable: no JSON object or array in the answer")


def _outer_span(text: str) -> str | None:
    """From the first '{' or '[' to the last matching closer: drops prose around the JSON."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    closer = "}" if text[start] == "{" else "]"
    end = text.rfind(closer)
    return text[start : end + 1] if end > start else None
