"""LLM-backed generators: each module builds engine requests and turns results into records.

Every generator module has the same two entry points:

- ``build_requests(...) -> list[GenRequest]``: one chat request per unit of work; ``meta``
  carries whatever ``to_records`` needs later (source, language, bounds, model).
- ``to_records(result) -> list[dict]``: InstructionRecord dicts made with
  ``synth.records.make_record``, or ``ParseError`` when the answer has the wrong shape,
  so the caller can quarantine the raw text with the reason.

This package holds what they share: the error, prompt loading and shape checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from validate.jsonparse import parse_json_loose
from validate.text import HAN_CLASS, HANGUL_CLASS, KANA_CLASS, detect_language, weighted_length

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
PROMPT_LANGUAGES = ("en", "zh-Hant", "zh-Hans")


class ParseError(ValueError):
    """The model's answer does not have the shape the generator asked for.

    ``category`` is a fixed phrase from a small set ("answer too short", "tests never use the
    function"), so quarantine reasons can be counted; ``detail`` holds what varies (an item's
    index, a length, a symbol name). ``reason`` joins them as "category (detail)", the form
    run_llm's ``_category`` cuts back to the category.
    """

    def __init__(self, category: str, detail: str | None = None) -> None:
        detail = _one_line(detail) if detail else None
        reason = f"{category} ({detail})" if detail else category
        super().__init__(reason)
        self.category = category
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class Reject:
    """One item of an answer that failed its checks: quarantined on its own, the others kept."""

    category: str
    detail: str | None
    raw: str

    @property
    def reason(self) -> str:
        return f"{self.category} ({self.detail})" if self.detail else self.category


def _one_line(text: str, limit: int = 200) -> str:
    # A detail ends up in one table cell and in "category (detail)": no newlines, bounded.
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@cache
def load_prompt(name: str) -> dict:
    """The prompt file ``synth/prompts/<name>.yaml``: {language: {system, user}}."""
    path = PROMPTS_DIR / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "en" not in data:
        raise ValueError(f"{path}: a prompt file needs at least an 'en' entry")
    for lang, entry in data.items():
        if not isinstance(entry, dict) or not {"system", "user"} <= set(entry):
            raise ValueError(f"{path}: '{lang}' needs 'system' and 'user'")
    return data


def prompt_language(language: str, available: Iterable[str] = PROMPT_LANGUAGES) -> str:
    """The prompt language for a document language: the same when a prompt exists, else English.

    zh-Hans never falls back to zh-Hant (or back): the model answers in the prompt's
    script, and a record labelled with one script must not be written in the other.
    """
    return language if language in set(available) else "en"


def render(name: str, language: str, /, **fields: object) -> list[dict]:
    """Chat messages (system + user) of prompt ``name`` in ``language``, placeholders filled."""
    prompt = load_prompt(name)
    entry = prompt[prompt_language(language, prompt)]
    return [
        {"role": "system", "content": entry["system"].strip().format(**fields)},
        {"role": "user", "content": entry["user"].strip().format(**fields)},
    ]


def generator_name(meta: Mapping) -> str:
    model = meta.get("model")
    return f"llm:{model}" if model else "llm"


def rows(data: pd.DataFrame | Iterable[Mapping]) -> Iterator[dict]:
    """Records as dicts, from a contract DataFrame or any iterable of mappings."""
    if isinstance(data, pd.DataFrame):
        yield from data.to_dict("records")
    else:
        for row in data:
            yield dict(row)


def check_result(result: object) -> None:
    """A failed request is a ParseError too: the caller quarantines it the same way.

    The engine's own "unparseable" is not final while there is text: the generators'
    parsing may find the answer the engine's did not (and is the one that decides).
    """
    error = getattr(result, "error", None)
    if error and not (error == "unparseable" and getattr(result, "text", None)):
        raise ParseError(f"request failed: {error}")


def answer_value(result: object) -> object:
    """The JSON value of a result's answer: the engine's parse when it made one, else the text's."""
    check_result(result)
    data = getattr(result, "data", None)
    if data is not None:
        return data
    text = getattr(result, "text", None)
    if not text or not text.strip():
        raise ParseError("answer is not a JSON object or list", "empty answer")
    try:
        return parse_json_loose(text)
    except ValueError as exc:
        raise ParseError("unparseable", str(exc).removeprefix("unparseable: ")) from None


def lower_keys(obj: Mapping) -> dict:
    """Keys case-folded and stripped: models write "Question", "ANSWER", " output"."""
    return {str(k).strip().casefold(): v for k, v in obj.items()}


def pick_field(item: Mapping, names: Sequence[str]) -> object:
    """The first of ``names`` (aliases, best first) present in ``item`` (keys already case-folded)."""
    for name in names:
        if name in item:
            return item[name]
    return None


def find_items(value: object, fields: Sequence[str], list_keys: Sequence[str]) -> list:
    """The list of items in an answer, whatever shape the server gave it.

    Accepted: a bare list of items; an object holding the list under one of ``list_keys``
    (or, failing those, under its only list of objects); a single item object (one that has
    one of ``fields``); any of these one level down ({"data": {"pairs": [...]}}), or a
    one-element list around such an object. Otherwise a ParseError with a fixed category.
    """
    fields = tuple(f.casefold() for f in fields)
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], dict):
            inner = lower_keys(value[0])
            if not any(f in inner for f in fields):
                try:
                    return find_items(value[0], fields, list_keys)
                except ParseError:
                    pass
        if not value:
            raise ParseError("item list is empty")
        return value
    if not isinstance(value, dict):
        raise ParseError("answer is not a JSON object or list", f"got {type(value).__name__}")
    obj = lower_keys(value)
    if any(f in obj for f in fields):
        return [value]
    for key in list_keys:
        if key in obj:
            found = obj[key]
            if isinstance(found, list):
                if not found:
                    raise ParseError("item list is empty", f"key {key}")
                return found
            if isinstance(found, dict):
                return find_items(found, fields, ())
            raise ParseError("item list is missing or not a list", f"key {key}: got {type(found).__name__}")
    lists = [v for v in obj.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if len(lists) == 1:
        return lists[0]
    nested = [v for v in obj.values() if isinstance(v, dict)]
    if len(nested) == 1:
        return find_items(nested[0], fields, list_keys)
    empty = [k for k, v in obj.items() if isinstance(v, list) and not v]
    if empty and not lists:
        raise ParseError("item list is empty", f"key {empty[0]}")
    raise ParseError("item list is missing or not a list", f"keys: {', '.join(sorted(obj)[:8])}")


def raw_of(item: object) -> str:
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, default=str)


