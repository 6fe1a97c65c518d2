"""The gate (validate.quality.run_gate, vectorised) and its plain specification (validate.spec.check_records) agree
row by row, reason by reason, on a generated sample that mixes clean rows with every defect kind in zh-Hant,
zh-Hans and English, and with the rows that sit on the edges of the screens (whitespace at the ends, zero-width
characters, quotes, code fences, numbered lists)."""

import random

import pandas as pd
from conftest import instruction_row

from validate import spec
from validate.gate import REASONS
from validate.quality import GateConfig, run_gate

SENTENCES = {
    "en": [
        "An index fund holds the securities of a market index in the same proportions.",
        "Its fees are usually far lower than those of actively managed funds.",
        "The cron daemon runs scheduled jobs at fixed times.",
        "Use sudo instead of logging in as root, because mistakes made as root are hard to undo.",
        "The kernel mounts the root filesystem read-only first and remounts it later.",
        "A named pipe is a file that acts like a pipe between two processes.",
        "Back up /etc and your home directory before every upgrade.",
        "Python keeps the number of digits manageable by displaying a rounded value.",
    ],
    "zh-Hant": [
        "指數型基金依照市場指數的比例持有證券。",
        "它的費用通常比主動管理的基金低得多。",
        "定時任務由 cron 後臺程序在固定時間執行。",
        "請用 sudo 取代直接以 root 登入，因為以 root 犯的錯很難復原。",
        "系統啟動時會先以唯讀方式掛載根檔案系統，之後再重新掛載。",
        "具名管道是一個在兩個程序之間傳遞資料的檔案。",
        "每次升級之前，請先備份 /etc 與家目錄。",
        "複利是指把每一期產生的利息併入本金，下一期再以新的本金計算利息。",
    ],
    "zh-Hans": [
        "指数型基金按照市场指数的比例持有证券。",
        "它的费用通常比主动管理的基金低得多。",
        "定时任务由 cron 后台程序在固定时间执行。",
        "请用 sudo 代替直接以 root 登录，因为以 root 犯的错误很难恢复。",
        "系统启动时会先以只读方式挂载根文件系统，之后再重新挂载。",
        "命名管道是一个在两个进程之间传递数据的文件。",
        "每次升级之前，请先备份 /etc 与主目录。",
        "复利是指把每一期产生的利息并入本金，下一期再以新的本金计算利息。",
    ],
}
QUESTIONS = {
    "en": ["What is an index fund?", "How does cron work?", "Why use sudo?", "What is a named pipe?"],
    "zh-Hant": ["什麼是指數型基金？", "cron 怎麼運作？", "為什麼要用 sudo？", "什麼是具名管道？"],
    "zh-Hans": ["什么是指数型基金？", "cron 怎么运作？", "为什么要用 sudo？", "什么是命名管道？"],
}
REFUSALS = {
    "en": [
        "I'm sorry, but I'm not able to help with that.",
        "As an AI language model, I cannot provide financial advice.",
        "Unfortunately I won't be able to fully answer this question.",
        "That is beyond my capabilities.",
    ],
    "zh-Hant": [
        "很抱歉，由於資料不足，我目前沒辦法回答。",
        "作為一個AI語言模型，我無法提供投資建議。",
        "這超出了我的能力範圍。",
    ],
    "zh-Hans": [
        "真的很抱歉，我恐怕无法协助这项任务。",
        "作为一个人工智能语言模型，我没有办法提供这个请求。",
        "我只是一个 AI，我没有个人观点。",
    ],
}
CODE = [
    ("docstring_to_code", "def total(items):\n    return sum(items)\n"),
    ("method_with_context", "        def total(self, items):\n            result = sum(items)\n            return result"),  # noqa: E501
    ("code_generation", "func add(a int, b int) int {\n\treturn a + b\n}"),
    ("code_generation", "function add(a, b) {\n  return a + b;\n}"),
    ("faq_qa", "Run this:\n```python\nprint('hi')\n```"),
]
SIGN_OFFS = {"en": "\n\nBest regards,\nAlice Chen", "zh-Hant": "\n\n敬祝 商祺\n王小明", "zh-Hans": "\n\n此致\n敬礼"}
KINDS = [
    "clean", "clean", "clean", "clean", "list", "table", "letter", "code", "json", "closed", "title", "translate",
    "ai_topic", "refusal", "refusal_appended", "truncated", "truncated_list", "truncated_table", "truncated_code",
    "truncated_json", "echo", "echo_twice", "echo_label", "merged_numbered", "merged_roles", "merged_next",
    "wrong_language", "wrong_script", "mojibake", "mojibake_cjk", "pii", "control", "leak", "empty", "duplicate",
    "edges",
]


