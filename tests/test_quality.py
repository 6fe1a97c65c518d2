"""The quality gate's checks on realistic bilingual records: what each one catches, and near misses it must not."""

import hashlib
import random
import re

import numpy as np
import pandas as pd
import pytest
from conftest import instruction_row

from validate import arrowtext, exactdup, quality, semantic
from validate.errors import DataAgentError
from validate.gate import REASONS
from validate.pii import KINDS, cn_id_ok, luhn_ok, tw_id_ok
from validate.quality import GateConfig, run_gate, strict_violations

LONG_ZH = (
    "複利是指把每一期產生的利息併入本金，下一期再以新的本金計算利息的方式。"
    "時間愈長，利息滾入本金的效果愈明顯，因此長期定期定額投資指數型基金時，複利的影響往往比報酬率的小幅差異更大。"
    "以年利率百分之五計算，十年後本金約成長為一點六三倍，二十年後約為二點六五倍。"
)
LONG_EN = (
    "An index fund is a mutual fund or exchange-traded fund that holds the securities of a market index, "
    "such as the S&P 500, in the same proportions as the index itself. Because it does not pay analysts to pick "
    "stocks, its fees are usually far lower than those of actively managed funds, and over long periods most "
    "active managers fail to beat it after costs."
)


rec = instruction_row


def gate(rows, cfg=None):
    accepted, quarantined, report = run_gate(pd.DataFrame(rows), cfg)
    assert len(accepted) + len(quarantined) == len(rows) == report["input"]
    reasons = {r.instruction: list(getattr(r, REASONS)) for r in quarantined.itertuples()}
    return accepted, reasons, report


def test_clean_bilingual_records_pass():
    rows = [
        rec("什麼是複利？", LONG_ZH, language="zh-Hant"),
        rec("What is an index fund?", LONG_EN),
        rec("列出三種常見的投資工具", "- 股票\n- 債券\n- 指數型基金", language="zh-Hant"),  # list, no final period
        rec("List the steps to open an account", "1. Fill in the form\n2. Upload your ID\n3. Wait for approval"),
        rec("寫一個加總函式", "```python\ndef add(a, b):\n    return a + b\n```", task_type="docstring_to_code"),
        rec("Write add()", "def add(a, b):\n    return a + b\n", task_type="docstring_to_code"),
        rec("Give the config as JSON", '```json\n{"retries": 3, "tags": ["a", "b"]}\n```', task_type="json_gen"),
        rec("Extract the company name: Acme Corp announced record profits this year.", "Acme Corp"),
        rec(
            "Translate to English: 我們無法在週末處理退款。",
            "We cannot process refunds at weekends.",
            task_type="translate",
        ),
        rec(
            "模型為什麼會過擬合？",
            "當模型參數過多而資料太少時，我們無法期待它在新資料上表現良好，這就是過擬合。",
            language="zh-Hant",
        ),
        rec("What does the invoice number look like?", "Invoices are numbered like AB-12345678 or 0912-34-5678-001."),
    ]
    accepted, reasons, report = gate(rows)
    assert reasons == {}, reasons
    assert len(accepted) == len(rows)
    assert report["failures_by_check"] == {} and report["failure_rate_by_check"] == {}


@pytest.mark.parametrize(
    "output",
    [
        "As an AI language model, I cannot give legal advice.",
        "I'm sorry, but I can't help with that request.",
        "作為一個AI語言模型，我無法提供投資建議。",
        "作为一个AI语言模型，我无法提供医疗建议。",
        "抱歉，我不能回答這個問題。",
        "我無法提供這方面的資訊。",
    ],
)
def test_refusals_in_english_and_both_chinese_scripts(output):
    _, reasons, _ = gate([rec("請解釋租約的提前解約條款", output, language="zh-Hant")])
    assert "output:refusal_boilerplate" in reasons["請解釋租約的提前解約條款"]


def test_echo_and_restatement():
    rows = [
        rec("什麼是複利？", "什麼是複利。", language="zh-Hant"),
        rec("Explain compound interest", "explain compound interest."),
        rec("Describe the refund policy for annual plans in detail", "The refund policy for annual plans in detail"),
        rec("Summarise: the lease ends in May.", "The lease ends in May, after twelve months of tenancy."),
    ]
    _, reasons, _ = gate(rows)
    assert reasons["什麼是複利？"] == ["output_echoes_instruction"]
    assert reasons["Explain compound interest"] == ["output_echoes_instruction"]
    assert reasons["Describe the refund policy for annual plans in detail"] == ["output_echoes_instruction"]
    assert "Summarise: the lease ends in May." not in reasons


