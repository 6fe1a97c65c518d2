"""The gate's reports and the dataset card tell the truth: every count is a count of accepted.* and
quarantine.*, thresholds are recorded, numbers are rounded, rejected PII never shows; and the near-duplicate
rule that catches short rows differing in punctuation style and one word."""

from __future__ import annotations

import dataclasses
import html as htmllib
import json
import re
from collections import Counter

import pandas as pd
import pytest

from synth.records import make_record
from validate import dedup
from validate.dedup import near_duplicates, one_edit_jaccard, short_lengths
from validate.gate import REASONS
from validate.quality import GateConfig
from validate.report import pct, reason_key
from validate.run import gate_file, publish_file

CARD_NUMBER = "4111 1111 1111 1111"  # passes the Luhn check: pii:card under the default policy
EVAL_Q = "What is the capital of the fictional land of Zembla in the benchmark? Answer with the city name only please."


def _rec(instruction: str, output: str, lang: str = "en", task: str = "faq_qa", page: int = 0) -> dict:
    return make_record(
        instruction,
        output,
        task_type=task,
        language=lang,
        generator="rule:test",
        source_ref=f"http://127.0.0.1/page{page % 5}.html",
    )


def _rows() -> list[dict]:
    rows = [
        _rec(
            f"Question {i}: what is topic number {i} about in personal finance?",
            f"Topic {i} is about budgeting item {i}, which covers how to plan spending for month {i}.",
            page=i,
        )
        for i in range(14)
    ]
    rows += [
        _rec("什麼是複利？", "複利是指利息再產生利息的計算方式，長期下來，存款會成長得更快。", "zh-Hant", page=1),
        _rec("什麼是複利?", "複利是指利息再產生利息的計算辦法,長期下來,存款會成長得更快.", "zh-Hant", page=2),
        _rec(
            "什么是通胀？", "通胀是指一般物价水平在一段时间内持续上涨，货币购买力随之下降。", "zh-Hans", "section_qa", 3
        ),
        _rec("What is the capital of France?", "Paris is the capital of France."),
        _rec("What is the capital of Peru?", "Lima is the capital of Peru."),
        _rec("Which card should I use?", f"Use the card {CARD_NUMBER} for the payment."),
        _rec("Summarise {context}", "A short summary of the given text.", task="summary"),
        _rec("What is compound interest?", "As an AI language model, I cannot answer questions about finance."),
        _rec(
            "What is the capital of the fictional land of Zembla in the benchmark?",
            "The capital of the fictional land of Zembla in the benchmark is the city of Onhava by the sea.",
        ),
    ]
    rows.append(dict(rows[0]))  # an exact duplicate
    return rows


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _html_text(path) -> str:
    text = re.sub(r'src="data:[^"]*"', "", path.read_text(encoding="utf-8"))
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", text))


def _html_cell(html: str, label: str) -> str:
    m = re.search(rf"<tr><td>{re.escape(label)}</td><td>([^<]*)</td></tr>", html)
    assert m, label
    return m.group(1)


def _md_cell(md: str, label: str) -> str:
    m = re.search(rf"^\| {re.escape(label)} \| ([^|]*) \|$", md, re.M)
    assert m, label
    return m.group(1)


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("truth")
    src = tmp / "in.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in _rows()]
    lines.insert(5, "{not json")  # a line that holds no record
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "eval.jsonl").write_text(json.dumps({"question": EVAL_Q}) + "\n", encoding="utf-8")
    cfg = GateConfig.from_yaml()
    cfg = dataclasses.replace(cfg, pii={**cfg.pii, "card": "reject"})
    gate_file(src, tmp / "gate", cfg, eval_sets=[tmp / "eval.jsonl"])
    publish_file(
        tmp / "gate" / "accepted.parquet",
        tmp / "ds",
        pretty_name="Truth set",
        license="cc-by-4.0",
        gate_report=tmp / "gate" / "gate_report.json",
    )
    return tmp


