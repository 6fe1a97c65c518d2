"""Code tasks where the LLM writes the missing side and the real code stays gold.

- ``description``: the model describes a unit; the record asks to implement that
  description, and the repository's code is the answer (``llm_description_to_code``).
- ``tests``: the model writes unit tests for a function; the record asks for tests of
  the real code, and the model's tests are the answer (``llm_code_to_tests``). Python
  tests must parse, define a test and not redefine the function they test.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, MutableMapping

import pandas as pd

from synth.chunking import token_length
from synth.engine import GenRequest, GenResult
from synth.generators import (
    ParseError,
    Reject,
    answer_value,
    check_language,
    check_length,
    check_result,
    find_items,
    first_problem,
    generator_name,
    load_prompt,
    lower_keys,
    need_str,
    pick_field,
    prompt_language,
    register_check,
    render,
    rows,
    useless_answer,
)
from synth.records import make_record
from validate.jsonparse import parse_json_loose

DESCRIBE, TESTS = "code_description", "code_tests"  # prompt (template) names
TASK_TYPES = {DESCRIBE: "llm_description_to_code", TESTS: "llm_code_to_tests"}
# Methods are left out of tests by default: testing one needs an instance the model cannot see how to build.
DEFAULT_KINDS = {DESCRIBE: ("function", "method"), TESTS: ("function",)}
FRAMEWORKS = {
    "python": "pytest",
    "javascript": "Jest",
    "typescript": "Jest",
    "tsx": "Jest",
    "java": "JUnit 5",
    "kotlin": "JUnit 5",
    "go": "Go's testing package",
    "rust": "Rust's built-in #[test] framework",
    "c_sharp": "xUnit",
    "ruby": "RSpec",
    "php": "PHPUnit",
}
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_LANG_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n`]*\n(.*?)```", re.DOTALL)
DESCRIPTION_KEYS = ("description", "summary")


def _ref(unit: Mapping) -> str:
    return f"{unit['repo']}@{unit['commit']}:{unit['path']}:{unit['start_line']}-{unit['end_line']}"


def python_module(path: str) -> str:
    """Import path of a Python file: 'src/finkit/loan.py' -> 'finkit.loan'."""
    parts = path.removesuffix(".py").split("/")
    if parts and parts[0] in ("src", "lib"):
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def build_requests(
    units: pd.DataFrame | Iterable[Mapping],
    *,
    tasks: Iterable[str] = (DESCRIBE, TESTS),
    language: str = "en",
    model: str | None = None,
    max_code_tokens: float = 1500,
    temperature: float = 0.3,
    stats: MutableMapping[str, int] | None = None,
) -> list[GenRequest]:
    """Requests for each CodeUnit row and each of ``tasks`` (``code_description``, ``code_tests``).

    ``language`` is the prompt's (en or zh-Hant), so descriptions and test comments are
    written in it. Units over ``max_code_tokens`` are skipped: a long unit makes a vague
    description and a prompt that costs more than its record is worth. ``stats`` (if given)
    counts units, requests, and units skipped by kind or size.
    """
    tasks = list(tasks)
    unknown = set(tasks) - set(TASK_TYPES)
    if unknown:
        raise ValueError(f"unknown code tasks {sorted(unknown)}; choose from {sorted(TASK_TYPES)}")
    counts = stats if stats is not None else {}
    for key in ("units", "requests", "skipped_kind", "skipped_long"):
        counts.setdefault(key, 0)
    requests = []
    for unit in rows(units):
        counts["units"] += 1
        if token_length(unit["code"]) > max_code_tokens:
            counts["skipped_long"] += 1
            continue
        for task in tasks:
            if unit["kind"] not in DEFAULT_KINDS[task]:
                counts["skipped_kind"] += 1
                continue
            lang = prompt_language(language, load_prompt(task))
            meta = {
                "task": task,
                "language": lang,
                "source_ref": _ref(unit),
                "code": unit["code"],
                "code_language": unit["language"],
                "kind": unit["kind"],
                "symbol": unit["symbol"],
                "name": unit["qualified_name"],
                "signature": unit["signature"].splitlines()[0].strip(),
            }
            if model:
                meta["model"] = model
            fields = {"language": unit["language"], "kind": unit["kind"], "name": unit["qualified_name"]}
            if task == DESCRIBE:
                messages = render(task, lang, path=unit["path"], code=unit["code"].rstrip(), **fields)
                params = {"temperature": temperature, "max_tokens": 900, "response_format": {"type": "json_object"}}
            else:
                framework = FRAMEWORKS.get(unit["language"], "the language's standard unit-testing framework")
                hint = ""
                if unit["language"] == "python":
                    import_line = f"from {python_module(unit['path'])} import {unit['symbol']}"
                    hint = load_prompt(task)[lang]["import_hint"].format(import_line=import_line)
                meta["framework"] = framework
                messages = render(
                    task, lang, code=unit["code"].rstrip(), import_hint=hint, framework=framework, **fields
                )
                params = {"temperature": temperature, "max_tokens": 1500}
            requests.append(GenRequest(template=task, messages=messages, params=params, meta=meta))
            counts["requests"] += 1
    return requests


def _quoted_code_lines(text: str, code: str, skip: str) -> int:
    """How many substantial lines of ``code`` (other than the signature) appear verbatim in ``text``."""
    lines = {ln.strip() for ln in code.splitlines()} - {skip.strip()}
    return sum(1 for ln in lines if len(ln) >= 12 and ln in text)


def description_of(value: object) -> str:
    """The description in a parsed answer: {"description": ...} or a one-item list of that."""
    items = find_items(value, DESCRIPTION_KEYS, ("items", "data", "results", "output"))
    item = items[0]
    if not isinstance(item, dict):
        raise ParseError("item is not a JSON object", f"got {type(item).__name__}")
    return need_str({"description": pick_field(lower_keys(item), DESCRIPTION_KEYS)}, "description", "answer")


def _description_record(result: GenResult) -> dict:
    meta = result.request.meta
    description = description_of(answer_value(result))
    check_length(description, 60, 3000, "description")
    # The description becomes the record's input and the code its output: code in the
    # description would hand the answer to the model being trained.
    if "```" in description or _quoted_code_lines(description, meta["code"], meta["signature"]) >= 2:
        raise ParseError("description contains the code it describes")
    check_language(description, meta["language"])
    fields = {"language": meta["code_language"], "kind": meta["kind"], "signature": meta["signature"]}
    return make_record(
        load_prompt(DESCRIBE)[meta["language"]]["instruction"].format(**fields),
        meta["code"],
        input=description,
        task_type=TASK_TYPES[DESCRIBE],
        language=meta["language"],
        generator=generator_name(meta),
        source_ref=meta["source_ref"],
    )


def extract_code(text: str) -> str:
    """The code in a reply: the longest fenced block, or the whole reply when it has no fence."""
    blocks = _FENCE.findall(text)
    return (max(blocks, key=len) if blocks else text).strip()


def check_python_tests(tests: str, symbol: str) -> None:
    """Python tests must parse, define a test and use the function without redefining it."""
    try:
        tree = ast.parse(tests)
    except SyntaxError as exc:
        raise ParseError("tests do not parse", f"{exc.msg}, line {exc.lineno}") from None
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if not any(d.name.startswith("test") for d in defs):
        raise ParseError("tests define no test function")
    # A copy of the function inside its tests makes them test the copy, and leaks the code.
    if any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == symbol for n in tree.body
    ):
        raise ParseError("tests redefine the function", symbol)
    if not any(isinstance(n, ast.Name | ast.Attribute | ast.alias) and symbol in _names(n) for n in ast.walk(tree)):
        raise ParseError("tests never use the function", symbol)


def _names(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return (node.attr,)
    return (node.name, node.asname or "")


def _tests_record(result: GenResult) -> dict:
    meta = result.request.meta
    check_result(result)
    problem = _fence_problem(result.text or "")
    if problem:
        raise ParseError(problem)
    tests = extract_code(result.text or "")
    check_length(tests, 80, 12_000, "tests")
    if meta["code_language"] == "python":
        check_python_tests(tests, meta["symbol"])
    elif meta["symbol"] not in tests:
        raise ParseError("tests never use the function", meta["symbol"])
    fields = {"language": meta["code_language"], "kind": meta["kind"], "name": meta["name"]}
    return make_record(
        load_prompt(TESTS)[meta["language"]]["instruction"].format(framework=meta["framework"], **fields),
        tests,
        input=meta["code"],
        task_type=TASK_TYPES[TESTS],
        language=meta["language"],
        generator=generator_name(meta),
        source_ref=meta["source_ref"],
    )


def to_records(result: GenResult) -> list[dict]:
    """One record per result, built by the task in ``meta['task']``."""
    check_result(result)
    task = result.request.meta["task"]
    if task == DESCRIBE:
        return [_description_record(result)]
    if task == TESTS:
        return [_tests_record(result)]
    raise ValueError(f"not a code task: {task}")


def split_records(result: GenResult) -> tuple[list[dict], list[Reject]]:
    """(records, rejects) like the other generators; a code answer is one item, so rejects stay empty."""
    return to_records(result), []


def _fence_problem(text: str) -> str | None:
    if not text.strip():
        return "empty answer"
    if text.count("```") % 2:
        return "unclosed code fence"  # the answer stopped inside its code block
    if not extract_code(text):
        return "empty answer"
    return None


def check_description_answer(text: str) -> str | None:
    """Why a description answer cannot make a record whatever the unit (None when it can)."""

    def parse() -> None:
        try:
            value = parse_json_loose(text)
        except ValueError as exc:
            raise ParseError("unparseable") from exc
        description_of(value)

    return first_problem(parse)


def check_tests_answer(text: str) -> str | None:
    """Why a tests answer cannot make a record whatever the unit (None when it can): empty, cut off, or
    Python (by its fence) that does not parse."""
    problem = _fence_problem(text)
    if problem:
        return problem
    blocks = _LANG_FENCE.findall(text)
    if not blocks:
        return None
    lang, code = max(blocks, key=lambda b: len(b[1]))
    if lang.lower() in ("python", "py", "python3"):
        try:
            ast.parse(code)
        except SyntaxError:
            return "tests do not parse"
    return None


CHECKS = {DESCRIBE: check_description_answer, TESTS: check_tests_answer}


def check_answer(text: str, task: str = DESCRIBE) -> str | None:
    """The check for ``task``'s answers (``code_description`` or ``code_tests``)."""
    return CHECKS[task](text)


def engine_check(request: GenRequest, text: str, data: object) -> str | None:
    """The engine's re-ask check (synth.engine.register_check): why this answer makes no record, or None."""
    return useless_answer(split_records, request, text, data)


for _template in CHECKS:
    register_check(_template, engine_check)
