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

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from validate.text import detect_language, weighted_length

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"
PROMPT_LANGUAGES = ("en", "zh-Hant", "zh-Hans")


class ParseError(ValueError):
    """The model's answer does not have the shape the generator asked for."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    """A failed request is a ParseError too: the caller quarantines it the same way."""
    if getattr(result, "error", None):
        raise ParseError(f"request failed: {result.error}")


def need_dict(data: object, what: str = "answer") -> dict:
    if not isinstance(data, dict):
        raise ParseError(f"{what} is not a JSON object (got {type(data).__name__})")
    return data


def need_list(obj: Mapping, key: str) -> list:
    """``obj[key]`` as a non-empty list, else a ParseError naming the key."""
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise ParseError(f"'{key}' is missing, not a list, or empty")
    return value


def need_str(obj: Mapping, key: str, where: str, *, allow_empty: bool = False) -> str:
    """``obj[key]`` as a stripped string; missing, non-string or (unless allowed) blank is a ParseError."""
    value = obj.get(key, "" if allow_empty else None)
    if not isinstance(value, str):
        raise ParseError(f"{where}.{key} is not a string (got {type(value).__name__})")
    value = value.strip()
    if not value and not allow_empty:
        raise ParseError(f"{where}.{key} is empty")
    return value


def check_length(text: str, lo: int, hi: int, where: str) -> None:
    """Bounds in weighted characters (a Han character counts three), so one bound suits both scripts."""
    n = weighted_length(text)
    if n < lo:
        raise ParseError(f"{where} too short ({n} < {lo} weighted chars)")
    if n > hi:
        raise ParseError(f"{where} too long ({n} > {hi} weighted chars)")


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
            raise ParseError(f"wrong script: expected {expected}, got {got}")
        if not got.startswith("zh") and not same_family_only:
            raise ParseError(f"wrong language: expected {expected}, got {got}")
    elif got.startswith("zh") and not same_family_only:
        raise ParseError(f"wrong language: expected {expected}, got {got}")


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