def test_every_count_agrees_with_the_files(gated):
    gate = gated / "gate"
    accepted, quarantine = _jsonl(gate / "accepted.jsonl"), _jsonl(gate / "quarantine.jsonl")
    assert len(pd.read_parquet(gate / "accepted.parquet")) == len(accepted)
    assert len(pd.read_parquet(gate / "quarantine.parquet")) == len(quarantine)
    n_acc, n_q = len(accepted), len(quarantine)
    reasons = Counter(k for q in quarantine for k in {reason_key(r) for r in q[REASONS]})
    # every kind of decision happened, so the comparison below means something
    assert {"near_duplicate", "contaminated", "exact_duplicate", "pii:card", "template_leak"} <= set(reasons)
    assert "bad_line:invalid_json" in reasons

    rep = json.loads((gate / "gate_report.json").read_text(encoding="utf-8"))
    qr = json.loads((gate / "quality_report.json").read_text(encoding="utf-8"))
    assert (rep["input"], rep["accepted"], rep["quarantined"]) == (n_acc + n_q, n_acc, n_q)
    assert (qr["records_in"], qr["accepted"], qr["quarantined"]) == (n_acc + n_q, n_acc, n_q)
    assert qr["failures_by_check"] == dict(reasons)
    for check, count in rep["failures_by_check"].items():
        assert reasons[check] == count, check
    assert rep["near_duplicates_removed"] == qr["duplicates"]["removed"] == reasons["near_duplicate"]
    assert rep["contaminated_removed"] == qr["decontamination"]["removed"] == reasons["contaminated"]
    assert qr["languages"] == dict(Counter(r["language"] for r in accepted))

    html = (gate / "quality_report.html").read_text(encoding="utf-8")
    assert _html_cell(html, "records in") == str(n_acc + n_q)
    assert _html_cell(html, "accepted") == str(n_acc)
    assert _html_cell(html, "quarantined") == str(n_q)
    assert _html_cell(html, "near-duplicates removed") == str(reasons["near_duplicate"])
    assert _html_cell(html, "contaminated removed") == str(reasons["contaminated"])

    card = (gated / "ds" / "README.md").read_text(encoding="utf-8")
    for md in ((gate / "gate_summary.md").read_text(encoding="utf-8"), card):
        assert _md_cell(md, "Records in") == str(n_acc + n_q)
        assert _md_cell(md, "Accepted") == str(n_acc)
        assert _md_cell(md, "Quarantined") == str(n_q)
        assert _md_cell(md, "Near-duplicates removed") == str(reasons["near_duplicate"])
        assert _md_cell(md, "Contaminated removed") == str(reasons["contaminated"])
    splits = json.loads((gated / "ds" / "dataset_manifest.json").read_text(encoding="utf-8"))
    assert sum(splits.values()) == n_acc


def test_rejection_rates_per_language_and_task_type_are_counted_on_input_rows(gated):
    gate = gated / "gate"
    accepted, quarantine = _jsonl(gate / "accepted.jsonl"), _jsonl(gate / "quarantine.jsonl")
    qr = json.loads((gate / "quality_report.json").read_text(encoding="utf-8"))
    html = (gate / "quality_report.html").read_text(encoding="utf-8")
    card = (gated / "ds" / "README.md").read_text(encoding="utf-8")
    for column, key in (("language", "rejection_by_language"), ("task_type", "rejection_by_task_type")):
        label = [str(r[column]) if r.get(column) is not None else "(missing)" for r in accepted + quarantine]
        bad = Counter(str(r[column]) if r.get(column) is not None else "(missing)" for r in quarantine)
        want = {k: (n, bad[k], round(bad[k] / n, 4)) for k, n in Counter(label).items()}
        assert {k: (v["input"], v["quarantined"], v["rate"]) for k, v in qr[key].items()} == want
        for value, (n, q, rate) in want.items():
            row = f"<tr><td>{htmllib.escape(value)}</td><td>{n}</td><td>{q}</td><td>{pct(rate)}</td></tr>"
            assert row in html
            assert f"| {value} | {n} | {q} | {pct(rate)} |" in card
    assert qr["rejection_by_language"]["zh-Hant"]["quarantined"] >= 1  # the near-duplicate


def test_thresholds_are_recorded_and_on_the_card(gated):
    rep = json.loads((gated / "gate" / "gate_report.json").read_text(encoding="utf-8"))
    th = rep["thresholds"]
    cfg = GateConfig.from_yaml()
    assert th["gate"] == {**dataclasses.asdict(cfg), "pii": {**cfg.pii, "card": "reject"}}
    assert th["near_duplicate"]["jaccard_threshold"] == 0.85
    assert th["near_duplicate"]["one_edit_rule_below"] == {
        "words": 39,
        "han_chars": 78,
        "edit_words": 1,
        "edit_han_chars": 2,
    }
    assert th["decontamination"]["ngram"] == 13 and th["decontamination"]["eval_sets"] == ["eval.jsonl"]
    card = (gated / "ds" / "README.md").read_text(encoding="utf-8")
    assert "Thresholds not recorded" not in card
    assert "<details>" in card and "</details>" in card
    assert f"| min_output_chars | {cfg.min_output_chars} |" in card and "| pii.card | reject |" in card
    assert "| near_duplicate.jaccard_threshold | 0.85 |" in card and "| decontamination.ngram | 13 |" in card
    assert str(gated) not in card  # no local paths on a public card


