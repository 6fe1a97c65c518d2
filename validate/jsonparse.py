"""Tolerant JSON parsing for model answers.

Hand-written because json.loads is strict and models are not: they wrap JSON in a
Markdown fence, add a sentence before or after, think aloud in a <think> block first,
leave a trailing comma, quote with single quotes (a Python literal), or write one JSON
object per line. LangChain's QAGenerationChain crashes on exactly these; here each
repair is tried in turn and the error names what was wrong when none works.

What is deliberately not repaired: JSON cut off mid-value. Closing the brackets of a
truncated answer (as json-repair does) turns half an answer into a complete-looking
one; such an answer is refused so the engine can ask again.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|jsonl|json5|javascript|js|python)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_DECODER = json.JSONDecoder()
# Each '{' or '[' in the prose is a place JSON may start; past this many, the answer is not JSON with prose
# around it but prose with brackets in it, and trying every one would be quadratic in a long answer.
MAX_STARTS = 64


def parse_json_loose(text: str | None) -> Any:
    """The JSON value in ``text``; raises ValueError("unparseable: ...") when there is none.

    Tried in order, first success wins: the whole text; each fenced block; JSON lines
    (every non-blank line one object: returned as a list); the first object or array that
    decodes, with prose before and after. Each candidate is also tried without trailing
    commas and as a Python literal (single quotes, True/False/None).
    """
    if text is None or not text.strip():
        raise ValueError("unparseable: empty answer")
    text = _THINK.sub("", text).strip().lstrip("\ufeff")
    if not text:
        raise ValueError("unparseable: empty answer")
    candidates = [text, *(block.strip() for block in _FENCE.findall(text))]
    for candidate in candidates:
        value = _parse_whole(candidate)
        if value is not _NOTHING:
            return value
    for candidate in candidates:
        value = _json_lines(candidate)
        if value is not _NOTHING:
            return value
    for candidate in candidates:
        value = _embedded(candidate)
        if value is not _NOTHING:
            return value
    raise ValueError("unparseable: no JSON object or array in the answer")


_NOTHING = object()


def loads_lenient(text: str) -> Any:
    """``json.loads`` that also takes raw control characters inside strings and trailing commas, the defects of
    hand-written JSON (JSON-LD in web pages); raises ValueError like json.loads."""
    try:
        return json.loads(text, strict=False)
    except ValueError:
        return json.loads(_TRAILING_COMMA.sub(r"\1", text), strict=False)


def _variants(text: str) -> list[str]:
    without_commas = _TRAILING_COMMA.sub(r"\1", text)
    return [text] if without_commas == text else [text, without_commas]


def _parse_whole(text: str) -> Any:
    if not text or text[0] not in "{[":
        return _NOTHING
    for attempt in _variants(text):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    for attempt in _variants(text):
        value = _python_literal(attempt)
        if value is not _NOTHING:
            return value
    return _NOTHING


def _python_literal(text: str) -> Any:
    """A dict or list written as a Python literal ({'question': 'x'}), which some models emit instead of JSON."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOTHING
    return value if isinstance(value, dict | list) else _NOTHING


def _json_lines(text: str) -> Any:
    """Two or more non-blank lines, each a JSON object: a list of them (JSON Lines)."""
    lines = [ln.strip().rstrip(",") for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or not all(ln.startswith("{") and ln.endswith("}") for ln in lines):
        return _NOTHING
    values = []
    for line in lines:
        value = _parse_whole(line)
        if not isinstance(value, dict):
            return _NOTHING
        values.append(value)
    return values


def _never_closes(text: str) -> bool:
    """More brackets opened than closed from here to the end (strings skipped): cut off, not prose."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth > 0 or in_string


def _starts(text: str) -> list[int]:
    return [m.start() for m in re.finditer(r"[{\[]", text)][:MAX_STARTS]


def _embedded(text: str) -> Any:
    """The first object or array in the text that decodes: JSON with prose before and after it."""
    for variant in _variants(text):
        for start in _starts(variant):
            try:
                value, _ = _DECODER.raw_decode(variant, start)
            except json.JSONDecodeError:
                if _never_closes(variant[start:]):
                    # The JSON that starts here is cut off: an object inside it is only part of the
                    # answer, and taking it would pass a truncated answer off as a complete one.
                    return _NOTHING
                continue
            # A bracketed word in the prose ("[1]", "[]") is not the answer the prompt asked for.
            if isinstance(value, dict) and value or isinstance(value, list) and any(isinstance(v, dict) for v in value):
                return value
    # Last resort: the outermost span as a Python literal, for single-quoted JSON inside prose.
    starts = _starts(text)
    if starts:
        start = starts[0]
        end = max(text.rfind("}"), text.rfind("]"))
        if end > start:
            for attempt in _variants(text[start : end + 1]):
                value = _python_literal(attempt)
                if value is not _NOTHING:
                    return value
    return _NOTHING