def _garble(rng: random.Random, text: str) -> str:
    wrong, right = rng.choice([("utf-8", "gbk"), ("utf-8", "big5"), ("gbk", "big5"), ("utf-8", "cp1252")])
    try:
        return text.encode(wrong).decode(right, errors="ignore")
    except UnicodeEncodeError:
        return text.encode("utf-8").decode("gbk", errors="ignore")


def make_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for k in range(n):
        lang = rng.choice(list(SENTENCES))
        other = "en" if lang != "en" else rng.choice(["zh-Hant", "zh-Hans"])
        sents = SENTENCES[lang]
        ins = rng.choice(QUESTIONS[lang])
        out = "".join(rng.sample(sents, rng.randint(1, 3))) if lang != "en" else " ".join(rng.sample(sents, 2))
        ctx, task = "", "faq_qa"
        kind = rng.choice(KINDS)
        if kind == "list":
            out = "\n".join(f"{i}. {s}" for i, s in enumerate(rng.sample(sents, 3), 1))
        elif kind == "table":
            out = "| key | value |\n| --- | --- |\n| a | 1 |\n| b | 2 |"
        elif kind == "letter":
            task = "letter_writing"
            ins = "Write a short email to a colleague." if lang == "en" else "寫一封信給同事。"
            out = ("Hi team,\n\n" if lang == "en" else "各位好：\n\n") + out + SIGN_OFFS[lang]
        elif kind == "code":
            task, out = rng.choice(CODE)
        elif kind == "json":
            task, out = "json_extract", '{"items": ["cron", "sudo"]}'
        elif kind == "closed":
            ins, out = rng.choice(
                [("Which appears?\nA. cron\nB. at\nAnswer with the letter only.", "B"), ("計算 3 + 4，只寫答案。", "7")]
            )
        elif kind == "title":
            task, out = "title_generation", rng.choice(["Writing directly to the disk", "複利的計算方式"])
        elif kind == "translate":
            task, ins, out = "translation", "Translate into English.", SENTENCES["en"][k % 8]
        elif kind == "ai_topic":
            out = rng.choice([
                "Early chatbots began with “As an AI language model, I cannot…”, which users found repetitive.",
                "遇到不安全的请求时，助手会被训练成说明自己无法协助。",
            ])
        elif kind == "refusal":
            out = rng.choice(REFUSALS[lang]) + (out if rng.random() < 0.5 else "")
        elif kind == "refusal_appended":
            out += "\n\n" + rng.choice(REFUSALS[lang])
        elif kind == "truncated":
            out = out[: rng.randint(len(out) // 3, max(len(out) // 3 + 1, len(out) - 2))]
        elif kind == "truncated_list":
            out = "\n".join(f"{i}. {s}" for i, s in enumerate(sents[:3], 1))[: -rng.randint(3, 9)]
        elif kind == "truncated_table":
            out = "| key | value |\n| --- | --- |\n| a | 1 |\n| b"
        elif kind == "truncated_code":
            task, code = rng.choice(CODE[:4])
            out = code[: rng.randint(10, len(code) - 3)]
        elif kind == "truncated_json":
            task, out = "json_extract", '{"items": ["cron", "su'
        elif kind == "echo":
            out = ins
        elif kind == "echo_twice":
            out = ins + rng.choice(["\n\n", " "]) + ins
        elif kind == "echo_label":
            out = rng.choice(["Question: ", "問題：", "问题：", "Q: "]) + ins
        elif kind == "merged_numbered":
            out += "\n\n2. " + rng.choice(QUESTIONS[lang]) + "\n" + rng.choice(sents)
        elif kind == "merged_roles":
            out += rng.choice(
                ["\nQ: Why?\nA: Because.", "\n使用者：為什麼？\n助理：因為。", "\n用户：为什么？\n助手：因为。"]
            )
        elif kind == "merged_next":
            out += rng.choice(["\n\nNext question: why?\nAnswer: because.", "\n\n下一題：為什麼？\n答：因為。"])
        elif kind == "wrong_language":
            out = " ".join(SENTENCES[other][:2]) if other == "en" else "".join(SENTENCES[other][:2])
        elif kind == "wrong_script" and lang != "en":
            out = "".join(SENTENCES["zh-Hans" if lang == "zh-Hant" else "zh-Hant"][:2])
        elif kind == "mojibake":
            out = out[:-1] + " The cafÃ© opens at nine."
        elif kind == "mojibake_cjk":
            garbled = _garble(rng, "".join(SENTENCES[rng.choice(["zh-Hant", "zh-Hans"])][:3]))
            out = garbled if rng.random() < 0.6 else out + garbled
        elif kind == "pii":
            out += rng.choice([" Card 4111 1111 1111 1111.", " 身分證 A123456789。", " Mail a.b@mailbox.tw now."])
        elif kind == "control":
            out = out[:3] + "\x07" + out[3:]
        elif kind == "leak":
            ins += " {context}"
        elif kind == "empty":
            out = rng.choice(["x", " ", "\u200b\u200b", "\u3000"])
        elif kind == "duplicate" and rows:
            src = rng.choice(rows)
            ins, ctx, out, task = src["instruction"], src["input"], src["output"], src["task_type"]
        elif kind == "edges":
            out = rng.choice([" ", "\n", "\u3000", "\u200b", "\t"]) + out
            out += rng.choice([" ", "\n\n", "\u3000", "\u00a0"])
        if rng.random() < 0.1:
            ctx = rng.choice(sents)
        rows.append(instruction_row(ins, out, ctx, task, lang, f"https://example.org/{k}", generator="rule:spec-test"))
    return rows


def test_spec_and_gate_agree_row_by_row_and_reason_by_reason():
    rows = make_rows(3000, seed=11)
    _, quarantined, report = run_gate(pd.DataFrame(rows), GateConfig(), workers=1)
    gate = dict(zip(quarantined["source_ref"], quarantined[REASONS].map(list), strict=True))
    loop = spec.check_records(rows, GateConfig())
    differ = [
        (r["source_ref"], gate.get(r["source_ref"], []), reasons, r["output"][:80])
        for r, reasons in zip(rows, loop, strict=True)
        if gate.get(r["source_ref"], []) != reasons
    ]
    assert not differ, differ[:5]
    # The sample exercises every semantic check, and keeps most clean rows.
    failing = report["failures_by_check"]
    for label in (
        "output:refusal_boilerplate",
        "output:truncated_output",
        "output:merged_instructions",
        "output_echoes_instruction",
        "language_mismatch",
        "output:mojibake",
        "output:too_short",
    ):
        assert failing.get(label, 0) > 20, (label, failing)


def test_spec_follows_the_config():
    """A changed threshold changes spec and gate alike."""
    cfg = GateConfig(truncation_min_chars=300, refusal_opening_sentences=1, min_output_chars=1)
    rows = make_rows(600, seed=5)
    _, quarantined, _ = run_gate(pd.DataFrame(rows), cfg, workers=1)
    gate = dict(zip(quarantined["source_ref"], quarantined[REASONS].map(list), strict=True))
    assert [gate.get(r["source_ref"], []) for r in rows] == spec.check_records(rows, cfg)


def test_spec_scrubs_what_the_gate_scrubs_and_keeps_code_literals():
    """PII in prose is scrubbed by both; an IP or a phone-shaped number inside code is code's own literal to both."""
    code = 'def connect():\n    """Dial the office."""\n    host = "10.1.2.3"\n    return dial(host, "0912-345-678")\n'
    outputs = [
        ("Call 0912-345-678 or write to amy.chen@gmail.com for the forms.", "open_qa"),
        (code, "code_generation"),
        ("Set it up like this:\n\n```python\n" + code + "```\n\nor call 0912-345-678.", "doc_qa"),
        ("請撥 (02) 2345-6789 與我們聯絡。", "open_qa"),
    ]
    asks = ["How do I get the forms?", "Write the function that dials the office.", "How do I connect?", "怎麼聯絡？"]
    rows = [
        {**make_rows(1, seed=i)[0], "instruction": ask, "input": "", "output": out, "task_type": task,
         "source_ref": f"s{i}"}
        for i, (ask, (out, task)) in enumerate(zip(asks, outputs, strict=True))
    ]  # fmt: skip
    accepted, _, _ = run_gate(pd.DataFrame(rows), GateConfig(), workers=1)
    gate = dict(zip(accepted["source_ref"], accepted["output"], strict=True))
    for r in rows:
        assert gate.get(r["source_ref"]) == spec.scrub(r, GateConfig())["output"], r["output"][:40]
    assert '"10.1.2.3"' in gate["s1"] and '"0912-345-678"' in gate["s1"]
    assert "[PHONE]" in gate["s2"] and '"0912-345-678"' in gate["s2"]
