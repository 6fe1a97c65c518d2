"""Quality-gate benchmark: validate.quality.run_gate (1 core, all cores) vs a plain Python loop.

    .venv/bin/python bench/gate_bench.py [--n 1000000]

The loop baseline is the gate's specification, ``validate.spec.check_records``: every check run_gate applies,
record by record, written as one plain function per check with Python ``re`` and the thresholds of
``GateConfig()`` (PII scrubbing and checksum-validated rejection, the contract regexes, Han-weighted lengths and
approximate tokens, mojibake including CJK round trips, control characters, refusals in the opening sentences,
merged turns, truncation, template leaks, echo, language and script, Python and JSON parsing, exact duplicates
under the same normalised key). It returns each record's reasons, so the bench checks that loop and gate
quarantine the same records for the same reasons.

The generated records are bilingual: Chinese rows use the common characters of one script (real text is made of
them; random code points read as garbled text), and every check has defects to catch, including the phrasings
and layouts the semantic checks are for (refusals with words in between, appended refusals, echoes behind a
label, merged Q/A turns, short Chinese cuts, CJK-to-CJK mojibake, the wrong Chinese script) and legitimate rows
that look like them (one-letter answers to closed questions, letters with a sign-off, indented methods).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validate.gate import REASONS  # noqa: E402
from validate.hanzi import COMMON, SIMP_ONLY, TOP, TRAD_ONLY  # noqa: E402
from validate.quality import GateConfig, run_gate  # noqa: E402
from validate.spec import check_records  # noqa: E402
from validate.text import record_id  # noqa: E402

# Common characters of each script (shared ones in both), in a fixed order; the 1,000 most frequent four times
# as likely as the others, roughly as in running text.
HANT = "".join(sorted(TOP - SIMP_ONLY)) * 4 + "".join(sorted(COMMON - TOP - SIMP_ONLY))
HANS = "".join(sorted(TOP - TRAD_ONLY)) * 4 + "".join(sorted(COMMON - TOP - TRAD_ONLY))
# Weights in percent-ish: most records are clean, every check has defects to catch.
DEFECTS = {
    "": 700,
    "leak": 20,
    "refusal": 20,
    "echo": 15,
    "short": 15,
    "badlang": 15,
    "dup": 15,
    "dup_far": 15,
    "email": 20,
    "phone": 10,
    "card": 10,
    "card_typo": 10,
    "tw_id": 10,
    "mojibake": 15,
    "control": 10,
    "truncated": 20,
    "merged": 10,
    "refusal_between": 10,
    "refusal_appended": 10,
    "echo_twice": 10,
    "echo_label": 10,
    "truncated_zh": 10,
    "merged_roles": 10,
    "merged_numbered": 10,
    "mojibake_cjk": 10,
    "wrong_script": 10,
    "letter_ok": 10,
    "choice_ok": 10,
    "method_ok": 10,
    "code_ok": 15,
    "code_bad": 10,
    "json_ok": 10,
    "json_bad": 10,
    "langmix": 15,
    "long": 1,
}
_TW = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))


def _luhn_card(rng: random.Random) -> str:
    body = [4] + [rng.randrange(10) for _ in range(14)]
    total = sum(d if i % 2 else (2 * d - 9 if 2 * d > 9 else 2 * d) for i, d in enumerate(reversed(body)))
    digits = "".join(map(str, body)) + str(-total % 10)
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


def _tw_id(rng: random.Random) -> str:
    letter = rng.choice(list(_TW))
    digits = [rng.choice((1, 2))] + [rng.randrange(10) for _ in range(7)]
    n = _TW[letter]
    total = n // 10 + (n % 10) * 9 + sum(d * w for d, w in zip(digits, (8, 7, 6, 5, 4, 3, 2, 1), strict=True))
    return letter + "".join(map(str, digits)) + str(-total % 10)


def make(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(5000)]
    kinds, weights = list(DEFECTS), list(DEFECTS.values())
    rows = []
    for k in range(n):
        zh = rng.random() < 0.5
        han = HANT if k % 4 else HANS
        if zh:
            ins, out = "".join(rng.choices(han, k=15)) + "？", "".join(rng.choices(han, k=80)) + "。"
            lang = "zh-Hant" if han is HANT else "zh-Hans"
        else:
            ins, out, lang = " ".join(rng.choices(vocab, k=10)) + "?", " ".join(rng.choices(vocab, k=50)) + ".", "en"
        ctx = ""
        if rng.random() < 0.15:
            ctx = "".join(rng.choices(han, k=120)) + "。" if zh else " ".join(rng.choices(vocab, k=80)) + "."
        task = "faq_qa"
        d = rng.choices(kinds, weights)[0]
        if d == "leak":
            ins += " {context}"
        elif d == "refusal":
            out = ("作為一個AI，" if zh else "As an AI language model, ") + out
        elif d == "refusal_between":
            sorry = "I'm sorry, but I'm really not able to help with that. "
            out = ("很抱歉，由於資料不足，我沒辦法回答。" if zh else sorry) + out
        elif d == "refusal_appended":
            tail = "我只是一個語言模型，我無法完成這個請求。" if zh else "As a language model, I can't do that."
            out += "\n\n" + tail
        elif d == "echo":
            out = ins
        elif d == "echo_twice":
            out = ins + "\n\n" + ins
        elif d == "echo_label":
            out = ("問題：" if zh else "Question: ") + ins
        elif d == "short":
            out = "x"
        elif d == "choice_ok":
            options = f"\nA. {vocab[k % 5000]}\nB. {vocab[(k + 1) % 5000]}\nAnswer with the letter only."
            ins, out = ins + options, "B"
        elif d == "badlang":
            lang = "Chinese"
        elif d in ("dup", "dup_far") and rows:
            src = rows[-1] if d == "dup" else rows[rng.randrange(len(rows))]
            ins, ctx, out, task = src["instruction"], src["input"], src["output"], src["task_type"]
        elif d == "email":
            out = out[:-1] + f" Contact user{k}@mailbox.tw."  # example.com is a placeholder domain, never scrubbed
        elif d == "phone":
            out = out[:-1] + f" Call +886 912 {k % 1000:03d} {rng.randrange(1000):03d}."
        elif d == "card":
            out = out[:-1] + f" Card {_luhn_card(rng)} on file."
        elif d == "card_typo":  # fails Luhn: not a card number, must pass
            card = _luhn_card(rng)
            out = out[:-1] + f" Card {card[:-1]}{(int(card[-1]) + 1) % 10} on file."
        elif d == "tw_id":
            out = out[:-1] + f" ID {_tw_id(rng)}."
        elif d == "mojibake":
            out = out[:-1] + " The cafÃ© opens at nine."
        elif d == "mojibake_cjk":  # GBK bytes read as Big5 (a Simplified text; undecodable bytes dropped)
            out = "".join(rng.choices(HANS, k=60)).encode("gbk").decode("big5", errors="ignore")
        elif d == "control":
            out = out[:3] + "\x07" + out[3:]
        elif d == "truncated":
            cut = out[:-1] + " " + " ".join(rng.choices(vocab, k=30)) + " the"
            out = cut if not zh else "公式為 A = P（1 + r " + out
        elif d == "truncated_zh":
            out = "".join(rng.choices(han, k=rng.randint(12, 40)))
        elif d == "merged":
            out += "\n\n2. Instruction: " + " ".join(rng.choices(vocab, k=6)) + "?\nAnswer."
        elif d == "merged_roles":
            out += ("\n問：" + "".join(rng.choices(han, k=10)) + "？\n答：是。") if zh else "\nQ: Why?\nA: Because."
        elif d == "merged_numbered":
            out += "\n\n2. " + " ".join(rng.choices(vocab, k=6)) + "?\n" + " ".join(rng.choices(vocab, k=9)) + "."
        elif d == "wrong_script":
            ins, out, lang = "請說明" + "".join(rng.choices(HANT, k=12)) + "？", "这个" + out, "zh-Hant"
        elif d == "letter_ok":
            task = "letter_writing"
            out = ("您好：\n\n" + out + "\n\n敬祝 商祺\n王小明") if zh else f"Hi team,\n\n{out}\n\nBest regards,\nAlice"
        elif d == "method_ok":
            task, name = "method_with_context", rng.choice(vocab)
            out = f"        def {name}(self, a):\n            total = self.base + a\n            return total"
        elif d in ("code_ok", "code_bad"):
            task, name = "docstring_to_code", rng.choice(vocab)
            body = f"def {name}(a, b):\n    return a + b\n" if d == "code_ok" else f"def {name}(a, b:\n    return a +\n"
            out = body if rng.random() < 0.5 else f"Here:\n```python\n{body}```\nDone."
        elif d in ("json_ok", "json_bad"):
            task, word = "json_extract", rng.choice(vocab)
            out = f'{{"name": "{word}", "year": {k}}}' if d == "json_ok" else f'{{"name": "{word}", "year": {k},'
        elif d == "langmix":
            ins, lang = " ".join(rng.choices(vocab, k=10)) + "?", "en"
            out = "".join(rng.choices(han, k=80)) + "。"
        elif d == "long":
            out = "".join(rng.choices(han, k=6000)) + "。"
        rows.append(
            {
                "id": record_id(ins, ctx, out),
                "instruction": ins,
                "input": ctx,
                "output": out,
                "task_type": task,
                "language": lang,
                "generator": "rule:bench",
                "source_ref": f"https://example.org/{k}",
                "created_at": "2024-01-01T00:00:00Z",
            }
        )
    return pd.DataFrame(rows)


def agreement(df: pd.DataFrame, quarantined: pd.DataFrame, loop: list[list[str]]) -> tuple[int, int, list[str]]:
    """(rows both accept or both quarantine, rows with identical reasons, a few disagreements to look at)."""
    gate = dict(zip(quarantined["source_ref"], quarantined[REASONS].map(list), strict=True))
    same_fate = same_reasons = 0
    examples = []
    for ref, reasons in zip(df["source_ref"], loop, strict=True):
        g = gate.get(ref, [])
        same_fate += bool(g) == bool(reasons)
        same_reasons += g == reasons
        if g != reasons and len(examples) < 5:
            examples.append(f"{ref}: gate {g} loop {reasons}")
    return same_fate, same_reasons, examples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()} | cpus {os.cpu_count()}")
    df = make(args.n, args.seed)
    cfg = GateConfig()
    n = len(df)
    print(f"load average before the 1-core run: {os.getloadavg()[0]:.2f}")

    t = time.perf_counter()
    a1, q1, rep = run_gate(df, cfg, workers=1)
    one = time.perf_counter() - t
    print(f"run_gate 1 core: {one:.1f}s = {n / one:,.0f} records/s; accepted {len(a1):,} quarantined {len(q1):,}")
    print(f"  failures: {rep['failures_by_check']}")
    print(f"  pii scrubbed: {rep['pii_scrubbed']}")

    workers = os.cpu_count() or 1
    # The all-cores figure only means something when the cores are free: show what else was running.
    print(f"  load average before the all-cores run: {os.getloadavg()[0]:.2f}")
    t = time.perf_counter()
    am, qm, _ = run_gate(df, cfg, workers=workers)
    many = time.perf_counter() - t
    same = am.equals(a1) and qm.equals(q1)
    print(
        f"run_gate {workers} cores: {many:.1f}s = {n / many:,.0f} records/s; "
        f"accepted {len(am):,} quarantined {len(qm):,}; identical to 1 core: {same}"
    )

    t = time.perf_counter()
    records = df.to_dict("records")
    convert = time.perf_counter() - t
    t = time.perf_counter()
    loop = check_records(records, cfg)
    lt = time.perf_counter() - t
    la = sum(not r for r in loop)
    print(
        f"plain loop: {lt:.1f}s = {n / lt:,.0f} records/s (+{convert:.1f}s DataFrame -> dicts, not counted); "
        f"accepted {la:,} quarantined {n - la:,}"
    )
    counts = Counter(x for r in loop for x in r)
    if dict(sorted(counts.items())) != rep["failures_by_check"]:
        print(f"  loop failures: {dict(sorted(counts.items()))}")
    fate, reasons, examples = agreement(df, q1, loop)
    print(f"agreement loop vs run_gate: same fate {fate:,}/{n:,} ({fate / n:.4%}), same reasons {reasons:,}/{n:,}")
    for line in examples:
        print("  differs:", line)
    print(f"ratio run_gate/loop: 1 core {lt / one:.1f}x, {workers} cores {lt / many:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
