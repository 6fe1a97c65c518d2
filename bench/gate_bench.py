"""Quality-gate benchmark: validate.quality.run_gate (1 core, all cores) vs a plain Python loop.

    .venv/bin/python bench/gate_bench.py [--n 1000000]

The loop baseline applies every check run_gate applies, record by record, with the same patterns (compiled
once with Python ``re``) and the thresholds of ``GateConfig()``: PII scrubbing and checksum-validated
rejection, the contract regexes, Han-weighted lengths and approximate tokens, mojibake and control
characters, refusals, merged instructions, truncation, template leaks, echo, language and script, Python
and JSON parsing, and exact duplicates under the same normalised key. It returns each record's reasons, so
the bench can check that loop and gate quarantine the same records for the same reasons.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validate import quality as q  # noqa: E402
from validate.contracts import InstructionRecord  # noqa: E402
from validate.exactdup import DEDUP_SPACE  # noqa: E402
from validate.gate import REASONS  # noqa: E402
from validate.pii import KINDS, TEXT_FIELDS, record_id, scrub_text  # noqa: E402
from validate.quality import GateConfig, bigram_dice, code_ok, json_ok, run_gate  # noqa: E402

HAN = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 2500))
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
        if zh:
            ins, out, lang = "".join(rng.choices(HAN, k=15)) + "？", "".join(rng.choices(HAN, k=80)) + "。", "zh-Hant"
        else:
            ins, out, lang = " ".join(rng.choices(vocab, k=10)) + "?", " ".join(rng.choices(vocab, k=50)) + ".", "en"
        ctx = ""
        if rng.random() < 0.15:
            ctx = "".join(rng.choices(HAN, k=120)) + "。" if zh else " ".join(rng.choices(vocab, k=80)) + "."
        task = "faq_qa"
        d = rng.choices(kinds, weights)[0]
        if d == "leak":
            ins += " {context}"
        elif d == "refusal":
            out = ("作為一個AI，" if zh else "As an AI language model, ") + out
        elif d == "echo":
            out = ins
        elif d == "short":
            out = "x"
        elif d == "badlang":
            lang = "Chinese"
        elif d in ("dup", "dup_far") and rows:
            src = rows[-1] if d == "dup" else rows[rng.randrange(len(rows))]
            ins, ctx, out, task = src["instruction"], src["input"], src["output"], src["task_type"]
        elif d == "email":
            out = out[:-1] + f" Contact user{k}@example.com."
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
        elif d == "control":
            out = out[:3] + "\x07" + out[3:]
        elif d == "truncated":
            out = out[:-1] + " " + " ".join(rng.choices(vocab, k=30)) if not zh else "公式為 A = P（1 + r " + out
        elif d == "merged":
            out += "\n\n2. Instruction: " + " ".join(rng.choices(vocab, k=6)) + "?\nAnswer."
        elif d in ("code_ok", "code_bad"):
            task, name = "docstring_to_code", rng.choice(vocab)
            body = f"def {name}(a, b):\n    return a + b\n" if d == "code_ok" else f"def {name}(a, b:\n    return a +\n"
            out = body if rng.random() < 0.5 else f"Here:\n```python\n{body}```\nDone."
        elif d in ("json_ok", "json_bad"):
            task, word = "json_extract", rng.choice(vocab)
            out = f'{{"name": "{word}", "year": {k}}}' if d == "json_ok" else f'{{"name": "{word}", "year": {k},'
        elif d == "langmix":
            ins, lang = " ".join(rng.choices(vocab, k=10)) + "?", "en"
            out = "".join(rng.choices(HAN, k=80)) + "。"
        elif d == "long":
            out = "".join(rng.choices(HAN, k=6000)) + "。"
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


def loop_gate(records: list[dict], cfg: GateConfig) -> list[list[str]]:
    """Each record's quarantine reasons (empty: accepted), checked one record at a time."""
    rx = re.compile
    contract = []
    for name, col in InstructionRecord.to_schema().columns.items():
        for c in col.checks:
            if c.name in ("str_matches", "str_contains"):
                p = rx(c.statistics["pattern"])
                contract.append((name, p.match if c.name == "str_matches" else p.search, f"{name}:{c.error or c.name}"))
    han, latin, kana = rx(q.HAN), rx(q.LATIN), rx(q.KANA_HANGUL)
    hant, hans = rx(q.HANT_MARK), rx(q.HANS_MARK)
    mojibake, control = rx(q.MOJIBAKE), rx(q.CONTROL)
    refusal, merged, leak = rx(cfg.refusal_pattern), rx(cfg.merged_pattern), rx(cfg.leak_pattern)
    openers, closers, list_line, code_hint = rx(q.OPENERS), rx(q.CLOSERS), rx(q.LIST_LINE), rx(q.CODE_HINT)
    py_fence, json_fence, py_start, json_start = rx(q.PY_FENCE), rx(q.JSON_FENCE), rx(q.PY_START), rx(q.JSON_START)
    echo_drop, dedup_space = rx(q.ECHO_DROP_PY), rx(DEDUP_SPACE + "+")
    lang_skip, code_task, json_task = (
        rx(p) if p else None for p in (cfg.language_skip_task_types, cfg.code_task_types, cfg.json_task_types)
    )
    terminal = frozenset(q.TERMINAL)
    scrub = [(KINDS[k], rx(KINDS[k].candidate).search) for k, p in cfg.pii.items() if p == "scrub"]
    reject = [(KINDS[k], rx(KINDS[k].candidate).search, f"pii:{k}") for k, p in cfg.pii.items() if p == "reject"]
    bounds = [
        (
            f,
            getattr(cfg, f"min_{f}_chars", 0),
            getattr(cfg, f"max_{f}_chars", None),
            getattr(cfg, f"min_{f}_tokens", None),
            getattr(cfg, f"max_{f}_tokens", None),
        )
        for f in TEXT_FIELDS
    ]
    thr, min_letters = cfg.language_han_share, cfg.language_min_letters

    def script(t: str, n_han: int) -> tuple[bool, bool]:
        letters = n_han + len(latin.findall(t))
        share = n_han / max(letters, 1)
        if kana.search(t):
            return letters >= min_letters, False
        return letters >= min_letters and not thr / 2 <= share < thr, share >= thr

    def echo_norm(t: str) -> str:
        return echo_drop.sub("", unicodedata.normalize("NFKD", t).lower())

    def truncated(t: str) -> bool:
        if t.count(q.CODE_FENCE) % 2:
            return True
        if t.strip()[-1:] in terminal:
            return False
        if len(openers.findall(t)) > len(closers.findall(t)):
            return True
        return len(t) > cfg.truncation_min_chars and len(list_line.findall(t)) < 2 and not code_hint.search(t)

    seen: set[tuple[str, str, str]] = set()
    result = []
    for r in records:
        texts = [r["instruction"], r["input"], r["output"]]
        changed = False
        for kind, cand in scrub:
            for j, t in enumerate(texts):
                if cand(t):
                    new, hits = scrub_text(t, kind)
                    if hits and new != t:
                        texts[j], changed = new, True
        if changed:
            r = {**r, "instruction": texts[0], "input": texts[1], "output": texts[2], "id": record_id(*texts)}
        ins, ctx, out = texts
        bad = [label for name, test, label in contract if not test(r[name])]
        n_han = []
        for (f, lo, hi, lo_tok, hi_tok), t in zip(bounds, texts, strict=True):
            h = len(han.findall(t))
            n_han.append(h)
            if lo and len(t.strip()) + 2 * h < lo:
                bad.append(f"{f}:too_short")
            if hi is not None and len(t) + 2 * h > hi:
                bad.append(f"{f}:too_long")
            tokens = h + math.ceil((len(t) - h) / 4)
            if lo_tok and tokens < lo_tok:
                bad.append(f"{f}:too_few_tokens")
            if hi_tok is not None and tokens > hi_tok:
                bad.append(f"{f}:too_many_tokens")
            if mojibake.search(t):
                bad.append(f"{f}:mojibake")
            if control.search(t):
                bad.append(f"{f}:control_chars")
        if refusal.search(out):
            bad.append("output:refusal_boilerplate")
        if merged.search(out):
            bad.append("output:merged_instructions")
        if truncated(out):
            bad.append("output:truncated_output")
        if leak.search(ins) or leak.search(ctx) or leak.search(out):
            bad.append("template_leak")
        if out and 2 * len(out) <= 3 * len(ins) + 8:
            o, i = echo_norm(out), echo_norm(ins)
            lo, li = len(o), len(i)
            big = lo >= cfg.echo_min_chars
            if (
                o == i
                or (big and lo <= li and lo * 10 >= li * 6 and o in i)
                or (
                    big
                    and lo <= cfg.echo_overlap_max_chars
                    and lo * 4 >= li * 3
                    and li * 4 >= lo * 3
                    and bigram_dice(o, i) >= cfg.echo_overlap_ratio
                )
            ):
                bad.append("output_echoes_instruction")
        task = r["task_type"]
        if not ((lang_skip and lang_skip.search(task)) or q.CODE_FENCE in out or code_hint.search(out)):
            q_known, q_zh = script(ins, n_han[0])
            a_known, a_zh = script(out, n_han[2])
            x_known, x_zh = script(ctx, n_han[1]) if ctx else (False, False)
            if q_known and a_known:
                if q_zh != a_zh and not (x_known and x_zh == a_zh):
                    bad.append("language_mismatch")
                elif q_zh and a_zh:
                    qt, qs, at, as_ = hant.search(ins), hans.search(ins), hant.search(out), hans.search(out)
                    if (qt and not qs and as_ and not at) or (qs and not qt and at and not as_):
                        bad.append("language_mismatch")
        if py_fence.search(out):
            if not code_ok(out, True):
                bad.append("code_syntax_error")
        elif code_task and code_task.search(task) and py_start.search(out) and not code_ok(out, False):
            bad.append("code_syntax_error")
        if json_fence.search(out):
            if not json_ok(out, True):
                bad.append("json_invalid")
        elif json_task and json_task.search(task) and json_start.search(out) and not json_ok(out, False):
            bad.append("json_invalid")
        for kind, cand, label in reject:
            for t in texts:
                if cand(t) and any(kind.validator is None or kind.validator(m.group()) for m in kind.regex.finditer(t)):
                    bad.append(label)
                    break
        if not bad:
            key = tuple(dedup_space.sub(" ", unicodedata.normalize("NFKD", t).lower()).strip() for t in texts)
            if key in seen:
                bad.append("exact_duplicate")
            seen.add(key)
        result.append(sorted(set(bad)))
    return result


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
    loop = loop_gate(records, cfg)
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
