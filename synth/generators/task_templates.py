"""Fixed input/output tasks defined in ``synth/tasks/*.yaml`` (see the README there).

The record's instruction is the task's instruction in the document's language, its
input the (truncated) document text the model was shown, and its output the model's
answer; JSON answers are checked against the task's fields and re-serialised.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache, partial

import pandas as pd

from synth.chunking import truncate_tokens
from synth.engine import GenRequest, GenResult, read_yaml
from synth.generators import (
    PROMPTS_DIR,
    TASKS_DIR,
    ParseError,
    Reject,
    answer_value,
    check_language,
    check_length,
    check_result,
    first_problem,
    generator_name,
    load_prompt,
    lower_keys,
    need_dict,
    register_check,
    render,
    rows,
    useless_answer,
)
from synth.records import make_record
from validate.errors import DataAgentError
from validate.jsonparse import parse_json_loose
from validate.text import HAN_CLASS, HANGUL_CLASS, KANA_CLASS, detect_language, normalize_text

NOT_TASKS = {"seed_tasks"}  # YAML files in synth/tasks/ that are not task definitions
_FENCED = re.compile(r"^```[\w-]*\n(.*)\n```$", re.DOTALL)
_JSON_FENCE = re.compile(r"^```[ \t]*(json|jsonl|JSON)\b", re.MULTILINE)
_CJK_CLASS = KANA_CLASS + HAN_CLASS + HANGUL_CLASS
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_LATIN_WORD = re.compile(f"[^\\W_{_CJK_CLASS}]+")
# Prose checks (see prose_problem and overlap_problem).
MIN_PROSE_WORDS = 8
MIN_TOKENS, MIN_SHARED, MIN_OVERLAP = 5, 3, 0.1
_BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("（", "）"), ("「", "」"), ("『", "』"), ("【", "】"), ("《", "》"))
_TERMINAL = set(".!?。！？…\"'”’)）」』】》〉]*`~")
_DANGLING_PUNCT = set(",，、;；:：-–—(（[「/&")
_DANGLING_WORDS = {
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with", "from",
    "that", "which", "who", "is", "are", "was", "were", "be", "as", "if", "than", "their", "its", "this",
}  # fmt: skip
_LIST_OR_HEADING = re.compile(r"^([-*•+>#|]|\d+[.)、]|[a-zA-Z][.)]\s)")
_STOP_WORDS = {
    "the", "and", "for", "are", "was", "were", "with", "that", "this", "from", "have", "has", "had", "not",
    "but", "you", "your", "they", "their", "them", "its", "can", "may", "will", "shall", "must", "who",
    "which", "what", "when", "where", "how", "any", "all", "each", "into", "than", "then", "also", "only",
    "such", "other", "more", "most", "some", "these", "those", "there", "here", "about", "been", "being",
}  # fmt: skip


@dataclass(frozen=True)
class TaskTemplate:
    name: str
    task_type: str
    output: str  # "json" or "text"
    prompt: str
    input_limit: int
    min_chars: int
    max_chars: int
    fields: tuple[str, ...]
    params: dict
    instructions: dict[str, str]  # language tag -> instruction


def list_templates() -> list[str]:
    """Names of the task definitions shipped in synth/tasks/."""
    return sorted(p.stem for p in TASKS_DIR.glob("*.yaml") if p.stem not in NOT_TASKS)


@cache
def load_template(name: str) -> TaskTemplate:
    """The task ``synth/tasks/<name>.yaml``, checked so a broken definition fails before any request.

    An unknown name or a broken file is a DataAgentError naming the file (and what exists),
    which the CLI prints as one line.
    """
    available = list_templates()
    if name not in available:
        raise DataAgentError(f"unknown task {name!r}; the tasks are: {', '.join(available)} (files in {TASKS_DIR})")
    path = TASKS_DIR / f"{name}.yaml"
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise DataAgentError("a task definition must be a mapping", path)
    missing = {"name", "task_type", "output", "prompt", "input_limit", "bounds", "languages"} - set(raw)
    if missing:
        raise DataAgentError(f"missing {sorted(missing)}", path)
    if raw["output"] not in ("json", "text"):
        raise DataAgentError("output must be 'json' or 'text'", path)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", str(raw["task_type"])):
        raise DataAgentError("task_type must be snake_case", path)
    fields = tuple(raw.get("fields") or ())
    if raw["output"] == "json" and not fields:
        raise DataAgentError("a json task needs 'fields'", path)
    instructions = {
        lang: str((entry or {}).get("instruction") or "").strip() for lang, entry in raw["languages"].items()
    }
    if not instructions or not all(instructions.values()):
        raise DataAgentError("every language needs a non-empty instruction", path)
    if not (PROMPTS_DIR / f"{raw['prompt']}.yaml").exists():
        raise DataAgentError(f"no prompt file {raw['prompt']}.yaml in {PROMPTS_DIR}", path)
    uncovered = set(instructions) - set(load_prompt(raw["prompt"]))
    if uncovered:
        raise DataAgentError(f"prompt {raw['prompt']} has no {sorted(uncovered)} entry", path)
    bounds = raw["bounds"]
    return TaskTemplate(
        name=raw["name"],
        task_type=raw["task_type"],
        output=raw["output"],
        prompt=raw["prompt"],
        input_limit=int(raw["input_limit"]),
        min_chars=int(bounds.get("min_chars", 1)),
        max_chars=int(bounds.get("max_chars", 10_000)),
        fields=fields,
        params=dict(raw.get("params") or {}),
        instructions=instructions,
    )


def _source_text(doc: Mapping, limit: int) -> str:
    text = doc["text"].strip()
    title = (doc.get("title") or "").strip()
    # A statute's or product's name is often only in the title, and the task needs it.
    if title and title not in text[: len(title) + 200]:
        text = f"# {title}\n\n{text}"
    return truncate_tokens(text, limit)


def build_requests(
    template_name: str,
    documents: pd.DataFrame | Iterable[Mapping],
    *,
    model: str | None = None,
    stats: MutableMapping[str, int] | None = None,
) -> list[GenRequest]:
    """One request per document whose language the task has an instruction for.

    ``stats`` (if given) counts documents, requests and documents skipped for language.
    """
    task = load_template(template_name)
    counts = stats if stats is not None else {}
    for key in ("documents", "requests", "skipped_language"):
        counts.setdefault(key, 0)
    params = dict(task.params)
    if task.output == "json":
        params["response_format"] = {"type": "json_object"}
    requests = []
    for doc in rows(documents):
        counts["documents"] += 1
        language = doc.get("language") or "und"
        if language == "und":
            language = detect_language(doc["text"])
        if language not in task.instructions:
            counts["skipped_language"] += 1
            continue
        instruction = task.instructions[language]
        source = _source_text(doc, task.input_limit)
        meta = {
            "task": task.name,
            "language": language,
            "source_ref": doc.get("canonical_url") or doc["url"],
            "instruction": instruction,
            "input": source,
        }
        if model:
            meta["model"] = model
        messages = render(task.prompt, language, instruction=instruction, input=source)
        requests.append(GenRequest(template=task.name, messages=messages, params=params, meta=meta))
        counts["requests"] += 1
    return requests


def _json_object(task: TaskTemplate, data: object) -> dict:
    """The answer object: as given, unwrapped from a one-item list or a wrapper key, or JSON lines merged."""
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data):
        merged: dict = {}
        for part in data:  # JSON lines, one field (or a few) per line
            for key, value in lower_keys(part).items():
                merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        return merged if any(f in merged for f in task.fields) else _json_object(task, data[0])
    obj = need_dict(data)
    folded = lower_keys(obj)
    if not any(f in folded for f in task.fields):
        nested = [v for v in folded.values() if isinstance(v, dict)]
        if len(nested) == 1:
            return lower_keys(nested[0])  # {"entities": {"people": [...], ...}}
    return folded


def _json_output(task: TaskTemplate, data: object) -> tuple[str, str]:
    """(serialised answer, its text for the language check); only the task's fields, in its order."""
    obj = _json_object(task, data)
    clean: dict[str, list[str]] = {}
    for field in task.fields:
        if field not in obj:
            raise ParseError("answer lacks a field", field)
        values = obj[field]
        if values is None:
            values = []  # null for "none found" is what some models write for an empty list
        if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
            raise ParseError("field is not a list of strings", field)
        clean[field] = [str(v).strip() for v in values if str(v).strip()]
    if not any(clean.values()):
        raise ParseError("every field is empty")
    joined = "\n".join(v for values in clean.values() for v in values)
    return json.dumps(clean, ensure_ascii=False), joined