def test_examples_per_reason_are_capped_cut_and_pii_masked(gated):
    gate = gated / "gate"
    qr = json.loads((gate / "quality_report.json").read_text(encoding="utf-8"))
    quarantine = _jsonl(gate / "quarantine.jsonl")
    assert set(qr["failure_examples"]) == set(qr["failures_by_check"])
    for reason, examples in qr["failure_examples"].items():
        assert 1 <= len(examples) <= 3
        for ex in examples:
            row = quarantine[ex["quarantine_row"]]
            assert reason in {reason_key(r) for r in row[REASONS]}
            assert ex["line"] == row["line"]  # JSONL input: every quarantined row names its line
            assert all(len(ex.get(f, "")) <= 201 for f in ("instruction", "input", "output", "raw"))
    (card_ex,) = qr["failure_examples"]["pii:card"]
    assert "[CARD]" in card_ex["output"]
    digits = CARD_NUMBER.replace(" ", "")
    for name in ("quality_report.json", "quality_report.html", "gate_summary.md", "gate_report.json"):
        text = (gate / name).read_text(encoding="utf-8")
        assert CARD_NUMBER not in text and digits not in text, name
    card = (gated / "ds" / "README.md").read_text(encoding="utf-8")
    assert CARD_NUMBER not in card  # no examples on the card at all: the placeholder appears only in the PII policy
    assert all(line.startswith("| card |") for line in card.splitlines() if "[CARD]" in line)
    assert "Which card should I use" not in card


def test_shown_numbers_are_rounded_and_decontamination_is_stated(gated):
    gate = gated / "gate"
    text = _html_text(gate / "quality_report.html")
    card = (gated / "ds" / "README.md").read_text(encoding="utf-8")
    for shown in (text, card, (gate / "gate_summary.md").read_text(encoding="utf-8")):
        assert not re.search(r"\d\.\d{3,}", shown), re.search(r".{40}\d\.\d{3,}.{10}", shown)
    qr = json.loads((gate / "quality_report.json").read_text(encoding="utf-8"))
    for stats in qr["lengths"].values():
        assert all(round(v, 1) == v for v in stats.values())
    assert all(round(v, 4) == v for v in qr["failure_rate_by_check"].values())
    html = (gate / "quality_report.html").read_text(encoding="utf-8")
    section = html.split('id="decontamination"', 1)[1].split("<h2", 1)[0]
    assert "-gram" not in section and "None" not in section
    assert "1 record shared a 13-token window" in section


def test_without_an_eval_set_decontamination_is_one_line(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _rows()) + "\n", encoding="utf-8")
    report = gate_file(src, tmp_path / "gate")
    assert report["thresholds"]["decontamination"] is None
    html = (tmp_path / "gate" / "quality_report.html").read_text(encoding="utf-8")
    section = html.split('id="decontamination"', 1)[1].split("<h2", 1)[0]
    assert "No eval set was given, so decontamination was not run." in section
    assert "<table" not in section
    summary = (tmp_path / "gate" / "gate_summary.md").read_text(encoding="utf-8")
    assert "| Contaminated removed | not run (no eval set) |" in summary
    qr = json.loads((tmp_path / "gate" / "quality_report.json").read_text(encoding="utf-8"))
    assert qr["decontamination"]["run"] is False and qr["decontamination"]["removed"] == 0


# --- near-duplicates of short rows ------------------------------------------------------------------------


def _frame(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"id": f"{k:04d}", "instruction": i, "input": "", "output": o} for k, (i, o) in enumerate(pairs)]
    )