def check_items(
    items: Iterable[object], check: Callable[[object, str], dict | None]
) -> tuple[list[dict], list[Reject]]:
    """(records, rejects): ``check(item, where)`` makes a record, returns None to skip, or raises ParseError."""
    records: list[dict] = []
    rejects: list[Reject] = []
    for i, item in enumerate(items):
        try:
            record = check(item, f"item {i}")
        except ParseError as exc:
            rejects.append(Reject(exc.category, exc.detail, raw_of(item)))
            continue
        if record is not None:
            records.append(record)
    return records, rejects


def all_or_nothing(records: list[dict], rejects: list[Reject]) -> list[dict]:
    """``to_records``'s contract: every item passed, or a ParseError with the first failure.

    Callers that quarantine item by item (``split_records``) keep the good items instead.
    """
    if rejects:
        raise ParseError(rejects[0].category, rejects[0].detail)
    return records


def register_check(template: str, check: Callable[[Any, str, Any], str | None]) -> None:
    """Give the engine a generator's answer check, so a useless answer is re-asked before it is cached.

    ``check(request, text, data) -> reason | None`` must be a module-level function (worker
    processes get it by reference). synth.engine may or may not have the registry
    (``register_check``); without it this does nothing.
    """
    from synth import engine

    hook = getattr(engine, "register_check", None)
    if callable(hook):
        hook(template, check)


def useless_answer(
    split: Callable[[Any], tuple[list[dict], list[Reject]]], request: Any, text: str, data: Any
) -> str | None:
    """The engine-side check every generator registers: the category of why an answer makes no record, or None.

    An answer with at least one good item is kept (its bad items are quarantined later); one
    with none is worth asking again, and ``split`` (the generator's ``split_records``) is the
    same judge ``to_records`` uses, so the engine and the quarantine never disagree.
    """
    from synth.engine import GenResult

    try:
        records, rejects = split(GenResult(request, text, data, None, {}, False))
    except ParseError as exc:
        return exc.category
    return rejects[0].category if rejects and not records else None


def first_problem(check: Callable[[], object]) -> str | None:
    """A check_answer's result from a function that raises ParseError: its category, or None."""
    try:
        check()
    except ParseError as exc:
        return exc.category
    return None


def need_dict(data: object, what: str = "answer") -> dict:
    if not isinstance(data, dict):
        raise ParseError(f"{what} is not a JSON object", f"got {type(data).__name__}")
    return data


def need_list(obj: Mapping, key: str) -> list:
    """``obj[key]`` as a non-empty list, else a ParseError naming the key."""
    value = obj.get(key)
    if not isinstance(value, list):
        raise ParseError("item list is missing or not a list", f"key {key}")
    if not value:
        raise ParseError("item list is empty", f"key {key}")
    return value


def need_str(obj: Mapping, key: str, where: str, *, allow_empty: bool = False) -> str:
    """``obj[key]`` as a stripped string; missing, non-string or (unless allowed) blank is a ParseError.

    The category names the field (a fixed schema name); ``where`` (an item's index) goes to the detail.
    """
    value = obj.get(key, "" if allow_empty else None)
    if value is None:
        raise ParseError(f"{key} is missing", where)
    if not isinstance(value, str):
        raise ParseError(f"{key} is not a string", f"{where}: got {type(value).__name__}")
    value = value.strip()
    if not value and not allow_empty:
        raise ParseError(f"{key} is empty", where)
    return value


def check_length(text: str, lo: int, hi: int, what: str, where: str | None = None) -> None:
    """Bounds in weighted characters (a Han character counts three), so one bound suits both scripts."""
    n = weighted_length(text)
    at = f"{where}: " if where else ""
    if n < lo:
        raise ParseError(f"{what} too short", f"{at}{n} < {lo} weighted chars")
    if n > hi:
        raise ParseError(f"{what} too long", f"{at}{n} > {hi} weighted chars")


def check_language(text: str, expected: str, *, same_family_only: bool = False) -> None:
    """Reject an answer in the wrong language or, for Chinese, the wrong script.

    Models asked in Traditional Chinese often drift into Simplified; a record labelled
    zh-Hant must not be. Only Chinese vs non-Chinese and Hant vs Hans are judged:
    short English text is too easily mistaken for another Latin-script language.
    ``same_family_only`` checks the script alone (for lists of names, which may be English).
    """
    got = detect_language(text)
    if got == "und":
        return
    if expected.startswith("zh"):
        if got.startswith("zh") and got != expected:
            raise ParseError("wrong script", f"expected {expected}, got {got}")
        if not got.startswith("zh") and not same_family_only:
            raise ParseError("wrong language", f"expected {expected}, got {got}")
    elif got.startswith("zh") and not same_family_only:
        raise ParseError("wrong language", f"expected {expected}, got {got}")


_CJK = re.compile("[" + KANA_CLASS + HAN_CLASS + HANGUL_CLASS + "]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