def _unfenced(text: str) -> str:
    output = (text or "").strip()
    fenced = _FENCED.match(output)
    # A whole answer wrapped in a fence is still prose; a ```json fence is judged as JSON below.
    return fenced.group(1).strip() if fenced else output


def _words(text: str) -> int:
    """Words, counting two Han characters as one (Chinese words average about two characters)."""
    return len(_LATIN_WORD.findall(text)) + len(_CJK_CHAR.findall(text)) // 2


def _unbalanced(text: str) -> str | None:
    # Only more openers than closers: "1)" and "a)" list markers close what was never opened.
    for opener, closer in _BRACKETS:
        opened, closed = text.count(opener), text.count(closer)
        if opened > closed:
            return f"{opener} opened {opened} times, closed {closed}"
    return None


def _ends_mid_sentence(text: str) -> bool:
    """Whether the last line stops where no writer would: after a comma or a connective, or mid-sentence.

    A list item or heading may end without punctuation (marketing copy's bullets do);
    a paragraph line of six words or more (twelve Han characters) may not.
    """
    last = text.rstrip().splitlines()[-1].strip()
    if last[-1] in _DANGLING_PUNCT:
        return True
    tail = _LATIN_WORD.findall(last[-30:])
    if tail and last[-1].isalpha() and tail[-1].casefold() in _DANGLING_WORDS:
        return True
    if _LIST_OR_HEADING.match(last) or last[-1] in _TERMINAL or unicodedata.category(last[-1]) == "So":
        return False
    return _words(last) >= 6