def test_truncated_outputs():
    rows = [
        rec("What is an index fund?", LONG_EN[:-40]),  # cut mid-sentence
        rec("Show the loop", "```python\nfor i in range(3):\n    print(i)\n"),  # unclosed fence
        rec("複利的公式是什麼？", "公式為 A = P（1 + r", language="zh-Hant"),  # unbalanced bracket
        rec("什麼是複利？", LONG_ZH, language="zh-Hant"),  # ends with 。
    ]
    _, reasons, _ = gate(rows)
    assert "output:truncated_output" in reasons["What is an index fund?"]
    assert "output:truncated_output" in reasons["Show the loop"]
    assert "output:truncated_output" in reasons["複利的公式是什麼？"]
    assert "什麼是複利？" not in reasons


def test_merged_instructions_and_template_leaks():
    rows = [
        rec("Capital of France?", "Paris.\n\n2. Instruction: What is the capital of Spain?\nMadrid."),
        rec("法國首都？", "巴黎。\n### 指令：西班牙的首都？", language="zh-Hant"),
        rec("Say hi", "<|im_start|>assistant\nHi!"),
        rec("[INST] Say hello [/INST]", "Hello."),
        rec("Why is the sky blue?", "<think>Rayleigh...</think>Because of Rayleigh scattering."),
        rec("Greet the user", "Assistant: Hello there, how can I help?"),
        rec("Summarise the text", "A short summary.", input="<noinput>"),
    ]
    _, reasons, _ = gate(rows)
    assert "output:merged_instructions" in reasons["Capital of France?"]
    assert "output:merged_instructions" in reasons["法國首都？"]
    for key in ["Say hi", "[INST] Say hello [/INST]", "Why is the sky blue?", "Greet the user", "Summarise the text"]:
        assert "template_leak" in reasons[key], key


def test_mojibake_and_control_characters():
    rows = [
        rec("Describe the café", "The cafÃ© opens at nine."),
        rec("Quote him", "He said itâ€™s fine."),
        rec("中文亂碼", "å\x8f°ç\x81£ is broken text.", language="zh-Hant"),
        rec("Bell", "Ring the bell\x07 now."),
        rec("Bad bytes", "Broken \ufffd text."),
        rec("French café", "Le café\u00a0! Très bon."),  # NBSP after é: legitimate French typography
        rec("Windows text", "Line one.\r\nLine two."),
    ]
    _, reasons, _ = gate(rows)
    assert "output:mojibake" in reasons["Describe the café"]
    assert "output:mojibake" in reasons["Quote him"]
    assert "output:mojibake" in reasons["中文亂碼"]
    assert "output:control_chars" in reasons["Bell"]
    assert "output:mojibake" in reasons["Bad bytes"]
    assert "French café" not in reasons and "Windows text" not in reasons


def test_language_mismatch():
    rows = [
        rec("What is an index fund and why are its fees low?", LONG_ZH),
        rec(
            "請說明什麼是指數型基金，以及為什麼費用較低？",
            "指数型基金追踪市场指数，这个产品没有选股成本，所以费用较低。",
            language="zh-Hant",
        ),
        rec("請說明什麼是指數型基金，以及為什麼費用較低？", LONG_EN + " ", language="zh-Hant", source_ref="http://b"),
        rec(
            "請說明什麼是指數型基金？",
            "指數型基金追蹤市場指數，這個產品沒有選股成本，所以費用較低。",
            language="zh-Hant",
        ),
        rec("Translate into Chinese: index funds track an index.", "指數型基金追蹤市場指數。", task_type="translate"),
        rec("Summarise the passage", "這篇文章說明指數型基金追蹤市場指數，費用較低。", input=LONG_ZH),
    ]
    accepted, reasons, _ = gate(rows)
    assert "language_mismatch" in reasons["What is an index fund and why are its fees low?"]
    assert reasons["請說明什麼是指數型基金，以及為什麼費用較低？"] == ["language_mismatch"]
    assert set(accepted["instruction"]) >= {
        "請說明什麼是指數型基金？",
        "Translate into Chinese: index funds track an index.",
        "Summarise the passage",
    }


