"""Quality-gate benchmark: validate.quality.run_gate (1 core, all cores) vs a plain Python loop.

    .venv/bin/python bench/gate_bench.py [--n 1000000]

The loop baseline applies the same checks with the SAME compiled patterns and thresholds: every
``*_pattern`` field of ``GateConfig()`` is compiled once (leak with re.MULTILINE as the gate does), the
``min_*`` / ``max_*`` fields are read generically, and the contract regexes come from validate.contracts.
Written against ``run_gate(df, cfg)`` / ``GateConfig()`` only, so it survives a rewrite of the gate.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validate.contracts import ISO_UTC, LANG_TAG, SHA256  # noqa: E402
from validate.quality import GateConfig, run_gate  # noqa: E402
from validate.text import content_hash, normalize_text  # noqa: E402

HAN = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 2500))
DEFECTS = ["", "leak", "refusal", "echo", "short", "badlang", "dup"]


def make(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(5000)]
    rows = []
    for k in range(n):
        zh = rng.random() < 0.5
        if zh:
            ins, out, lang = "".join(rng.choices(HAN, k=15)) + "？", "".join(rng.choices(HAN, k=80)) + "。", "zh-Hant"
        else:
            ins, out, lang = " ".join(rng.choices(vocab, k=10)) + "?", " ".join(rng.choices(vocab, k=50)) + ".", "en"
        d = rng.choices(DEFECTS, weights=[80, 4, 4, 3, 3, 3, 3])[0]
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
        elif d == "dup" and rows:
            ins, out = rows[-1]["instruction"], rows[-1]["output"]
        rows.append(
            {
                "id": f"{k:064x}",
                "instruction": ins,
                "input": "",
                "output": out,
                "task_type": "faq_qa",
                "language": lang,
                "generator": "rule:bench",
                "source_ref": f"https://example.org/{k}",
                "created_at": "2024-01-01T00:00:00Z",
            }
        )
    return pd.DataFrame(rows)


def loop_gate(df: pd.DataFrame, cfg: GateConfig) -> tuple[int, int]:
    vals = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    pats = {k: re.compile(v, re.MULTILINE if "leak" in k else 0) for k, v in vals.items() if k.endswith("_pattern")}
    sha, lang, iso, nonblank = re.compile(SHA256), re.compile(LANG_TAG), re.compile(ISO_UTC), re.compile(r"\S")
    seen: set[str] = set()
    accepted = quarantined = 0
    for r in df.to_dict("records"):
        bad = []
        if not sha.match(r["id"]):
            bad.append("id")
        for f in ("instruction", "output", "generator", "source_ref"):
            if not nonblank.search(r[f]):
                bad.append(f)
        if not lang.match(r["language"]) or not iso.match(r["created_at"]):
            bad.append("fmt")
        if len(r["instruction"]) > vals.get("max_instruction_chars", 1 << 60):
            bad.append("instruction_too_long")
        if len(r["output"].strip()) < vals.get("min_output_chars", 0):
            bad.append("output_too_short")
        if len(r["output"]) > vals.get("max_output_chars", 1 << 60):
            bad.append("output_too_long")
        joined = r["instruction"] + "\n" + r["input"] + "\n" + r["output"]
        for k, p in pats.items():
            target = joined if "leak" in k else r["output"]
            if p.search(target):
                bad.append(k)
        if normalize_text(r["output"]) == normalize_text(r["instruction"]):
            bad.append("echo")
        if not bad:
            key = content_hash(r["instruction"], r["input"], r["output"])
            if key in seen:
                bad.append("exact_duplicate")
            seen.add(key)
        if bad:
            quarantined += 1
        else:
            accepted += 1
    return accepted, quarantined


def _gate_chunk(df: pd.DataFrame) -> tuple[int, int]:
    a, q, _ = run_gate(df, GateConfig())
    return len(a), len(q)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()} | cpus {os.cpu_count()}")
    df = make(args.n, args.seed)
    cfg = GateConfig()
    t = time.perf_counter()
    a, q, rep = run_gate(df, cfg)
    one = time.perf_counter() - t
    print(f"run_gate 1 core: {one:.1f}s = {len(df) / one:,.0f} records/s; accepted {len(a):,} quarantined {len(q):,}")
    print(f"  failures: {rep.get('failures_by_check')}")
    workers = os.cpu_count() or 1
    chunks = [df.iloc[i : i + len(df) // workers + 1] for i in range(0, len(df), len(df) // workers + 1)]
    t = time.perf_counter()
    with ProcessPoolExecutor(workers) as ex:
        res = list(ex.map(_gate_chunk, chunks))
    many = time.perf_counter() - t
    print(
        f"run_gate {workers} processes: {many:.1f}s = {len(df) / many:,.0f} records/s "
        f"(exact dup across chunk borders not seen; accepted {sum(r[0] for r in res):,})"
    )
    t = time.perf_counter()
    la, lq = loop_gate(df, cfg)
    loop = time.perf_counter() - t
    print(f"plain loop: {loop:.1f}s = {len(df) / loop:,.0f} records/s; accepted {la:,} quarantined {lq:,}")
    print(f"ratio run_gate/loop: 1 core {loop / one:.2f}x, {workers} processes {loop / many:.2f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