SHORT_PAIRS = [
    # zh-Hant: full-width vs ASCII punctuation, and 方式 -> 辦法
    ("什麼是複利？", "複利是指利息再產生利息的計算方式，長期下來，存款會成長得更快。"),
    ("什麼是複利?", "複利是指利息再產生利息的計算辦法,長期下來,存款會成長得更快."),
    # zh-Hans: 「」 vs “”, 。 vs ., and 增长 -> 上涨
    ("「通胀」是什么？", "通胀是指一般物价水平在一段时间内持续增长，货币购买力随之下降。"),
    ("“通胀”是什么?", "通胀是指一般物价水平在一段时间内持续上涨,货币购买力随之下降."),
    # English: IME punctuation (，？。) vs ASCII, and red -> yellow
    ("Why is the sky blue？", "Because air scatters blue light more than red light，mostly。"),
    ("Why is the sky blue?", "Because air scatters blue light more than yellow light, mostly."),
]


def test_short_rows_differing_in_punctuation_style_and_one_word_are_caught():
    keep, clusters = near_duplicates(_frame(SHORT_PAIRS))
    assert sorted(map(sorted, clusters)) == [[0, 1], [2, 3], [4, 5]]
    assert keep.sum() == 3


def test_short_rows_sharing_a_template_but_not_their_content_are_kept():
    rows = [
        ("What is the capital of France?", "Paris is the capital of France."),
        ("What is the capital of Peru?", "Lima is the capital of Peru."),
        ("What is the capital of France?", "Paris."),
        ("What is the capital of Peru?", "Lima."),
        ("Is 7 a prime number?", "Yes, 7 is prime."),
        ("Is 9 a prime number?", "No, 9 is 3 times 3."),
        ("法國的首都是哪裡？", "法國的首都是巴黎。"),
        ("秘魯的首都是哪裡？", "秘魯的首都是利馬。"),
        ("台北的捷運有幾條路線？", "台北捷運目前有六條主要路線。"),
        ("高雄的捷運有幾條路線？", "高雄捷運目前有兩條主要路線。"),
    ]
    keep, clusters = near_duplicates(_frame(rows))
    assert clusters == [] and keep.all()
    # a different number is different content, even when it is the only word that differs
    numbers = [
        ("Is 7 a prime number?", "Yes."),
        ("Is 11 a prime number?", "Yes."),
        ("12 加 30 等於多少？", "42。"),
        ("12 加 31 等於多少？", "42。"),
    ]
    keep, clusters = near_duplicates(_frame(numbers))
    assert clusters == [] and keep.all()
    # the whole record is compared: the same two questions with one shared answer differ in one word only
    keep, clusters = near_duplicates(_frame([rows[0], ("What is the capital of Peru?", rows[0][1])]))
    assert clusters == [[0, 1]] or clusters == [[1, 0]]


def test_short_length_rule_follows_the_shingle_math():
    # one edit changes <= k + m - 1 of the L - k + 1 shingles: the fixed threshold covers it from L on
    words, han = short_lengths(0.85)
    assert (words, han) == (39, 78)
    assert one_edit_jaccard(words, cjk=False) >= 0.85 > one_edit_jaccard(words - 1, cjk=False)
    assert one_edit_jaccard(han, cjk=True) >= 0.85 > one_edit_jaccard(han - 1, cjk=True)
    assert one_edit_jaccard(5, cjk=False) == 0.0  # every shingle of a 5-word record can touch the middle word
    assert short_lengths(1.0) is None
    assert short_lengths(0.95)[0] > words  # a stricter threshold needs longer records to forgive one word


def test_long_rows_keep_the_jaccard_path():
    base = " ".join(f"word{i}" for i in range(60))
    edited = base.replace("word10 ", "other10 ").replace("word30 ", "other30 ").replace("word50 ", "other50 ")
    df = _frame([("Explain this.", base), ("Explain this.", edited)])
    sh = dedup.frame_shingles(df, short=dedup.short_token_limits(0.85))
    assert len(sh.short.rows) == 0  # 62 words: not short, no edit keys made
    _, clusters = near_duplicates(df)
    assert clusters == []  # three words changed: Jaccard 0.7, below 0.85, as before


def test_punctuation_styles_shingle_alike():
    a, a_off = dedup.shingle_hashes(["什麼是複利？「利息」再生利息。", "Hello，world！ (yes)"])
    b, b_off = dedup.shingle_hashes(['什麼是複利?"利息"再生利息.', "Hello, world! (yes)"])
    assert a.tolist() == b.tolist() and a_off.tolist() == b_off.tolist()
    assert dedup.fold_punctuation("｢半形｣､句點｡") == ' "半形" , 句點. '