def test_code_and_json_answers_must_parse():
    rows = [
        rec("Write add()", "def add(a, b):\n    return a +", task_type="docstring_to_code"),
        rec("Show code", "Here:\n```python\ndef f(:\n    pass\n```\nDone."),
        rec(
            "Method body",
            "    def balance(self, account):\n        return self._balances[account]\n",
            task_type="method_with_context",
            source_ref="repo@abc:ledger.py:10-12",
        ),
        rec("Java add", "class Adder { int add(int a, int b) { return a + b; } }", task_type="docstring_to_code"),
        rec("Extract fields", '{"name": "Acme", "year": 2024,', task_type="json_extract"),
        rec("As JSON", 'Result:\n```json\n{"a": 1,}\n```'),
        rec("Extract as JSON", '{"name": "Acme", "year": 2024}', task_type="json_extract"),
    ]
    _, reasons, _ = gate(rows)
    assert reasons["Write add()"] == ["code_syntax_error", "output:truncated_output"]  # cut off, so it fails
    assert "code_syntax_error" in reasons["Show code"]
    assert "Method body" not in reasons and "Java add" not in reasons and "Extract as JSON" not in reasons
    assert "json_invalid" in reasons["Extract fields"]
    assert "json_invalid" in reasons["As JSON"]


def test_length_bounds_are_cjk_aware_and_configurable():
    cfg = GateConfig(max_output_chars=30, max_output_tokens=12)
    rows = [
        rec("短答", "這是一個十二個漢字的回答。", language="zh-Hant"),  # 12 Han -> weighted 37, ~13 tokens
        rec("Short", "A twenty-char answer"),  # 20 chars, ~5 tokens
    ]
    _, reasons, _ = gate(rows, cfg)
    assert set(reasons["短答"]) == {"output:too_long", "output:too_many_tokens"}
    assert "Short" not in reasons
    _, reasons, _ = gate([rec("Q?", "A")])
    assert reasons["Q?"] == ["output:too_short"]


def test_every_reason_is_listed_and_duplicates_are_quarantined():
    bad = rec("Summarise {context}", "As an AI language model, I think itâ€™s fine.")
    rows = [bad, rec("What is an index fund?", LONG_EN), rec("What is an index fund?", LONG_EN)]
    rows[2] = dict(rows[2], id="f" * 64)  # same content under another id
    _, reasons, report = gate(rows)
    assert reasons["Summarise {context}"] == sorted(["output:mojibake", "output:refusal_boilerplate", "template_leak"])
    assert reasons["What is an index fund?"] == ["exact_duplicate"]
    assert report["failures_by_check"]["exact_duplicate"] == 1
    assert report["failure_rate_by_check"]["template_leak"] == pytest.approx(1 / 3, abs=1e-5)


def test_checksum_validators():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert tw_id_ok("A123456789") and not tw_id_ok("A123456788")
    assert cn_id_ok("11010519491231002X") and not cn_id_ok("110105194912310021")


def test_pii_scrub_recomputes_id_and_keeps_near_misses():
    text = (
        "Mail jane.doe@gmail.com, call 0912-345-678 or +886 912 345 678, office (02) 2345-6789, "
        "server 8.8.8.8 and 2a00:1450:4001:81b::200e. Invoice AB-12345678, order 0912-34-5678-001, v1.2.3.4.5."
    )
    accepted, reasons, report = gate([rec("Who do I contact?", text)])
    assert reasons == {}
    out = accepted.iloc[0]["output"]
    assert "jane.doe" not in out and out.count("[EMAIL]") == 1
    assert out.count("[PHONE]") == 3 and "0912-345-678" not in out and "(02) 2345-6789" not in out
    assert out.count("[IP]") == 2
    assert "AB-12345678" in out and "0912-34-5678-001" in out and "v1.2.3.4.5" in out
    assert report["pii_scrubbed"] == {"email": 1, "phone": 3, "ip": 2}
    row = accepted.iloc[0]
    expected = hashlib.sha256("\x1f".join((row["instruction"], row["input"], row["output"])).encode()).hexdigest()
    assert row["id"] == expected != rec("Who do I contact?", text)["id"]


def test_pii_reject_uses_checksums():
    rows = [
        rec("Card on file?", "Your card 4111 1111 1111 1111 is on file."),
        rec("Card typo?", "Your card 4111 1111 1111 1112 is on file."),
        rec("身分證？", "申請人身分證字號 A123456789，請核對。", language="zh-Hant"),
        rec("身分證錯誤？", "申請人身分證字號 A123456788，請核對。", language="zh-Hant"),
        rec("身份证？", "申请人身份证号 11010519491231002X，请核对。", language="zh-Hans"),
        rec("身份证错误？", "申请人身份证号 110105194912310021，请核对。", language="zh-Hans"),
    ]
    _, reasons, _ = gate(rows)
    assert reasons == {"Card on file?": ["pii:card"], "身分證？": ["pii:tw_id"], "身份证？": ["pii:cn_id"]}
    cfg = GateConfig(pii={**GateConfig().pii, "card": "scrub", "email": "reject"})
    accepted, reasons, report = gate([rows[0], rec("Mail?", "Write to a@b.org.")], cfg)
    assert reasons == {"Mail?": ["pii:email"]}
    assert "[CARD]" in accepted.iloc[0]["output"] and report["pii_scrubbed"]["card"] == 1