def content_tokens(text: str) -> set[str]:
    """What two texts about the same thing share: Latin words (stop words out, cut to 5 letters so
    'deposits' meets 'deposit') and CJK character pairs (Chinese has no spaces to split words on)."""
    norm = normalize_text(text)
    tokens = {w[:5] for w in _LATIN_WORD.findall(norm) if len(w) >= 3 and w not in _STOP_WORDS}
    for run in _CJK_RUN.findall(norm):
        tokens.update(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


def overlap_problem(answer: str, source: str) -> str | None:
    """Why a prose answer does not address its input, or None.

    The rule: when both texts have at least MIN_TOKENS content tokens, the answer must share at
    least MIN_SHARED of them with the input, and at least MIN_OVERLAP of its own. A summary or a
    rewrite names the subject, the parties and the terms of its source; an answer about something
    else shares almost nothing. Deliberately lax: it catches answers to another prompt, not loose summaries.
    """
    mine, theirs = content_tokens(answer), content_tokens(source)
    if len(mine) < MIN_TOKENS or len(theirs) < MIN_TOKENS:
        return None
    shared = len(mine & theirs)
    if shared < MIN_SHARED or shared < MIN_OVERLAP * len(mine):
        return f"{shared} of {len(mine)} content tokens shared with the input"
    return None


def prose_problem(text: str) -> tuple[str, str | None] | None:
    """(category, detail) when a prose answer is not prose: JSON, too few words, unbalanced brackets,
    or cut off mid-sentence; None when it reads as prose. Needs nothing but the answer."""
    output = _unfenced(text)
    if not output:
        return "empty answer", None
    if _JSON_FENCE.search(text or "") or (output[0] in "{[" and output[-1] in "}]"):
        return "prose answer is JSON", None
    words = _words(output)
    if words < MIN_PROSE_WORDS:
        return "prose answer has too few words", f"{words} < {MIN_PROSE_WORDS}"
    unbalanced = _unbalanced(output)
    if unbalanced:
        return "prose answer has unbalanced brackets", unbalanced
    if _ends_mid_sentence(output):
        return "prose answer ends mid-sentence", output[-40:]
    return None


def _text_output(task: TaskTemplate, text: str | None, meta: Mapping) -> str:
    output = _unfenced(text or "")
    if not output:
        raise ParseError("empty answer")
    if _JSON_FENCE.search(text or "") or (output[0] in "{[" and output[-1] in "}]"):
        raise ParseError("prose answer is JSON")
    check_language(output, meta["language"])
    check_length(output, task.min_chars, task.max_chars, "answer")
    problem = prose_problem(output)
    if problem:
        raise ParseError(*problem)
    off = overlap_problem(output, meta["input"])
    if off:
        raise ParseError("prose answer does not address the input", off)
    return output


def to_records(result: GenResult) -> list[dict]:
    """One record: the task's instruction, the text shown as input, the model's checked answer."""
    meta = result.request.meta
    task = load_template(meta["task"])
    language = meta["language"]
    if task.output == "json":
        output, text = _json_output(task, answer_value(result))
        # Entity lists mix scripts (English names in Chinese articles), so judge the script only.
        check_language(text, language, same_family_only=True)
        check_length(output, task.min_chars, task.max_chars, "answer")
    else:
        check_result(result)
        output = _text_output(task, result.text, meta)
    return [
        make_record(
            meta["instruction"],
            output,
            input=meta["input"],
            task_type=task.task_type,
            language=language,
            generator=generator_name(meta),
            source_ref=meta["source_ref"],
        )
    ]


def split_records(result: GenResult) -> tuple[list[dict], list[Reject]]:
    """(records, rejects) like the other generators; a task answer is one item, so rejects stay empty."""
    return to_records(result), []


def check_answer(text: str) -> str | None:
    """Why a prose answer is not prose (JSON, a fragment), or None: for re-asking before caching.

    Whether it addresses its input needs the input, so that is judged in ``to_records`` only.
    """
    problem = prose_problem(text)
    return problem[0] if problem else None


def check_json_answer(text: str, fields: Iterable[str]) -> str | None:
    """Why a JSON task's answer lacks the task's shape (unparseable, a field missing), or None."""
    task = TaskTemplate("", "", "json", "", 0, 0, 0, tuple(fields), {}, {})

    def parse() -> None:
        try:
            value = parse_json_loose(text)
        except ValueError as exc:
            raise ParseError("unparseable") from exc
        _json_output(task, value)

    return first_problem(parse)


def check_for(name: str) -> Callable[[str], str | None]:
    """The answer check of task ``name``: prose checks for a text task, shape checks for a JSON one."""
    task = load_template(name)
    if task.output == "json":
        return partial(check_json_answer, fields=task.fields)
    return check_answer


def engine_check(request: GenRequest, text: str, data: object) -> str | None:
    """The engine's re-ask check (synth.engine.register_check): why this answer makes no record, or None."""
    return useless_answer(split_records, request, text, data)


for _name in list_templates():
    register_check(_name, engine_check)
