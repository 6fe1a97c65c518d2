"""LLM generators without a model: requests are inspected and answers are faked as GenResults."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from synth.chunking import chunk_document, token_length, truncate_tokens
from synth.engine import GenRequest, GenResult
from synth.generators import ParseError, code_tasks, qa, self_instruct, task_templates
from synth.generators.self_instruct import filter_tasks, rouge_l
from validate.contracts import InstructionRecord

ZH_HANT_DOC = """# 勞工保險

## 投保資格

年滿十五歲以上、六十五歲以下的受僱勞工，應以雇主為投保單位參加勞工保險。雇主應於勞工到職當日申報加保。

## 老年給付

被保險人年資合計滿十五年，年滿請領年齡者，可以請領老年年金給付。年金金額依平均月投保薪資與年資計算。
"""
EN_DOC = """# Savings accounts

## Interest

A savings account pays interest on the balance. Most banks compound the interest monthly and credit it to
the account at the end of each month, so the balance grows a little faster than with simple interest.

## Taxis

Riding a taxi to the branch is not covered by any account fee waiver, and the bank will not refund fares.
"""


def doc(text: str, language: str, url: str = "https://example.gov.tw/page", title: str = "Page") -> dict:
    return {"url": url, "canonical_url": url, "title": title, "text": text, "language": language}


def answer(request: GenRequest, data: object = None, text: str | None = None, error: str | None = None) -> GenResult:
    if text is None and data is not None:
        text = json.dumps(data, ensure_ascii=False)
    return GenResult(request=request, text=text, data=data, error=error, usage={}, cached=False)


def valid(records: list[dict]) -> pd.DataFrame:
    return InstructionRecord.validate(pd.DataFrame(records))


# --- chunking -----------------------------------------------------------------------------------


def test_token_length_counts_han_as_one_and_ascii_as_a_quarter():
    assert token_length("勞工保險") == 4
    assert token_length("abcdefgh") == 2
    assert token_length("保險 ok") == 2 + 0.75


def test_cjk_chunks_keep_sentences_and_respect_size():
    sentences = [f"第{i}條規定被保險人應於事故發生後{i}日內提出申請並檢附相關證明文件。" for i in range(1, 41)]
    text = "## 申請期限\n\n" + "".join(sentences)
    chunks = chunk_document(text, chunk_size=120)
    assert len(chunks) > 3
    assert all(c.tokens <= 120 for c in chunks)
    assert all(c.heading_path == ("申請期限",) for c in chunks)
    assert chunks[0].text.startswith("## 申請期限")  # the heading stays with its section
    bodies = [c.text.removeprefix("## 申請期限").strip() for c in chunks]
    assert all(b.endswith("。") for b in bodies)  # cut between sentences, never inside one
    assert "".join(bodies) == "".join(sentences)  # nothing lost, nothing repeated


def test_chunks_carry_heading_paths_and_merge_small_sections():
    text = "# Guide\n\n## A\n\nAlpha text.\n\n### A1\n\nDeep text.\n\n```python\n# not a heading\nx = 1\n```\n"
    big = chunk_document(text, chunk_size=500)
    assert len(big) == 1 and big[0].heading_path == ("Guide", "A")  # merged: their common ancestor
    small = chunk_document(text, chunk_size=8)
    paths = {c.heading_path for c in small}
    assert ("Guide", "A", "A1") in paths and not any("not a heading" in p for path in paths for p in path)


def test_truncate_tokens_cuts_at_a_sentence():
    text = "第一句話在這裡。第二句話也在這裡。第三句話。"
    assert truncate_tokens(text, 10) == "第一句話在這裡。"
    assert truncate_tokens(text, 100) == text


# --- doc QA ------------------------------------------------------------------------------------


def test_qa_prompt_language_follows_the_document():
    hant, hans, en = (
        qa.build_requests([doc(ZH_HANT_DOC, "zh-Hant")], min_chunk_tokens=0),
        qa.build_requests(
            [doc("## 条件\n\n年满十五岁的劳工应当参加劳动保险，由雇主申报。", "zh-Hans")], min_chunk_tokens=0
        ),
        qa.build_requests([doc(EN_DOC, "en")], min_chunk_tokens=0),
    )
    assert "繁體中文" in hant[0].messages[0]["content"]
    assert "简体中文" in hans[0].messages[0]["content"]
    assert "question-and-answer" in en[0].messages[0]["content"]


def test_qa_requests_ask_for_n_pairs_in_json_mode():
    stats: dict[str, int] = {}
    reqs = qa.build_requests([doc(ZH_HANT_DOC, "zh-Hant")], n_pairs=5, chunk_size=60, min_chunk_tokens=0, stats=stats)
    assert len(reqs) == stats["requests"] == 2
    for r in reqs:
        assert r.template == "doc_qa" and r.params["response_format"] == {"type": "json_object"}
        assert "寫出 5 組" in r.messages[1]["content"] and r.meta["n_pairs"] == 5
        assert r.meta["source_ref"] == "https://example.gov.tw/page" and r.meta["heading_path"][0] == "勞工保險"
        assert r.meta["chunk"] in r.messages[1]["content"]


def test_qa_focus_topics_skip_chunks_and_are_counted():
    stats: dict[str, int] = {}
    topics = ["tax", "interest"]
    reqs = qa.build_requests([doc(EN_DOC, "en")], focus_topics=topics, chunk_size=80, min_chunk_tokens=0, stats=stats)
    assert [r.meta["heading_path"] for r in reqs] == [["Savings accounts", "Interest"]]
    assert stats["skipped_no_topic"] == 1  # 'tax' is not in 'taxi'
    assert "Only ask about these topics: interest." in reqs[0].messages[1]["content"]
    zh = qa.build_requests([doc(ZH_HANT_DOC, "zh-Hant")], focus_topics=["老年給付"], min_chunk_tokens=0)
    assert len(zh) == 1 and "只針對下列主題提問：老年給付" in zh[0].messages[1]["content"]


def _qa_request(**kw) -> GenRequest:
    return qa.build_requests([doc(ZH_HANT_DOC, "zh-Hant")], min_chunk_tokens=0, chunk_size=60, model="m-1", **kw)[0]


def test_qa_records_meet_the_contract():
    req = _qa_request(n_pairs=2)
    pairs = [
        {"question": "勞工保險的投保單位是誰？", "answer": "受僱勞工應以雇主為投保單位參加勞工保險。"},
        {"question": "雇主應在何時為勞工申報加保？", "answer": "雇主應於勞工到職當日申報加保。"},
        {"question": "多出來的第三題？", "answer": "超過要求的題數時，多出來的會被捨棄。"},
    ]
    records = qa.to_records(answer(req, {"pairs": pairs}))
    df = valid(records)
    assert len(df) == 2 and set(df["task_type"]) == {"doc_qa"} and set(df["language"]) == {"zh-Hant"}
    assert records[0]["instruction"] == pairs[0]["question"] and records[0]["input"] == ""
    assert records[0]["generator"] == "llm:m-1" and records[0]["source_ref"] == "https://example.gov.tw/page"
    assert records[0]["meta"]["heading_path"] == ["勞工保險", "投保資格"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "not a JSON object"),
        ({"pairs": "x"}, "not a list"),
        ({"pairs": []}, "empty"),
        ({"pairs": [{"question": "勞工保險的投保單位是誰？", "answer": 3}]}, "not a string"),
        ({"pairs": [{"question": "勞工保險的投保單位是誰？", "answer": "  "}]}, "empty"),
        ({"pairs": [{"question": "勞工保險的投保單位是誰？", "answer": "雇主。"}]}, "too short"),
        (
            {"pairs": [{"question": "本文提到誰是投保單位？", "answer": "受僱勞工應以雇主為投保單位參加勞工保險。"}]},
            "refers",
        ),
        (
            {"pairs": [{"question": "劳工保险的投保单位是谁？", "answer": "受雇劳工应以雇主为投保单位参加劳工保险。"}]},
            "script",
        ),
    ],
)
def test_qa_wrong_shapes_raise_parse_error(data, reason):
    with pytest.raises(ParseError, match=reason):
        qa.to_records(answer(_qa_request(), data))


def test_failed_request_is_a_parse_error():
    with pytest.raises(ParseError, match="request failed: timeout"):
        qa.to_records(answer(_qa_request(), error="timeout"))


# --- self-instruct -----------------------------------------------------------------------------


def test_seed_tasks_are_bilingual_across_domains():
    seeds = self_instruct.load_seed_tasks()
    assert len(seeds) >= 12
    assert {s["domain"] for s in seeds} == {"finance", "law", "medicine", "government"}
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", s["instruction"])) for s in seeds) >= 5
    kept, rejected = filter_tasks(seeds, [])
    assert rejected == []  # the seeds pass the filters they are used to enforce


def test_self_instruct_requests_are_distinct_seeded_and_in_json_mode():
    seeds = self_instruct.load_seed_tasks()
    reqs = self_instruct.build_requests(seeds, num_requests=4, k_new=6, language="zh-Hant", seed=1)
    assert reqs == self_instruct.build_requests(seeds, num_requests=4, k_new=6, language="zh-Hant", seed=1)
    assert len({json.dumps(r.messages, ensure_ascii=False) for r in reqs}) == 4
    for r in reqs:
        assert (
            r.params["response_format"] == {"type": "json_object"} and "請寫出 6 個新任務" in r.messages[1]["content"]
        )
        assert all(re.search(r"[\u4e00-\u9fff]", ex) for ex in r.meta["examples"])  # examples in the prompt's language
    law = self_instruct.build_requests(seeds, language="en", domain="law")[0]
    assert "in law" in law.messages[1]["content"]


def test_self_instruct_records_and_shapes():
    req = self_instruct.build_requests(self_instruct.load_seed_tasks(), language="en", model="m-2")[0]
    tasks = [
        {
            "instruction": "Explain what a Roth IRA is to a new investor.",
            "input": "<noinput>",
            "output": "A Roth IRA...",
        },
        {
            "instruction": "請說明勞工退休金的提繳比例規定。",
            "input": "",
            "output": "雇主每月應提繳不低於工資百分之六。",
        },
    ]
    records = self_instruct.to_records(answer(req, {"tasks": tasks}))
    df = valid(records)
    assert list(df["language"]) == ["en", "zh-Hant"] and records[0]["input"] == ""
    assert set(df["task_type"]) == {"self_instruct"} and set(df["generator"]) == {"llm:m-2"}
    for bad in ({"tasks": [{"instruction": "x"}]}, {"tasks": [{"instruction": "Do it", "output": 5}]}, {"task": []}):
        with pytest.raises(ParseError):
            self_instruct.to_records(answer(req, bad))


def _alpaca_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer, as Alpaca uses it: lowercase, keep only [a-z0-9] runs."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def test_rouge_near_duplicate_filter_catches_a_chinese_paraphrase():
    seed = "請說明第二型糖尿病患者在日常飲食上應注意哪些原則。"
    paraphrase = "請解釋第二型糖尿病患者日常飲食需要注意的原則。"
    assert _alpaca_tokens(seed) == [] and _alpaca_tokens(paraphrase) == []  # why word ROUGE never fires
    assert rouge_l(seed, paraphrase) > 0.7
    different = "請比較定期定額與單筆投資基金的優缺點。"
    kept, rejected = filter_tasks([{"instruction": paraphrase}, {"instruction": different}], [{"instruction": seed}])
    assert [t["instruction"] for t in kept] == [different]
    assert rejected == [({"instruction": paraphrase}, "near_duplicate")]


def test_rouge_near_duplicate_filter_catches_an_english_paraphrase_and_in_batch_repeats():
    pool = ["Explain the difference between a fixed-rate and a variable-rate mortgage."]
    cands = [
        {"instruction": "Explain the difference between fixed-rate and variable-rate mortgages."},
        {"instruction": "Describe how compound interest grows a savings balance over ten years."},
        {"instruction": "Describe how compound interest grows a savings balance over twenty years."},
    ]
    kept, rejected = filter_tasks(cands, pool)
    assert kept == [cands[1]]
    assert self_instruct.count_reasons(rejected) == {"near_duplicate": 2}


def test_filter_rejects_tasks_a_text_model_cannot_do_and_malformed_ones():
    cands = {
        "Draw a picture of the bank's logo.": "cannot_do",
        "Listen to the recording and summarise the hearing.": "cannot_do",
        "Summarize the attached file for the client.": "cannot_do",
        "請畫出申請勞保給付的流程圖。": "cannot_do",
        "請根據這張圖片說明病人的症狀。": "cannot_do",
        "請摘要這個檔案的內容重點。": "cannot_do",
        "Hi there": "too_short",
        "請翻譯": "too_short",
        "word " * 160: "too_long",
        "...what is a municipal bond?": "bad_start",
        "「請說明」什麼是定期存款？": "bad_start",
        "x1 = 3; y2 = 4 + 5 * 6 / 7": "non_language",
        # Kept: 計畫 contains 畫, 檔案法 contains 檔案, and "file" is a verb here.
        "請說明退休理財計畫應包含哪些重點。": None,
        "請說明檔案法對政府機關保存檔案的規定。": None,
        "How do I file a tax return as a freelancer?": None,
    }
    kept, rejected = filter_tasks([{"instruction": i} for i in cands], [])
    got = {t["instruction"]: reason for t, reason in rejected} | {t["instruction"]: None for t in kept}
    assert got == cands


# --- fixed task templates ----------------------------------------------------------------------


def test_every_task_yaml_loads():
    names = task_templates.list_templates()
    assert {"extract_entities", "marketing_copy", "statute_summary"} <= set(names)
    for name in names:
        task = task_templates.load_template(name)
        assert task.name == name and {"en", "zh-Hant"} <= set(task.instructions)
        assert task.output in ("json", "text") and task.min_chars < task.max_chars


def test_entity_extraction_requests_and_records():
    article = "2024 年 5 月，臺北市政府在市府大樓舉行記者會，由市長蔣萬安宣布新的育兒補助。" * 200
    docs = [doc(article, "zh-Hant", title="臺北市育兒津貼新制"), doc("Bonjour tout le monde.", "fr")]
    stats: dict[str, int] = {}
    reqs = task_templates.build_requests("extract_entities", docs, model="m-3", stats=stats)
    assert stats == {"documents": 2, "requests": 1, "skipped_language": 1}
    req = reqs[0]
    assert req.params["response_format"] == {"type": "json_object"} and req.meta["instruction"].startswith("請從")
    assert token_length(req.meta["input"]) <= 1500 < token_length(article)  # the article is truncated
    assert req.meta["input"].startswith(
        "# 臺北市育兒津貼新制"
    )  # the title is not in the text and req.meta["input"] in req.messages[1]["content"]
    data = {
        "people": ["蔣萬安"],
        "events": ["育兒補助記者會"],
        "time": ["2024 年 5 月"],
        "place": ["臺北市政府"],
        "objects": [],
        "extra": ["dropped"],
    }
    records = task_templates.to_records(answer(req, data))
    valid(records)
    rec = records[0]
    assert rec["task_type"] == "entity_extraction" and rec["input"] == req.meta["input"]
    assert "蔣萬安" in rec["output"] and "\\u" not in rec["output"]  # ensure_ascii=False
    assert list(json.loads(rec["output"])) == ["people", "events", "time", "place", "objects"]
    for bad in (
        {"people": ["x"]},
        {**data, "people": "蔣萬安"},
        dict.fromkeys(["people", "events", "time", "place", "objects"], []),
    ):
        with pytest.raises(ParseError):
            task_templates.to_records(answer(req, bad))


def test_text_tasks_are_not_json_and_check_the_answer():
    statute = "第 38 條 勞工在同一雇主或事業單位，繼續工作滿一定期間者，應依規定給予特別休假。"
    req = task_templates.build_requests("statute_summary", [doc(statute, "zh-Hant", title="勞動基準法")])[0]
    assert "response_format" not in req.params and req.template == "statute_summary"
    summary = "在同一個雇主底下連續工作滿一定期間的勞工，雇主必須依照法律規定給他們特別休假。"
    records = task_templates.to_records(answer(req, text=f"```\n{summary}\n```"))
    valid(records)
    assert records[0]["output"] == summary and records[0]["generator"] == "llm"
    with pytest.raises(ParseError, match="wrong language"):
        task_templates.to_records(answer(req, text="Workers who stay with one employer get paid annual leave."))
    with pytest.raises(ParseError, match="too short"):
        task_templates.to_records(answer(req, text="有特休。"))


# --- code tasks --------------------------------------------------------------------------------

UNIT = {
    "repo": "https://example.com/finkit.git",
    "commit": "a" * 40,
    "path": "src/finkit/loan.py",
    "language": "python",
    "kind": "function",
    "symbol": "monthly_payment",
    "qualified_name": "monthly_payment",
    "signature": "def monthly_payment(principal: float, rate: float, months: int) -> float:",
    "docstring": "",
    "code": (
        "def monthly_payment(principal: float, rate: float, months: int) -> float:\n"
        "    if months <= 0:\n"
        "        raise ValueError('months must be positive')\n"
        "    if rate == 0:\n"
        "        return principal / months\n"
        "    r = rate / 12\n"
        "    return principal * r / (1 - (1 + r) ** -months)\n"
    ),
    "start_line": 1,
    "end_line": 7,
    "license": "MIT",
}
TESTS = """```python
import pytest
from finkit.loan import monthly_payment

def test_zero_rate_divides_evenly():
    assert monthly_payment(1200, 0, 12) == 100

def test_rejects_non_positive_months():
    with pytest.raises(ValueError):
        monthly_payment(1000, 0.05, 0)
```"""


def test_code_requests_cover_both_tasks():
    method = {**UNIT, "kind": "method", "qualified_name": "Loan.payment", "symbol": "payment"}
    stats: dict[str, int] = {}
    reqs = code_tasks.build_requests([UNIT, method], model="m-4", stats=stats)
    assert [r.template for r in reqs] == ["code_description", "code_tests", "code_description"]
    assert stats["skipped_kind"] == 1  # no tests for methods: the model cannot see how to build the object
    assert reqs[0].params["response_format"] == {"type": "json_object"} and "response_format" not in reqs[1].params
    assert "from finkit.loan import monthly_payment" in reqs[1].messages[1]["content"]
    zh = code_tasks.build_requests([UNIT], language="zh-Hant")
    assert all("繁體中文" in r.messages[0]["content"] + r.messages[1]["content"] for r in zh)


def test_description_to_code_keeps_the_real_code_gold():
    req = code_tasks.build_requests([UNIT], tasks=["code_description"], model="m-4")[0]
    description = (
        "Computes the fixed monthly payment of an amortised loan from the principal, the annual interest rate "
        "and the number of months. A zero rate splits the principal evenly; a non-positive number of months "
        "raises ValueError."
    )
    rec = code_tasks.to_records(answer(req, {"description": description}))[0]
    valid([rec])
    assert rec["instruction"].startswith("Implement the python function `def monthly_payment(")
    assert rec["input"] == description and rec["output"] == UNIT["code"]
    assert rec["task_type"] == "llm_description_to_code" and rec["source_ref"].endswith("src/finkit/loan.py:1-7")
    leaked = description + " It does `r = rate / 12` then `return principal * r / (1 - (1 + r) ** -months)`."
    for bad in ({"description": leaked}, {"description": "Pays."}, {"text": description}):
        with pytest.raises(ParseError):
            code_tasks.to_records(answer(req, bad))


def test_code_to_tests_checks_python_tests_parse():
    req = code_tasks.build_requests([UNIT], tasks=["code_tests"])[0]
    rec = code_tasks.to_records(answer(req, text="Here are the tests:\n\n" + TESTS))[0]
    valid([rec])
    assert rec["instruction"] == "Write unit tests for this python function `monthly_payment` with pytest."
    assert rec["input"] == UNIT["code"] and rec["output"].startswith("import pytest")
    assert rec["task_type"] == "llm_code_to_tests"
    broken = TESTS.replace("def test_zero_rate_divides_evenly():", "def test_zero_rate_divides_evenly(:")
    copied = TESTS.replace("from finkit.loan import monthly_payment", UNIT["code"])
    no_test = "```python\nfrom finkit.loan import monthly_payment\n\nprint(monthly_payment(1, 0, 1))\n# padding\n```"
    for bad, reason in ((broken, "do not parse"), (copied, "redefine"), (no_test, "no test function")):
        with pytest.raises(ParseError, match=reason):
            code_tasks.to_records(answer(req, text=bad))