def test_strict_violations_and_yaml_overlay(tmp_path):
    rows = [rec(f"Question {i}?", f"Answer number {i}.") for i in range(9)]
    rows.append(rec("Explain leases.", "As an AI language model, I cannot give legal advice."))
    _, _, report = gate(rows)
    lines = strict_violations(report, GateConfig())
    assert len(lines) == 1 and lines[0].startswith("output:refusal_boilerplate: 1 of 10") and "5.00%" in lines[0]

    user = tmp_path / "gate.yaml"
    user.write_text(
        "max_output_chars: 10\npii:\n  email: reject\nmax_failure_rate:\n  output:refusal_boilerplate: 0.5\n"
    )
    cfg = GateConfig.from_yaml(user)
    assert cfg.max_output_chars == 10 and cfg.min_output_chars == GateConfig().min_output_chars
    assert cfg.pii["email"] == "reject" and cfg.pii["phone"] == "scrub"
    assert cfg.max_failure_rate["template_leak"] == GateConfig().max_failure_rate["template_leak"]
    assert strict_violations(report, cfg) == []
    assert GateConfig.from_yaml() == GateConfig()
    user.write_text("max_output_charz: 10\n")
    with pytest.raises(DataAgentError, match="max_output_charz"):
        GateConfig.from_yaml(user)
    with pytest.raises(DataAgentError, match="'pii.email' must be one of"):
        GateConfig(pii={"email": "shred"})


def test_defaults_yaml_documents_every_key():
    text = quality.DEFAULTS_PATH.read_text(encoding="utf-8")
    for key in quality._DEFAULTS:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{key}:"))
        idx = text.splitlines().index(line)
        above = text.splitlines()[idx - 1]
        assert "#" in line or above.startswith("#"), key


def test_patterns_run_in_pyarrow_and_in_python_re():
    """Every column-wide pattern must stay RE2-compatible (else pandas silently loops in Python) and valid re."""
    cfg = GateConfig()
    arr = pd.Series(["x"], dtype="str").array
    patterns = [cfg.refusal_pattern, cfg.leak_pattern, cfg.merged_pattern, quality.MOJIBAKE, quality.CONTROL]
    patterns += [quality.HAN, quality.LATIN, quality.CODE_HINT, quality.HANT_MARK, quality.HANS_MARK]
    patterns += [semantic.REFUSAL_CORE, semantic.ALWAYS_CORE, semantic.refusal_opening_pattern(2), semantic.QUOTED]
    patterns += [semantic.MERGED_SCREEN, semantic.ECHO_LABEL, semantic.GARBLE_SCREEN]
    patterns += [semantic.SHORT_SCREEN, semantic.ZERO_WIDTH, semantic.FENCE]
    patterns += [k.candidate for k in KINDS.values()]
    for p in filter(None, patterns):
        re.compile(p)
        assert not arr._needs_python_regex(p), p
        arrowtext.contains(pd.Series(["x"], dtype="str"), p)  # RE2 compiles it


def test_workers_and_chunks_do_not_change_the_result():
    """Chunks validated in worker processes give the same frames, reasons and report as one pass, and exact
    duplicates are found across chunk borders (also ones that only PII scrubbing makes equal)."""
    rows = [rec(f"What does fund {i} invest in?", f"Fund {i} invests in bonds and stocks.") for i in range(12)]
    rows[1] = rec("Summarise {context}", "As an AI language model, I cannot.")
    rows[2] = rec("Card on file?", "Your card 4111 1111 1111 1111 is on file.")
    rows[3] = rec("Who do I mail?", "Write to jane.doe@gmail.com today.")
    rows[4] = rec("Describe the café", "The cafÃ© opens at nine.")
    rows[5] = rec("Write add()", "def add(a, b):\n    return a +", task_type="docstring_to_code")
    rows[6] = rec("Explain compound interest", "explain compound interest.")
    rows[9] = rec("Who do I mail?", "Write to john.roe@outlook.com today.")  # same as row 3 once scrubbed
    rows[11] = rec("WHAT does fund 0  invest in?", "fund 0 invests in bonds and stocks.")  # row 0, normalised
    df = pd.DataFrame(rows)
    one = run_gate(df, workers=1)
    many = run_gate(df, workers=2, chunk_rows=4)
    pd.testing.assert_frame_equal(one[0], many[0])
    pd.testing.assert_frame_equal(one[1], many[1])
    assert one[2] == many[2]
    reasons = dict(zip(many[1]["instruction"], many[1][REASONS].map(list), strict=True))
    assert reasons["WHAT does fund 0  invest in?"] == ["exact_duplicate"]
    assert reasons["Who do I mail?"] == ["exact_duplicate"] and many[2]["pii_scrubbed"]["email"] == 2
    assert reasons["Card on file?"] == ["pii:card"]
    assert reasons["Write add()"] == ["code_syntax_error", "output:truncated_output"]
    assert len(many[0]) == 5 and len(many[1]) == 7


