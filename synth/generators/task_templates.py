"""Fixed input/output tasks defined in ``synth/tasks/*.yaml`` (see the README there).

The record's instruction is the task's instruction in the document's language, its
input the (truncated) document text the model was shown, and its output the model's
answer; JSON answers are checked against the task's fields and re-serialised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache

import pandas as pd

from synth.chunking import truncate_tokens
from synth.engine import GenRequest, GenResult, read_yaml
from synth.generators import (
    PROMPTS_DIR,
    TASKS_DIR,
    ParseError,
    check_language,
    check_length,
    check_result,
    generator_name,
    load_prompt,
    need_dict,
    render,
    rows,
)
from synth.records import make_record
from validate.errors import DataAgentError
from validate.text import detect_language

NOT_TASKS = {"seed_tasks"}  # YAML files in synth/tasks/ that are not task definitions
_FENCED = re.compile(r"^```[\w-]*\n(.*)\n```$", re.DOTALL)


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


def _json_output(task: TaskTemplate, data: object) -> tuple[str, str]:
    """(serialised answer, its text for the language check); only the task's fields, in its order."""
    obj = need_dict(data)
    clean: dict[str, list[str]] = {}
    for field in task.fields:
        if field not in obj:
            raise ParseError(f"answer lacks the field '{field}'")
        values = obj[field]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ParseError(f"'{field}' is not a list of strings")
        clean[field] = [v.strip() for v in values if v.strip()]
    if not any(clean.values()):
        raise ParseError("every field is empty")
    joined = "\n".join(v for values in clean.values() for v in values)
    return json.dumps(clean, ensure_ascii=False), joined


def to_records(result: GenResult) -> list[dict]:
    """One record: the task's instruction, the text shown as input, the model's checked answer."""
    check_result(result)
    meta = result.request.meta
    task = load_template(meta["task"])
    language = meta["language"]
    if task.output == "json":
        output, text = _json_output(task, result.data)
        # Entity lists mix scripts (English names in Chinese articles), so judge the script only.
        check_language(text, language, same_family_only=True)
    else:
        output = (result.text or "").strip()
        fenced = _FENCED.match(output)
        if fenced:
            output = fenced.group(1).strip()  # a whole answer wrapped in a fence is still prose
        if not output:
            raise ParseError("empty answer")
        check_language(output, language)
    check_length(output, task.min_chars, task.max_chars, "answer")
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
