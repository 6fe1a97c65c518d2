"""Answers in every shape real servers give, through real HTTP: records, or quarantine with a normalised reason.

Each answer is served by the loopback OpenAI-compatible server (dataagent.testing.openai) and read back
with the official openai client, so what is parsed is exactly what a server sent. The answers
are judged by the generators' own functions; the engine's re-asking is the engine's tests' job.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import openai
import pandas as pd
import pytest

from dataagent.testing.openai import Fault, serve
from synth.engine import GenRequest, GenResult
from synth.generators import ParseError, code_tasks, qa, self_instruct, task_templates
from synth.langchain_route import langchain_qa
from validate.contracts import InstructionRecord
from validate.jsonparse import parse_json_loose

EN_DOC = (
    "# Security deposits\n\n## Return of the deposit\n\n"
    "A landlord must return the security deposit within thirty days after the lease ends. "
    "The landlord may keep part of the deposit only for unpaid rent or damage beyond normal wear, "
    "and must give the tenant a written list of the deductions.\n"
)
PAIRS = [
    {
        "question": "Within how many days must a landlord return a security deposit?",
        "answer": "Within thirty days after the lease ends.",
    },
    {
        "question": "What may a landlord deduct from a security deposit?",
        "answer": "Only unpaid rent and damage beyond normal wear, listed in writing for the tenant.",
    },
]
TASKS = [
    {
        "instruction": "Explain what a credit score measures and why lenders check it.",
        "input": "",
        "output": "A credit score summarises how reliably a person has repaid debts; lenders use it to judge risk.",
    },
    {
        "instruction": "Rewrite this sentence in plain English for a tenant.",
        "input": "The Lessee shall remit payment on or before the first day of each calendar month.",
        "output": "You must pay the rent by the first day of every month.",
    },
]


def fenced(obj: object) -> str:
    return Fault.fenced(obj).content


def shapes(items: list[dict], key: str) -> dict[str, str]:
    """The same items in each shape servers were seen to produce."""
    body = json.dumps(items, ensure_ascii=False)
    return {
        "object_with_list": json.dumps({key: items}),
        "object_items_key": json.dumps({"items": items}),
        "object_data_key": json.dumps({"data": items}),
        "object_nested": json.dumps({"result": {key: items}}),
        "bare_list": body,
        "fenced": fenced({key: items}),
        "fenced_bare_list": fenced(items),
        "prose_around": f"Sure! Here they are:\n{body}\nLet me know if you need more.",
        "json_lines": "\n".join(json.dumps(i) for i in items),
        "trailing_commas": body[:-1] + ",]",
        "single_quotes": repr(items),
        "think_block": f"<think>The user wants JSON. [draft]</think>\n{json.dumps({key: items})}",
    }


@pytest.fixture(scope="module")
def server():
    """One loopback server; each test sets what it answers."""
    with serve() as handle:
        yield handle


def ask(server, request: GenRequest, reply: object) -> GenResult:
    """``reply`` served over HTTP for ``request``, read with the real openai client, as a GenResult."""
    server.set_script([reply])
    client = openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    params = {k: v for k, v in request.params.items() if k in ("temperature", "max_tokens")}
    response = client.chat.completions.create(model="test-model", messages=request.messages, **params)
    return GenResult(request, response.choices[0].message.content, None, None, {}, False)


def reasons(split, result: GenResult) -> list[str]:
    """Quarantine categories for one answer: the whole answer's, or each rejected item's."""
    try:
        _, rejects = split(result)
    except ParseError as exc:
        return [exc.category]
    return [r.category for r in rejects]


def assert_normalised(category: str) -> None:
    # Countable: no digits (indices, lengths), no quotes or parentheses around values.
    assert not re.search(r"[0-9'\"()\[\]]", category), category


# --- the parser -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(shapes(PAIRS, "pairs")))
def test_parser_finds_the_items_in_every_shape(shape):
    value = parse_json_loose(shapes(PAIRS, "pairs")[shape])
    assert qa.pairs_of(value) == PAIRS


def test_parser_does_not_complete_a_cut_answer():
    with pytest.raises(ValueError, match="unparseable"):
        parse_json_loose(json.dumps({"pairs": PAIRS})[:-30])


# --- qa ---------------------------------------------------------------------------------------


def _qa_request() -> GenRequest:
    return qa.build_requests([_doc(EN_DOC)], min_chunk_tokens=0, n_pairs=3, model="m")[0]


def _doc(text: str, language: str = "en") -> dict:
    return {"url": "https://example.org/x", "canonical_url": "https://example.org/x", "title": "T", "text": text,
            "language": language}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(shapes(PAIRS, "pairs")))
def test_qa_accepts_every_shape(server, shape):
    result = ask(server, _qa_request(), shapes(PAIRS, "pairs")[shape])
    records = qa.to_records(result)
    InstructionRecord.validate(pd.DataFrame(records))
    assert [r["instruction"] for r in records] == [p["question"] for p in PAIRS]
    assert qa.check_answer(result.text) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Fault.malformed(), ["unparseable"]),
        ("I cannot help with that.", ["unparseable"]),
        (json.dumps({"pairs": []}), ["item list is empty"]),
        (json.dumps({"pairs": "none"}), ["item list is missing or not a list"]),
        (json.dumps({"note": "no pairs"}), ["item list is missing or not a list"]),
        (json.dumps([PAIRS[0], {"question": "What is a deposit for?"}]), ["answer is missing"]),
        (json.dumps([PAIRS[0], {"question": "Why?", "answer": 7}]), ["answer is not a string"]),
        (json.dumps([PAIRS[0], "just a string"]), ["item is not a JSON object"]),
        (json.dumps([PAIRS[0], {**PAIRS[1], "answer": "Rent."}]), ["answer too short"]),
        (json.dumps([{**PAIRS[0], "question": "What does the text say about deposits?"}]),
         ["question refers to the source text"]),
    ],
)  # fmt: skip
def test_qa_quarantines_with_normalised_reasons(server, reply, expected):
    result = ask(server, _qa_request(), reply)
    assert reasons(qa.split_records, result) == expected
    for category in expected:
        assert_normalised(category)


def test_qa_keeps_good_items_and_rejects_the_rest_one_by_one(server):
    bad = [{"question": f"Question number {i} about deposits?", "answer": "x" * i} for i in (1, 5, 9)]
    result = ask(server, _qa_request(), json.dumps({"pairs": [PAIRS[0], *bad]}))
    records, rejects = qa.split_records(result)
    assert len(records) == 1
    # Three items failing with three different lengths and indices: one category, details apart.
    assert {r.category for r in rejects} == {"answer too short"}
    assert len({r.detail for r in rejects}) == 2  # n_pairs=3 keeps three items: two of the bad ones
    with pytest.raises(ParseError, match="answer too short"):
        qa.to_records(result)  # to_records stays all-or-nothing


def test_qa_check_answer_names_what_a_reask_could_fix():
    assert qa.check_answer('{"question": "x", "answer": ') == "unparseable"
    assert qa.check_answer('{"pairs": []}') == "item list is empty"
    assert qa.check_answer('[{"q": "Why?", "a": ""}]') == "no item has a question and an answer"
    assert qa.check_answer(json.dumps(PAIRS)) is None


def test_engine_check_judges_whole_answers():
    req = _qa_request()
    assert qa.engine_check(req, json.dumps(PAIRS), None) is None
    assert qa.engine_check(req, json.dumps([{"question": "Why?", "answer": "x"}]), None) == "answer too short"


# --- langchain route: the same checks and reasons as qa ------------------------------------------


@pytest.mark.parametrize("shape", ["bare_list", "json_lines", "object_items_key", "prose_around", "single_quotes"])
def test_langchain_accepts_the_same_shapes(shape):
    with serve([shapes(PAIRS, "pairs")[shape]]) as handle:
        records, quarantine, _ = langchain_qa(pd.DataFrame([_doc(EN_DOC)]), handle.base_url, "test-model")
    assert [r["output"] for r in records] == [p["answer"] for p in PAIRS] and not quarantine


def test_langchain_quarantines_with_qa_reasons(server):
    answers = [
        json.dumps([PAIRS[0], {**PAIRS[1], "answer": "Rent."}]),
        json.dumps({"pairs": []}),
        Fault.malformed().content,
    ]
    expected = [reasons(qa.split_records, ask(server, _qa_request(), a)) for a in answers]
    got = []
    for a in answers:
        with serve([a]) as handle:
            _, quarantine, _ = langchain_qa(pd.DataFrame([_doc(EN_DOC)]), handle.base_url, "test-model")
        got.append([q["reason"] for q in quarantine])
        assert all(q["template"] == qa.TEMPLATE for q in quarantine)
    assert got == expected == [["answer too short"], ["item list is empty"], ["unparseable"]]


# --- self-instruct ----------------------------------------------------------------------------


def _si_request() -> GenRequest:
    return self_instruct.build_requests(self_instruct.load_seed_tasks(), num_requests=1, model="m")[0]


@pytest.mark.parametrize("shape", sorted(shapes(TASKS, "tasks")))
def test_self_instruct_accepts_every_shape(server, shape):
    result = ask(server, _si_request(), shapes(TASKS, "tasks")[shape])
    records = self_instruct.to_records(result)
    InstructionRecord.validate(pd.DataFrame(records))
    assert [r["instruction"] for r in records] == [t["instruction"] for t in TASKS]
    assert records[1]["input"] == TASKS[1]["input"]
    assert self_instruct.check_answer(result.text) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Fault.malformed(), ["unparseable"]),
        (json.dumps({"tasks": []}), ["item list is empty"]),
        (json.dumps([TASKS[0], {"instruction": "Summarise the clause below."}]), ["output is missing"]),
        (json.dumps([TASKS[0], {**TASKS[1], "output": ""}]), ["output is empty"]),
        (json.dumps([TASKS[0], {**TASKS[1], "output": "x" * 20_000}]), ["output too long"]),
    ],
)
def test_self_instruct_quarantines_with_normalised_reasons(server, reply, expected):
    assert reasons(self_instruct.split_records, ask(server, _si_request(), reply)) == expected


def test_self_instruct_aliases_and_placeholder_input(server):
    reply = json.dumps([{"Task": TASKS[0]["instruction"], "Input": "<noinput>", "Response": TASKS[0]["output"]}])
    (record,) = self_instruct.to_records(ask(server, _si_request(), reply))
    assert record["input"] == "" and record["output"] == TASKS[0]["output"]


# --- code -------------------------------------------------------------------------------------

CODE = "def monthly_payment(principal, rate, months):\n    return principal * rate / months\n"


def _unit(symbol: str) -> dict:
    return {
        "repo": "https://example.com/r.git", "commit": "a" * 40, "path": "src/pkg/m.py", "language": "python",
        "kind": "function", "symbol": symbol, "qualified_name": symbol,
        "signature": f"def {symbol}(principal, rate, months):", "docstring": "",
        "code": CODE.replace("monthly_payment", symbol), "start_line": 1, "end_line": 2, "license": "MIT",
    }  # fmt: skip


DESCRIPTION = (
    "Computes the payment of a loan for each month from the principal, the rate and the number of "
    "months, by multiplying the principal by the rate and dividing by the months."
)


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps({"description": DESCRIPTION}),
        json.dumps([{"description": DESCRIPTION}]),
        fenced({"Description": DESCRIPTION}),
        f"Here is the description:\n{json.dumps({'description': DESCRIPTION})}\nDone.",
        repr({"description": DESCRIPTION}),
    ],
)
def test_code_description_accepts_every_shape(server, reply):
    req = code_tasks.build_requests([_unit("monthly_payment")], tasks=["code_description"])[0]
    result = ask(server, req, reply)
    (record,) = code_tasks.to_records(result)
    assert record["input"] == DESCRIPTION
    assert code_tasks.check_description_answer(result.text) is None


def test_code_reasons_do_not_name_symbols(server):
    tests = (
        "```python\nfrom pkg.m import other\n\n\ndef test_other_returns_zero_for_zero_rate():\n"
        "    assert other(1000, 0, 12) == 0\n```"
    )
    categories = set()
    for symbol in ("monthly_payment", "annual_rate", "loan_total"):
        req = code_tasks.build_requests([_unit(symbol)], tasks=["code_tests"])[0]
        with pytest.raises(ParseError) as exc:
            code_tasks.to_records(ask(server, req, tests))
        assert symbol in exc.value.detail and symbol not in exc.value.category
        categories.add(exc.value.category)
    assert categories == {"tests never use the function"}
    req = code_tasks.build_requests([_unit("monthly_payment")], tasks=["code_tests"])[0]
    cut = "```python\ndef test_monthly_payment():\n    assert monthly_pay"
    assert reasons(code_tasks.split_records, ask(server, req, cut)) == ["unclosed code fence"]
    assert code_tasks.check_tests_answer(cut) == "unclosed code fence"
    assert code_tasks.check_tests_answer("```python\ndef test_x(:\n```") == "tests do not parse"


# --- text task templates ----------------------------------------------------------------------

STATUTE = (
    "Article 38. A worker who has worked continuously for the same employer for a certain period shall be "
    "given paid annual leave by the employer, with the number of days rising with the years of service."
)
SUMMARY = (
    "Workers who stay with the same employer for a set period must be given paid annual leave by that "
    "employer, and the number of leave days grows with their years of service."
)


def _summary_request() -> GenRequest:
    return task_templates.build_requests("statute_summary", [_doc(STATUTE)])[0]


def test_text_task_accepts_prose(server):
    (record,) = task_templates.to_records(ask(server, _summary_request(), SUMMARY))
    assert record["output"] == SUMMARY
    assert task_templates.check_answer(SUMMARY) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (json.dumps({"summary": SUMMARY}), "prose answer is JSON"),
        (json.dumps([SUMMARY, SUMMARY]), "prose answer is JSON"),
        (fenced({"summary": SUMMARY}), "prose answer is JSON"),
        (SUMMARY[:-1] + " (see the", "prose answer has unbalanced brackets"),
        ("Workers who stay with the same employer for a set period must be given paid annual leave and the",
         "prose answer ends mid-sentence"),
        ("Workers who stay with the same employer for a set period must be given paid annual leave by their",
         "prose answer ends mid-sentence"),
        ("Workers who stay with the same employer for a set period must be given paid annual leave, which grows",
         "prose answer ends mid-sentence"),
        ("Preheat the oven and whisk three eggs with sugar, flour and melted butter until smooth; bake the "
         "batter for forty minutes and let the cake cool before slicing it.",
         "prose answer does not address the input"),
    ],
)  # fmt: skip
def test_text_task_rejects_json_fragments_and_unrelated_answers(server, reply, expected):
    result = ask(server, _summary_request(), reply)
    assert reasons(task_templates.split_records, result) == [expected]
    if expected != "prose answer does not address the input":  # needs the input: to_records only
        assert task_templates.check_answer(reply) == expected
    assert_normalised(expected)


def test_text_task_keeps_bullets_without_full_stops():
    copy = (
        "Meet the Breeze 2 fan\n\nQuiet, light and built for small rooms, it keeps you cool all night.\n\n"
        "- Whisper-quiet motor\n- Folds flat for storage\n- Three speeds"
    )
    assert task_templates.check_answer(copy) is None


def test_chinese_summary_addresses_its_input(server):
    statute = "第 38 條 勞工在同一雇主或事業單位，繼續工作滿一定期間者，應依規定給予特別休假。"
    req = task_templates.build_requests("statute_summary", [_doc(statute, "zh-Hant")])[0]
    good = "在同一個雇主底下連續工作滿一定期間的勞工，雇主必須依照法律規定給他們特別休假。"
    assert task_templates.to_records(ask(server, req, good))[0]["output"] == good
    other = "把烤箱預熱到一百八十度，將雞蛋、砂糖與麵粉攪拌均勻後倒入模具，烘烤四十分鐘即可完成蛋糕。"
    assert reasons(task_templates.split_records, ask(server, req, other)) == ["prose answer does not address the input"]


def test_json_task_accepts_wrapped_and_line_shapes(server):
    article = "In May 2024 the mayor Chiang Wan-an announced a childcare subsidy at Taipei City Hall. " * 3
    req = task_templates.build_requests("extract_entities", [_doc(article)])[0]
    fields = {"people": ["Chiang Wan-an"], "events": ["childcare subsidy"], "time": ["May 2024"],
              "place": ["Taipei City Hall"], "objects": []}  # fmt: skip
    for reply in (
        json.dumps({"entities": fields}),
        json.dumps([fields]),
        "\n".join(json.dumps({k: v}) for k, v in fields.items()),
    ):
        (record,) = task_templates.to_records(ask(server, req, reply))
        assert json.loads(record["output"]) == fields
    missing = json.dumps({k: v for k, v in fields.items() if k != "place"})
    assert reasons(task_templates.split_records, ask(server, req, missing)) == ["answer lacks a field"]


# --- CLI ----------------------------------------------------------------------------------------

CMD = [sys.executable, "-m", "dataagent", "synth", "--backend", "openai"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": "test-key"}
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=900, cwd=cwd, env=env)


def test_unknown_task_is_one_line_listing_the_tasks(tmp_path):
    proc = _cli("--generator", "task:nope", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: unknown task 'nope'")
    assert all(name in line for name in task_templates.list_templates())
    assert not (tmp_path / "o").exists()  # refused before the output folder is made
    proc = _cli("--generator", "nope", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "task:statute_summary" in proc.stderr and "Traceback" not in proc.stderr


def test_n_requests_sets_how_many_self_instruct_requests(tmp_path):
    with serve() as handle:
        out = tmp_path / "o"
        args = ("--generator", "self-instruct", "--n-requests", "5", "--k-new", "2", "--dry-run", "--out", str(out))
        proc = _cli(*args, "--base-url", handle.base_url, "--model", "test-model", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert not [r for r in handle.requests if r.body.get("messages")]  # a dry run sends no chat request
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["requests"] == 5
    # The cache lives in --out; nothing appears in the working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_bad_seed_tasks_is_one_line(tmp_path):
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("seeds:\n  - instruction: x\n", encoding="utf-8")
    proc = _cli("--generator", "self-instruct", "--seed-tasks", str(seeds), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "seed 0 needs a non-empty instruction and output" in proc.stderr
    assert not (tmp_path / "o").exists()