def test_byte_level_helpers_match_their_regex_definitions():
    """letter_counts, has_breaks, trimmed and ends_with read UTF-8 bytes; they must agree with the regex and
    pyarrow definitions they replace, on edge cases (Han at block edges, hexagrams, fullwidth forms, Unicode
    spaces, runs of spaces across row borders, nulls)."""
    import pyarrow.compute as pc

    rng = random.Random(7)
    alphabet = list("ab Z。？…”\t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2000\u2028\u2029\u3000\ufeff中é䷀㐀豈﫿ＡＢ.!3．") + [
        "😀"
    ]
    rows = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(6000)] + [None, "", " ", "  "]
    s = pd.Series(rows, dtype="str")
    arr = arrowtext.as_arrow(s)
    han, lat = arrowtext.letter_counts(s)
    assert (han == pc.fill_null(pc.count_substring_regex(arr, quality.HAN), 0).to_numpy()).all()
    assert (lat == pc.fill_null(pc.count_substring_regex(arr, quality.LATIN), 0).to_numpy()).all()
    assert (exactdup.has_breaks(s) == arrowtext.contains(s, exactdup.DEDUP_BREAK + "|  ")).all()
    assert arrowtext.trimmed(s).equals(pd.Series(pc.utf8_trim_whitespace(arr), dtype="str"))
    last = pd.Series(pc.utf8_slice_codeunits(arr, -1), dtype="str")
    assert (arrowtext.ends_with(s, quality.TERMINAL) == last.isin(list(quality.TERMINAL)).to_numpy()).all()
    assert (arrowtext.has_byte(s, 10) == arrowtext.contains(s, "\n")).all()
    numbered = s.astype(object).map(lambda t: isinstance(t, str) and re.search("[0-9][.．]\\Z", t) is not None)
    assert (arrowtext.ends_with_number_stop(s) == numbered.to_numpy(bool)).all()


def test_dedup_fingerprints_agree_for_equal_keys_on_every_path():
    """Plain ASCII rows are digested in place, the others through the built key: equal keys must get equal
    digests whichever path each row took."""
    texts = ["Hello World", "hello world", "ｈｅｌｌｏ World", "Hello  World", " hello world", "hello\tworld"]
    texts += ["Hi", "x" * 20, "X" * 20, "Ｘ" * 20, "短", "短 "]
    df = pd.DataFrame({"instruction": texts, "input": [""] * len(texts), "output": ["same"] * len(texts)})
    keys = exactdup.dedup_keys(df)
    fps = exactdup.fingerprints(df, np.arange(len(df)))
    groups = {}
    for key, fp in zip(keys.itertuples(index=False), fps.tolist(), strict=True):
        groups.setdefault(tuple(key), set()).add(fp)
    assert all(len(v) == 1 for v in groups.values())
    assert len(groups) == 4  # hello world, hi, x*20, 短


def test_dedup_key_fast_path_for_han_text_matches_normalize_text():
    """Text of ASCII, Han and "。" skips NFKD (it is its own NFKD form, caseless beyond ASCII); mixed with rows
    that do need NFKD, every key still equals normalize_text's."""
    import unicodedata

    from validate.text import normalize_text

    stable = [0x3002, *range(0x3400, 0xA000)]
    assert all(unicodedata.normalize("NFKD", chr(c)) == chr(c) == chr(c).lower() for c in stable)
    assert not arrowtext.contains(pd.Series(["".join(map(chr, stable)) + "AbC 09"]), exactdup.NFKD_UNSTABLE).any()
    texts = [
        "複利 Interest。",
        "複利  Interest。 ",
        "複利，Interest？",
        "ｘ複利",
        "Ab\t中文",
        "中文。",
        "ＡＢ中文",
        "中\u3000文",
    ]
    df = pd.DataFrame({"instruction": texts, "input": texts[::-1], "output": ["中文 Out。"] * len(texts)})
    keys = exactdup.dedup_keys(df)
    for f in ("instruction", "input", "output"):
        assert keys[f].tolist() == [normalize_text(t) for t in df[f]]
